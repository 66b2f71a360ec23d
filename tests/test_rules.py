"""One set of rules for every caller (issue 14): the same drafts are refused with the same sentences by core.rules,
by the SendOutboundMessage action (the bus), by `outbound-panel send`, by the panel and by the workspace's reply box
— before any request that would send. What Twilio knows of the customer (window, opt-out) comes from the look-up
every caller makes."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RadioSet, Select, Static, TextArea

from core.actions import SendOutboundMessagePayload
from core.errors import InvalidSend
from core.phone import parse_destination
from core.rules import check_payload
from core.session import Session
from sim import seed
from sim.server import Simulator
from tests.outbound_fixtures import SMS_SENDER
from tests.test_tui_workspace import open_chat
from tests.tui_fixtures import SimBackend, backend, settle, sim_of, text_of, until  # noqa: F401 (fixture)
from tui import commands
from tui.cli import _parser

pytestmark = pytest.mark.real_time  # the panel and the reply box are Textual apps

WHATSAPP_SENDER = seed.WHATSAPP_SENDERS[0]
JANE, OMAR, SAM = "+14155550100", "+14155550101", "+14155550103"  # window open / closed, replied STOP (SMS)
ORDER, PENDING = seed.TEMPLATES[1].sid, seed.TEMPLATES[3].sid
OMAR_WA = {"destination": OMAR, "channel": "whatsapp", "callerId": WHATSAPP_SENDER}
CALLERS = ("core", "bus", "cli", "panel", "reply box")
NOT_IN_A_CHAT = {"reply box"}  # a chat's number and sender are its own: the draft cannot name others
# what a script's exit code says (README "Sending from scripts"): 2 the draft's form, 3 what Twilio's state rules out
EXIT = {"destination": 2, "sender": 2, "body": 2, "template": 2, "approval": 3, "opted_out": 3, "window": 3}

# (name, the draft as the action's payload, the field refused, the sentence every caller says, callers that cannot
# make this draft at all)
DRAFTS: list[tuple[str, dict[str, Any], str, str, set[str]]] = [
    ("no number", {"destination": " ", "body": "Hi"}, "destination", "Type the customer's phone number.",
     NOT_IN_A_CHAT),
    ("letters", {"destination": "call me", "body": "Hi"}, "destination",
     "'call me' is not a phone number: use digits, with + and the country code.", NOT_IN_A_CHAT),
    ("too short", {"destination": "+1415555", "body": "Hi"}, "destination",
     "+1 415555 is not a valid phone number: it is too short.", NOT_IN_A_CHAT),
    ("not our sender", {"callerId": "+15550000000", "body": "Hi"}, "sender",
     "+1 555-000-0000 is not an SMS sender here (senders: +1 501-712-2661, +1 501-712-2662).",
     NOT_IN_A_CHAT | {"panel"}),  # the panel offers the configured senders only
    ("no message", {"body": "  "}, "body", "Write a message before sending.", set()),
    ("too long", {"body": "x" * 1601}, "body", "The message is 1601 characters; Twilio accepts at most 1600.", set()),
    ("placeholder", {"body": "Hi {customer_name}"}, "body",
     "Replace {customer_name} in the message before sending.", set()),
    ("opted out", {"destination": SAM, "body": "Hi"}, "opted_out",
     "+1 415-555-0103 opted out of messages from +1 501-712-2661 (they replied STOP): Twilio would not deliver it "
     "(error 21610).", set()),
    ("window closed", {**OMAR_WA, "body": "Hi"}, "window",
     "The WhatsApp 24-hour window is closed: choose an approved template.", set()),
    ("not approved", {**OMAR_WA, "contentTemplateSid": PENDING, "contentVariables": {"1": "Omar"}}, "approval",
     "seguimiento is pending WhatsApp approval: outside the 24-hour window only approved templates can be sent.",
     {"reply box"}),  # it offers approved templates only (tests/test_tui_workspace.py)
    ("blank value", {**OMAR_WA, "contentTemplateSid": ORDER, "contentVariables": {"first_name": "Omar",
                                                                                  "order_id": " "}},
     "template", "Fill in {{order_id}}.", set()),
]
CASES = [pytest.param(caller, draft, field, sentence, id=f"{name}-{caller}")
         for name, draft, field, sentence, cannot in DRAFTS for caller in CALLERS if caller not in cannot]


def payload(draft: dict[str, Any]) -> dict[str, Any]:
    return {"destination": JANE, "callerId": SMS_SENDER, "channel": "sms", "routeToMe": True, **draft}


def posts(sim: Simulator) -> int:
    return len(sim.world.log.matching("POST"))


async def known(session: Session, draft: dict[str, Any]) -> dict[str, Any]:
    """What a caller looks up before sending: the customer with this sender (when the number is one), templates."""
    try:
        number = parse_destination(draft["destination"])
    except InvalidSend:
        return {}
    customer = await session.customer_status(draft["channel"], number, draft["callerId"])
    templates = {t.sid: t for t in await session.templates()}
    return {"customer": customer, "template": templates.get(draft.get("contentTemplateSid") or ""),
            "now": session.watcher.wall()}


async def by_core(session: Session, sim: Simulator, draft: dict[str, Any], field: str) -> str:
    parsed = SendOutboundMessagePayload.model_validate(draft)
    refused = check_payload(session.settings, parsed, **await known(session, draft))
    assert refused is not None and refused.field == field
    return str(refused)


async def by_bus(session: Session, sim: Simulator, draft: dict[str, Any], field: str) -> str:
    await known(session, draft)
    before = posts(sim)
    with pytest.raises(InvalidSend) as refused:
        await session.send(draft)
    assert refused.value.field == field
    assert posts(sim) == before  # nothing was created, nothing sent
    return str(refused.value)


async def by_cli(session: Session, sim: Simulator, draft: dict[str, Any], field: str) -> str:
    argv = ["send", "--to", draft["destination"], "--channel", draft["channel"], "--from", draft["callerId"]]
    if sid := draft.get("contentTemplateSid"):
        argv += ["--template", sid, *(f"--var={key}={value}" for key, value in draft["contentVariables"].items())]
    else:
        argv += ["--body", draft["body"]]
    before, requests = posts(sim), len(sim.world.log)
    out: list[str] = []
    err: list[str] = []
    assert await commands.run(_parser().parse_args(argv), session.settings, out.append, err.append) == EXIT[field]
    assert posts(sim) == before and out == []
    if EXIT[field] == 2:  # a bad argument: refused before connecting
        assert len(sim.world.log) == requests
    [line] = err
    return line.removeprefix("outbound-panel: ")


async def in_panel(pilot: Pilot, backend: SimBackend, draft: dict[str, Any]) -> str:
    app = pilot.app
    if draft["channel"] == "whatsapp":
        app.query_one("#channel", RadioSet).query_one("#whatsapp").value = True
        await settle(pilot)
    app.query_one("#destination", Input).value = draft["destination"]
    await settle(pilot)
    if template := draft.get("contentTemplateSid"):
        await until(pilot, lambda: bool(app.query_one("#panel").templates))  # type: ignore[attr-defined]
        app.query_one("#template", Select).value = template
        await settle(pilot)
        fill(pilot, draft["contentVariables"])
    else:
        app.query_one("#body", TextArea).text = draft["body"]
    await press_without_a_post(pilot, backend, "ctrl+r")
    return " ".join(text_of(app, "#problem").split()).removeprefix("Send unavailable: ")


async def in_reply_box(pilot: Pilot, backend: SimBackend, draft: dict[str, Any]) -> str:
    """A chat with the draft's customer on its channel and sender, then the draft as the reply."""
    chat = {key: draft[key] for key in ("destination", "channel", "callerId")}
    opening = {**chat, "contentTemplateSid": seed.TEMPLATES[0].sid, "contentVariables": {"1": "Omar", "2": "Monday"}} \
        if draft["channel"] == "whatsapp" else {**chat, "body": "Hello"}
    # sent past the panel, without looking the customer up first: Sam's opt-out fails the message, not the chat
    await open_chat(pilot, opening, "You:")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.customer is not None)  # type: ignore[attr-defined]
    if template := draft.get("contentTemplateSid"):
        await until(pilot, lambda: screen.query_one("#reply-template-row").display)
        screen.query_one("#reply-template", Select).value = template
        await settle(pilot)
        fill(pilot, draft["contentVariables"])
    elif screen.query_one("#body-box").display:  # a closed WhatsApp window shows templates instead
        screen.query_one("#body", TextArea).text = draft["body"]
    await press_without_a_post(pilot, backend, "ctrl+s")
    return str(screen.query_one("#chat-status", Static).render())


async def press_without_a_post(pilot: Pilot, backend: SimBackend, key: str) -> None:
    """The draft settled, `key` (send) pressed: refused, nothing posted to Twilio."""
    await settle(pilot)
    before = posts(sim_of(backend))
    await pilot.press(key)
    await settle(pilot)
    assert posts(sim_of(backend)) == before


def fill(pilot: Pilot, values: dict[str, str]) -> None:
    for field in pilot.app.screen.query(Input):
        if field.name in values:
            field.value = values[field.name]


@pytest.mark.parametrize(("caller", "draft", "field", "sentence"), CASES)
async def test_every_caller_refuses_the_same_drafts_with_the_same_sentence_before_sending(
        backend: SimBackend, caller: str, draft: dict[str, Any], field: str, sentence: str) -> None:
    draft = payload(draft)
    if caller in ("panel", "reply box"):
        app = backend.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            said = await (in_panel if caller == "panel" else in_reply_box)(pilot, backend, draft)
    else:
        async with backend.connect() as (session, _):
            said = await {"core": by_core, "bus": by_bus, "cli": by_cli}[caller](session, sim_of(backend), draft,
                                                                                field)
    assert said == sentence
