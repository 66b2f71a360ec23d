"""One set of rules for every caller (issue 14): the same drafts are refused with the same sentences by core.rules,
by the SendOutboundMessage action (the bus: scripts and other tools), and by the panel — before any request that
would send. What Twilio knows of the customer (window, opt-out) comes from the look-up every caller makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, RadioSet, Select, TextArea

from core.errors import InvalidSend
from core.phone import parse_destination
from core.rules import check_payload
from core.actions import SendOutboundMessagePayload
from core.session import Session, open_session
from sim import seed
from sim.server import Simulator
from tests.outbound_fixtures import SMS_SENDER, settings_for
from tests.tui_fixtures import SimBackend, backend, settle, text_of, until  # noqa: F401 (fixture)

WHATSAPP_SENDER = seed.WHATSAPP_SENDERS[0]
JANE, OMAR, SAM = "+14155550100", "+14155550101", "+14155550103"  # window open / closed, replied STOP (SMS)
ORDER, PENDING = seed.TEMPLATES[1].sid, seed.TEMPLATES[3].sid

# (name, the draft as the action's payload, the sentence every caller says)
DRAFTS: list[tuple[str, dict[str, Any], str]] = [
    ("no number", {"destination": " ", "body": "Hi"}, "Type the customer's phone number."),
    ("letters", {"destination": "call me", "body": "Hi"},
     "'call me' is not a phone number: use digits, with + and the country code."),
    ("too short", {"destination": "+1415555", "body": "Hi"},
     "+1 415555 is not a valid phone number: it is too short."),
    ("no message", {"body": "  "}, "Write a message (or choose a template) before sending."),
    ("too long", {"body": "x" * 1601}, "The message is 1601 characters; Twilio accepts at most 1600."),
    ("placeholder", {"body": "Hi {customer_name}"}, "Replace {customer_name} in the message before sending."),
    ("opted out", {"destination": SAM, "body": "Hi"},
     "+1 415-555-0103 opted out of messages from +1 501-712-2661 (they replied STOP): Twilio would not deliver it "
     "(error 21610)."),
    ("window closed", {"destination": OMAR, "channel": "whatsapp", "callerId": WHATSAPP_SENDER, "body": "Hi"},
     "The WhatsApp 24-hour window is closed: choose an approved template."),
    ("not approved", {"destination": OMAR, "channel": "whatsapp", "callerId": WHATSAPP_SENDER,
                      "contentTemplateSid": PENDING, "contentVariables": {"1": "Omar"}},
     "seguimiento is pending WhatsApp approval: outside the 24-hour window only approved templates can be sent."),
    ("blank value", {"destination": JANE, "channel": "whatsapp", "callerId": WHATSAPP_SENDER,
                     "contentTemplateSid": ORDER, "contentVariables": {"first_name": "Jane", "order_id": " "}},
     "Fill in {{order_id}}."),
]
IDS = [name for name, _, _ in DRAFTS]


def payload(draft: dict[str, Any]) -> dict[str, Any]:
    return {"destination": JANE, "callerId": SMS_SENDER, "channel": "sms", "routeToMe": True, **draft}


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


@pytest.mark.parametrize(("name", "draft", "sentence"), DRAFTS, ids=IDS)
async def test_core_and_the_action_refuse_the_same_drafts_with_the_same_sentence_before_sending(
        sim: Simulator, tmp_path: Path, name: str, draft: dict[str, Any], sentence: str) -> None:
    draft = payload(draft)
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        facts = await known(session, draft)
        parsed = SendOutboundMessagePayload.model_validate(draft)
        assert str(check_payload(session.settings, parsed, **facts)) == sentence
        posts = len(sim.world.log.matching("POST"))
        with pytest.raises(InvalidSend) as refused:
            await session.send(draft)
        assert str(refused.value) == sentence
        assert len(sim.world.log.matching("POST")) == posts  # nothing was created, nothing sent


@pytest.mark.real_time
@pytest.mark.parametrize(("name", "draft", "sentence"), DRAFTS, ids=IDS)
async def test_the_panel_refuses_the_same_drafts_with_the_same_sentence(
        backend: SimBackend, name: str, draft: dict[str, Any], sentence: str) -> None:
    draft = payload(draft)
    app = backend.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if draft["channel"] == "whatsapp":
            app.query_one("#channel", RadioSet).query_one("#whatsapp").value = True
            await settle(pilot)
        app.query_one("#destination", Input).value = draft["destination"]
        await settle(pilot)
        if template := draft.get("contentTemplateSid"):
            await until(pilot, lambda: bool(app.query_one("#panel").templates))  # type: ignore[attr-defined]
            app.query_one("#template", Select).value = template
            await settle(pilot)
            for field in app.query(Input):
                if field.name in draft["contentVariables"]:
                    field.value = draft["contentVariables"][field.name]
        else:
            app.query_one("#body", TextArea).text = draft["body"]
        await settle(pilot)
        assert " ".join(text_of(app, "#problem").split()) == f"Send unavailable: {sentence}"
