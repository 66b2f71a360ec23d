"""WhatsApp content templates: the catalog read from Twilio (one request, cached, allow-listed), what a template
renders to — exactly what the simulator delivers for a real send — and why one cannot be sent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from core.errors import InvalidSend
from core.models import prepare_send
from core.session import open_session
from core.settings import SettingsError, load_settings
from core.rules import template_problem
from core.templates import ContentTemplate
from sim import seed
from sim.server import Simulator
from tests.outbound_fixtures import WA_SENDER, calls, json_param, messages_in, settings_for, twilio_requests

REMINDER, ORDER, FOLLOW_UP, SEGUIMIENTO, PROMO = seed.TEMPLATES  # approved ×3, pending, rejected
NEVER_REPLIES = "+15005550014"
CONTENT_LIST = "GET /v1/ContentAndApprovals"


def content_requests(sim: Simulator, since: int = 0) -> list[str]:
    return [call for call in calls(twilio_requests(sim, since)) if call.startswith("GET /v1/Content")]


# == the catalog ===================================================================================


async def test_templates_lists_the_seeded_templates_approved_first_in_one_request(
    sim: Simulator, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        since = len(sim.world.log)
        templates = await session.templates()
        sent = twilio_requests(sim, since)
    assert [(t.name, t.language, t.whatsapp_status, t.approved) for t in templates] == [
        ("appointment_reminder", "en", "approved", True),
        ("follow_up", "en", "approved", True),
        ("order_update", "en", "approved", True),
        ("promo_winter", "en", "rejected", False),
        ("seguimiento", "es", "pending", False),
    ]
    assert [t.sid for t in templates] == [REMINDER.sid, FOLLOW_UP.sid, ORDER.sid, PROMO.sid, SEGUIMIENTO.sid]
    assert calls(sent) == [CONTENT_LIST]
    assert sent[0].param("PageSize") == "1000"


async def test_a_template_carries_its_body_defaults_and_placeholders(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        order = next(t for t in await session.templates() if t.sid == ORDER.sid)
    assert order == ContentTemplate(sid=ORDER.sid, name="order_update", language="en", body=ORDER.body,
                                    defaults={"first_name": "there", "order_id": "0000"}, whatsapp_status="approved")
    assert order.placeholders == ["first_name", "order_id"]


@pytest.mark.parametrize("allow", [
    ["order_update", SEGUIMIENTO.sid],
    [SEGUIMIENTO.sid, "order_update", "no_such_template"],
])
async def test_the_allow_list_keeps_templates_by_name_or_sid(sim: Simulator, tmp_path: Path, allow: list[str]) -> None:
    settings = settings_for(sim, tmp_path, whatsapp={"template_filters": allow})
    async with open_session(settings) as session:
        assert [t.name for t in await session.templates()] == ["order_update", "seguimiento"]


async def test_templates_are_read_once_per_session_and_again_on_refresh(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        since = len(sim.world.log)
        first, second = await asyncio.gather(session.templates(), session.templates())
        assert content_requests(sim, since) == [CONTENT_LIST]  # callers at the same time share the request
        sim.world.content.templates[SEGUIMIENTO.sid].approval = "approved"
        assert await session.templates() == first == second
        assert content_requests(sim, since) == [CONTENT_LIST]
        refreshed = await session.templates(refresh=True)
        assert content_requests(sim, since) == [CONTENT_LIST, CONTENT_LIST]
    assert next(t for t in refreshed if t.sid == SEGUIMIENTO.sid).approved
    assert [t.name for t in refreshed][:4] == ["appointment_reminder", "follow_up", "order_update", "seguimiento"]


@pytest.mark.parametrize(("approval_requests", "status"), [
    ({"name": "x", "category": "UTILITY", "status": "Approved"}, "approved"),  # the spec examples' flat shape
    ({"whatsapp": {"type": "whatsapp", "status": "pending"}}, "pending"),  # the ApprovalRequests resource's shape
    ({}, "unsubmitted"),
    (None, "unsubmitted"),
    ("garbage", "unsubmitted"),
])
def test_whatsapp_approval_is_read_from_either_shape(approval_requests: Any, status: str) -> None:
    template = ContentTemplate.from_twilio(sid=ORDER.sid, friendly_name="t", language="en", variables=None,
                                           types={"twilio/text": {"body": "Hi"}}, approval_requests=approval_requests)
    assert (template.whatsapp_status, template.approved) == (status, status == "approved")


@pytest.mark.parametrize(("types", "body"), [
    ({"twilio/quick-reply": {"body": "Pick one", "actions": []}, "twilio/text": {"body": "Plain {{1}}"}},
     "Plain {{1}}"),
    ({"twilio/media": {"media": ["https://example.com/a.png"]}, "twilio/card": {"title": "T", "body": "Card"}},
     "Card"),
    ({"twilio/location": {"latitude": 1.0, "longitude": 2.0}}, ""),
    (None, ""),
])
def test_template_body_is_the_text_body_else_the_first_body(types: Any, body: str) -> None:
    template = ContentTemplate.from_twilio(sid=ORDER.sid, friendly_name=None, language=None, variables={"1": 7},
                                           types=types, approval_requests=None)
    assert (template.body, template.name, template.defaults) == (body, ORDER.sid, {"1": "7"})


# == the allow-list setting ========================================================================


def test_the_allow_list_is_empty_by_default_and_read_from_the_environment(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert load_settings(env, tmp_path).whatsapp.template_filters == []
    env["OUTBOUND_PANEL_WHATSAPP__TEMPLATE_FILTERS"] = f" order_update , {ORDER.sid}"
    assert load_settings(env, tmp_path).whatsapp.template_filters == ["order_update", ORDER.sid]


@pytest.mark.parametrize("given", ['["HX123"]', '["order_update", "  "]', f'["{ORDER.sid}0"]'])
def test_a_mistyped_sid_or_a_blank_name_in_the_allow_list_stops_start_up(tmp_path: Path, given: str) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "OUTBOUND_PANEL_WHATSAPP__TEMPLATE_FILTERS": given}
    with pytest.raises(SettingsError, match=r"OUTBOUND_PANEL_WHATSAPP__TEMPLATE_FILTERS\[\d\] in environment: .*"
                                            r"expected a content template name, or 'HX' followed by 32 hexadecimal"):
        load_settings(env, tmp_path)


# == rendering: exactly what the customer reads ======================================================


@pytest.mark.parametrize("values", [
    {"first_name": 'Jane "JJ" O\'Brien', "order_id": "A-17"},
    {"first_name": "C:\\Users\\jane \\n \\u0041", "order_id": "\\"},
    {"first_name": "line one\nline two", "order_id": "\ttabbed\r\n"},
    {"first_name": "Jane 🎉👩‍👩‍👧", "order_id": "№ 42 — ünïcødé"},
    {"first_name": "جميلة", "order_id": "٤٢"},
    {"first_name": "{{order_id}}", "order_id": "{{1}} {{ first_name }}"},
], ids=["quotes", "backslashes", "newlines", "emoji", "arabic", "placeholders-in-values"])
async def test_render_is_what_the_simulator_delivers_for_a_real_send(
    sim: Simulator, client: Client, tmp_path: Path, values: dict[str, str]
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        order = next(t for t in await session.templates() if t.sid == ORDER.sid)
        result = await session.send({"destination": NEVER_REPLIES, "callerId": WA_SENDER, "channel": "whatsapp",
                                     "contentTemplateSid": ORDER.sid, "contentVariables": values, "routeToMe": True})
    [message] = await messages_in(client, result.conversation_sid)
    assert message.body == order.render(values)
    [post] = [e for e in twilio_requests(sim) if e.method == "POST" and e.path.endswith("/Messages")]
    assert json_param(post, "ContentVariables") == values  # survived the form encoding as sent


async def test_a_template_without_variables_is_sent_without_content_variables(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        follow_up = next(t for t in await session.templates() if t.sid == FOLLOW_UP.sid)
        result = await session.send({"destination": NEVER_REPLIES, "callerId": WA_SENDER, "channel": "whatsapp",
                                     "contentTemplateSid": FOLLOW_UP.sid, "routeToMe": True})
    [message] = await messages_in(client, result.conversation_sid)
    assert message.body == follow_up.render({}) == FOLLOW_UP.body
    [post] = [e for e in twilio_requests(sim) if e.method == "POST" and e.path.endswith("/Messages")]
    assert post.param("ContentVariables") is None


async def test_a_blank_variable_is_refused_before_any_request(sim: Simulator, tmp_path: Path) -> None:
    # Twilio answers 21656 to an empty variable (it does not fall back to the default), so it never leaves
    async with open_session(settings_for(sim, tmp_path)) as session:
        since = len(sim.world.log)
        with pytest.raises(InvalidSend) as refused:
            await session.send({"destination": NEVER_REPLIES, "callerId": WA_SENDER, "channel": "whatsapp",
                                "contentTemplateSid": ORDER.sid, "routeToMe": True,
                                "contentVariables": {"first_name": "", "order_id": " "}})
        assert twilio_requests(sim, since) == []
    assert (refused.value.field, str(refused.value)) == ("template", "Fill in {{first_name}} and {{order_id}}.")


def test_render_reads_placeholders_with_spaces_and_repeats() -> None:
    template = ContentTemplate(sid=ORDER.sid, name="t", language="en", body="{{ 1 }}, {{1}}! Bye {{2}}.{{3}}",
                               defaults={"2": "for now"})
    assert template.placeholders == ["1", "2", "3"]
    assert template.render({"1": "Ana"}) == "Ana, Ana! Bye for now."
    assert template.render({"1": "Ana", "2": "Ana's $1 \\1 \\g<0>", "3": "x"}) == "Ana, Ana! Bye Ana's $1 \\1 \\g<0>.x"


# == why a template cannot be sent ===================================================================


ORDER_T = ContentTemplate(sid=ORDER.sid, name="order_update", language="en", body=ORDER.body,
                          defaults=dict(ORDER.variables), whatsapp_status="approved")
PENDING_T = ContentTemplate(sid=SEGUIMIENTO.sid, name="seguimiento", language="es", body=SEGUIMIENTO.body,
                            defaults=dict(SEGUIMIENTO.variables), whatsapp_status="pending")
REJECTED_T = PENDING_T.model_copy(update={"name": "promo_winter", "whatsapp_status": "rejected"})
ORDER_FILLED, ANA = {"first_name": "Jane", "order_id": "A-17"}, {"1": "Ana"}
OUTSIDE = "outside the 24-hour window only approved templates can be sent."


def test_missing_names_absent_and_blank_variables_in_order() -> None:
    assert ORDER_T.missing({}) == ["first_name", "order_id"]
    assert ORDER_T.missing({"order_id": "A-17", "first_name": " \n"}) == ["first_name"]
    assert ORDER_T.missing({"first_name": "Jane", "order_id": "A-17"}) == []


@pytest.mark.parametrize(("template", "values", "window_open", "problem"), [
    (ORDER_T, {}, False, "Fill in {{first_name}} and {{order_id}}."),
    (ORDER_T, {"first_name": "Jane", "order_id": ""}, None, "Fill in {{order_id}}."),
    (ORDER_T, ORDER_FILLED, False, None),
    (ORDER_T, {"first_name": "Jane"}, False, "Fill in {{order_id}}."),  # else Twilio sends its sample "0000"
    (ORDER_T, {**ORDER_FILLED, "frist_name": "J"}, False,
     "order_update has no {{frist_name}}: its variables are {{first_name}} and {{order_id}}."),
    (ORDER_T, {**ORDER_FILLED, "first_name": "J" * 1600}, True,
     "The message would be 1636 characters; Twilio accepts at most 1600."),
    (PENDING_T, ANA, False, f"seguimiento is pending WhatsApp approval: {OUTSIDE}"),
    (PENDING_T, ANA, None, f"seguimiento is pending WhatsApp approval: {OUTSIDE}"),
    (PENDING_T, ANA, True, None),  # inside the window any template goes out
    (PENDING_T, {}, True, "Fill in {{1}}."),
    (REJECTED_T, ANA, False, f"promo_winter was rejected by WhatsApp: {OUTSIDE}"),
])
def test_template_problem_says_what_to_do(template: ContentTemplate, values: dict[str, str],
                                          window_open: bool | None, problem: str | None) -> None:
    refused = template_problem(template, values, window_open)
    assert (str(refused) if refused else None) == problem
    if refused is not None:  # approval is Twilio's side (exit 3 from the command line), a variable the draft's
        assert refused.field == ("approval" if "WhatsApp" in problem else "template")


async def test_a_pending_template_outside_the_window_fails_in_the_simulator_as_template_problem_says(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        pending = next(t for t in await session.templates() if t.sid == SEGUIMIENTO.sid)
        status = await session.customer_status("whatsapp", NEVER_REPLIES, WA_SENDER)
        said = str(template_problem(pending, {"1": "Ana"}, status.window_open(status.checked_at)))
        draft = {"destination": NEVER_REPLIES, "callerId": WA_SENDER, "channel": "whatsapp",
                 "contentTemplateSid": SEGUIMIENTO.sid, "contentVariables": {"1": "Ana"}, "routeToMe": True}
        with pytest.raises(InvalidSend) as refused:  # the rules refuse it before any request (core.rules)...
            await session.send(draft)
        assert str(refused.value) == said
        # ...and Twilio would have failed it: sent past the rules, as an older client would
        result = await session.service.send(prepare_send(
            channel="whatsapp", destination=NEVER_REPLIES, sender=WA_SENDER, mode="wait_me",
            senders=session.settings.senders, content_sid=SEGUIMIENTO.sid, content_variables={"1": "Ana"}))
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)
    [receipt] = await client.conversations.v1.conversations(result.conversation_sid) \
        .messages(result.message_sid).delivery_receipts.list_async()
    assert (receipt.status, receipt.error_code) == ("failed", 63016)
