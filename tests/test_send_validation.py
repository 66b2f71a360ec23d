"""prepare_send: everything checked before any Twilio call, each failure a field and a sentence for the agent."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidSend
from core.models import MAX_BODY, Channel, SendMode, SendRequest, prepare_send
from core.phone import number_from_paste
from core.settings import SendersSettings

SENDERS = SendersSettings(sms=["+15017122661", "+15017122662"], whatsapp=["+14155238886"])
TEMPLATE = "HX" + "0" * 31 + "1"


def prepare(**changes: Any) -> SendRequest:
    fields: dict[str, Any] = {"channel": "sms", "destination": "+1 415 555 0100", "sender": "+15017122661",
                              "mode": "open_chat", "senders": SENDERS, "body": "Hello"}
    return prepare_send(**{**fields, **changes})


def refusal(**changes: Any) -> tuple[str, str]:
    with pytest.raises(InvalidSend) as refused:
        prepare(**changes)
    return refused.value.field, str(refused.value)


# -- what comes out --------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "e164"), [
    ("+1 415 555 0100", "+14155550100"),
    ("(415) 555-0100", "+14155550100"),  # a national number: the US by default
    ("415.555.0100", "+14155550100"),
    ("  +14155550100  ", "+14155550100"),
    ("+44 20 7946 0958", "+442079460958"),
    ("+49 30 901820", "+4930901820"),
])
def test_destination_comes_out_in_e164(typed: str, e164: str) -> None:
    assert prepare(destination=typed).destination == e164


def test_a_valid_request_keeps_what_was_asked() -> None:
    request = prepare(mode="wait_me", body="Hi there", customer_name="Jane Doe")
    assert request == SendRequest(channel=Channel.SMS, destination="+14155550100", sender="+15017122661",
                                  mode=SendMode.WAIT_ME, body="Hi there", customer_name="Jane Doe",
                                  send_id=request.send_id)
    assert len(request.send_id) == 32 and prepare().send_id != request.send_id  # each send its own mark


def test_sms_addresses_carry_no_prefix() -> None:
    request = prepare()
    assert (request.address, request.proxy_address) == ("+14155550100", "+15017122661")


@pytest.mark.parametrize("sender", ["+14155238886", "whatsapp:+14155238886"])
def test_whatsapp_addresses_get_the_prefix_from_core(sender: str) -> None:
    request = prepare(channel="whatsapp", destination="+1 415 555 0100", sender=sender)
    assert (request.destination, request.sender) == ("+14155550100", "+14155238886")
    assert (request.address, request.proxy_address) == ("whatsapp:+14155550100", "whatsapp:+14155238886")


def test_a_configured_sender_written_with_spaces_is_that_sender() -> None:
    assert prepare(sender="+1 501-712-2662").sender == "+15017122662"
    assert prepare(channel="whatsapp", sender="whatsapp:+1 415 523 8886").proxy_address == "whatsapp:+14155238886"


def test_customer_label_is_the_formatted_number_without_a_name() -> None:
    assert prepare(destination="(415) 555-0100").customer_label == "+1 415-555-0100"
    assert prepare(destination="+44 20 7946 0958").customer_label == "+44 20 7946 0958"
    assert prepare(customer_name="Jane Doe").customer_label == "Jane Doe"


def test_template_send_needs_no_body_and_keeps_its_variables() -> None:
    request = prepare(body=None, content_sid=TEMPLATE, content_variables={"1": "Jane", "2": "Friday"})
    assert request.body is None and request.content_sid == TEMPLATE
    assert request.content_variables == {"1": "Jane", "2": "Friday"}
    assert prepare(body="   ", content_sid=TEMPLATE).body is None  # a blank draft next to a template is no body


def test_body_of_exactly_the_limit_is_accepted() -> None:
    assert prepare(body="x" * MAX_BODY).body == "x" * MAX_BODY
    assert MAX_BODY == 1600


# -- what is refused --------------------------------------------------------------------------------


def test_empty_destination() -> None:
    assert refusal(destination="   ") == ("destination", "Type the customer's phone number.")


@pytest.mark.parametrize("typed", ["call Jane", "415-555-CALL", "whatsapp:+14155550100", "+1 (415) 555-0100 x12"])
def test_destination_with_letters(typed: str) -> None:
    assert refusal(destination=typed) == (
        "destination", f"{typed!r} is not a phone number: use digits, with + and the country code.")


@pytest.mark.parametrize(("typed", "reason"), [
    ("+1 415 555 01", "it is too short"),
    ("+1 415 555 01234", "it is too long"),
    ("+44 20 7946 09", "no such number can exist"),
])
def test_destination_that_cannot_exist(typed: str, reason: str) -> None:
    field, sentence = refusal(destination=typed)
    assert field == "destination"
    assert sentence.endswith(f"is not a valid phone number: {reason}.")


def test_destination_with_an_unknown_country_code() -> None:
    assert refusal(destination="+999 1234567") == (
        "destination", "'+999 1234567' is not a phone number: use digits, with + and the country code.")


def test_sender_not_configured_for_sms() -> None:
    assert refusal(sender="+15017129999") == (
        "sender", "+1 501-712-9999 is not an SMS sender here (senders: +1 501-712-2661, +1 501-712-2662).")


def test_sms_sender_on_whatsapp_and_whatsapp_sender_on_sms() -> None:
    assert refusal(channel="whatsapp", sender="+15017122661") == (
        "sender", "+1 501-712-2661 is not a WhatsApp sender here (senders: +1 415-523-8886).")
    assert refusal(sender="+14155238886")[0] == "sender"


def test_no_sender_configured_for_the_channel() -> None:
    sms_only = SendersSettings(sms=["+15017122661"], whatsapp=[])
    assert refusal(channel="whatsapp", sender="+14155238886", senders=sms_only) == (
        "sender", "+1 415-523-8886 is not a WhatsApp sender here (senders: none configured).")


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t "])
def test_blank_body(body: str | None) -> None:
    assert refusal(body=body) == ("body", "Write a message before sending.")
    assert refusal(body=body, channel="whatsapp", sender="+14155238886") == (
        "body", "Write a message (or choose a template) before sending.")  # WhatsApp offers templates


def test_body_over_the_limit() -> None:
    assert refusal(body="é" * 1601) == ("body", "The message is 1601 characters; Twilio accepts at most 1600.")


def test_body_and_template_together() -> None:
    assert refusal(content_sid=TEMPLATE) == ("body", "Send either a message or a template, not both.")


@pytest.mark.parametrize("sid", ["HX123", "MG" + "0" * 32, "HX" + "g" * 32, "HX" + "0" * 33, " HX" + "0" * 32])
def test_malformed_template_sid(sid: str) -> None:
    assert refusal(body=None, content_sid=sid) == (
        "template", f"{sid!r} is not a content template SID (HX followed by 32 hex digits).")


def test_unknown_channel_or_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        prepare(channel="fax")
    with pytest.raises(ValueError):
        prepare(mode="later")


@pytest.mark.parametrize(("pasted", "number", "dropped"), [
    ("+1 415 555 2028", "+14155552028", ""),
    ("415-555-2029", "4155552029", ""),
    ("(415) 555-2030", "4155552030", ""),
    ("4155552031 ", "4155552031", ""),
    ("415\u00a0555\u202f2032", "4155552032", ""),  # no-break spaces
    ("\u200e+1 415 555 2033\u200f", "+14155552033", ""),  # bidi marks
    ("\u2066+1\u200b415.555.2034\u2069", "+14155552034", ""),  # isolates, a zero-width space, dots
    ("\uff0b\uff11 \uff14\uff11\uff15 \uff15\uff15\uff15 \uff12\uff10\uff13\uff15", "+14155552035", ""),  # full-width
    ("\u0664\u0661\u0665\u0665\u0665\u0665\u0662\u0660\u0663\u0666", "4155552036", ""),  # Arabic-Indic digits
    ("Tel: +1 (415) 555–2037", "+14155552037", "Tel:"),
    ("415-555-CALL", "415555", "CALL"),
    ("call me at 415.555.0100 ext 12", "4155550100", "callmeatext 12"),  # an extension is not part of it
    ("+1 415 555 0100 x12", "+14155550100", "x12"),
    ("1+2", "12", "+"),  # a + only leads
])
def test_a_pasted_number_keeps_its_digits_and_a_leading_plus(pasted: str, number: str, dropped: str) -> None:
    assert number_from_paste(pasted) == (number, dropped)
