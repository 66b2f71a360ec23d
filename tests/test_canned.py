"""Canned messages: `{placeholder}`s the panel fills in, and the ones left for the agent, which block a send."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.canned import PLACEHOLDER, fill, placeholder_values, spoken_list, unfilled
from core.errors import InvalidSend
from core.models import prepare_send
from core.rules import check_send
from core.session import open_session
from core.settings import SendersSettings
from sim.server import Simulator
from tests.outbound_fixtures import JANE, SMS_SENDER, WA_SENDER, project_settings, settings_for, twilio_requests

SENDERS = SendersSettings(sms=[SMS_SENDER], whatsapp=[WA_SENDER])
VALUES = {"agent_name": "Alice Johnson", "agent_first_name": "Alice", "customer_number": "+1 415-555-0100"}


@pytest.mark.parametrize(("text", "filled", "left"), [
    ("Hi, this is {agent_first_name}.", "Hi, this is Alice.", []),
    ("Hi {customer_name}, {agent_name} here.", "Hi {customer_name}, Alice Johnson here.", ["customer_name"]),
    ("{customer_name}? {customer_name}!", "{customer_name}? {customer_name}!", ["customer_name"]),
    ("Is {customer_number} yours, {customer_name}? {order_id}", "Is +1 415-555-0100 yours, {customer_name}? {order_id}",
     ["customer_name", "order_id"]),
    ("No placeholders at all.", "No placeholders at all.", []),
    ("Template text {{1}} and {{first_name}} is not ours.", "Template text {{1}} and {{first_name}} is not ours.", []),
    ("Braces {Agent_Name} {agent name} {} {1x} stay.", "Braces {Agent_Name} {agent name} {} {1x} stay.", []),
])
def test_fill_replaces_what_it_knows_and_unfilled_names_the_rest(text: str, filled: str, left: list[str]) -> None:
    assert fill(text, VALUES) == filled
    assert unfilled(fill(text, VALUES)) == left


def test_fill_leaves_a_placeholder_whose_value_is_blank() -> None:
    assert fill("Hi {customer_name} from {agent_name}", {"customer_name": "  ", "agent_name": ""}) == \
        "Hi {customer_name} from {agent_name}"


def test_a_filled_value_is_not_read_again_as_a_placeholder() -> None:
    assert fill("{agent_name}", {"agent_name": "{customer_name}", "customer_name": "Jane"}) == "{customer_name}"


def test_placeholder_values_know_the_agent_and_the_number_but_never_the_customers_name() -> None:
    assert placeholder_values("Alice Johnson", "+1 415-555-0100") == VALUES
    assert placeholder_values("  ", None) == {"agent_name": "", "agent_first_name": "", "customer_number": ""}
    assert "customer_name" not in placeholder_values("Alice Johnson", "+1 415-555-0100")


def test_every_canned_message_in_settings_uses_only_placeholders_the_panel_knows_or_the_customer_name(
    tmp_path: Path
) -> None:
    canned = project_settings(tmp_path).canned
    known = set(placeholder_values("Alice Johnson", None)) | {"customer_name"}
    for text in canned.sms + canned.whatsapp:
        assert set(PLACEHOLDER.findall(text)) <= known, text


@pytest.mark.parametrize(("items", "spoken"), [
    ([], ""), (["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c"),
])
def test_spoken_list(items: list[str], spoken: str) -> None:
    assert spoken_list(items) == spoken


# == a leftover placeholder blocks the send ==========================================================


@pytest.mark.parametrize(("body", "sentence"), [
    ("Hi {customer_name}, Alice here.", "Replace {customer_name} in the message before sending."),
    ("Hi {customer_name}, about {order_id} ({customer_name})",
     "Replace {customer_name} and {order_id} in the message before sending."),
])
def test_prepare_send_refuses_a_message_that_still_holds_a_placeholder(body: str, sentence: str) -> None:
    with pytest.raises(InvalidSend) as refused:
        prepare_send(channel="sms", destination=JANE.address, sender=SMS_SENDER, mode="wait_me", senders=SENDERS,
                     body=body)
    assert (refused.value.field, str(refused.value)) == ("body", sentence)


def test_prepare_send_takes_a_message_once_the_agent_replaced_the_placeholder() -> None:
    request = prepare_send(channel="sms", destination=JANE.address, sender=SMS_SENDER, mode="wait_me",
                           senders=SENDERS, body=fill("Hi {customer_name}, Alice here.", {"customer_name": "Jane"}))
    assert request.body == "Hi Jane, Alice here."


async def test_check_send_blocks_a_leftover_placeholder_without_calling_twilio(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    async with open_session(settings) as session:
        before = len(twilio_requests(sim))
        error = check_send(settings, channel="whatsapp", destination=JANE.address, sender=WA_SENDER,
                           mode="wait_me", body="Hi {customer_name}!")
        with pytest.raises(InvalidSend) as refused:
            await session.send({"destination": JANE.address, "callerId": SMS_SENDER, "body": "Hi {customer_name}!",
                                "routeToMe": True})
        assert len(twilio_requests(sim)) == before
    assert error is not None and (error.field, str(error)) == \
        ("body", "Replace {customer_name} in the message before sending.")
    assert str(refused.value) == str(error)
