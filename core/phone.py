"""Phone numbers: parsing what an agent types, E.164 for Twilio, a readable form for people."""

from __future__ import annotations

import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from core.errors import InvalidSend

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "its country code does not exist",
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "it has the wrong number of digits for its country",
}


def parse_destination(typed: str, default_region: str = "US") -> str:
    """The E.164 form of a number an agent typed, or InvalidSend saying why it is not a number."""
    text = typed.strip()
    if not text:
        raise InvalidSend("destination", "Type the customer's phone number.")
    if any(c.isalpha() for c in text):
        raise InvalidSend("destination", f"{text!r} is not a phone number: use digits, with + and the country code.")
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        raise InvalidSend("destination", f"{text!r} is not a phone number: use digits, with + and the country code.") from None
    if not phonenumbers.is_valid_number(number):
        reason = _REASONS.get(phonenumbers.is_possible_number_with_reason(number), "no such number can exist")
        raise InvalidSend("destination", f"{display(text)} is not a valid phone number: {reason}.")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def number_from_paste(text: str) -> tuple[str, str]:
    """What a pasted number holds, as the To field takes it: digits (any script's, full-width included, made
    ASCII) and a leading +; separators, spaces of every kind and invisible marks (bidi, zero-width) dropped.
    Returns (the number, what was dropped that was not a separator: letters and other signs, for the agent to
    be told), e.g. "Tel: (415) 555-2030" → ("4155552030", "Tel:"). Letters after the digits end the number:
    "415 555 0100 ext 12" → ("4155550100", "ext 12")."""
    kept, dropped = [], []
    normalized = unicodedata.normalize("NFKC", text)
    for position, char in enumerate(normalized):
        if (digit := unicodedata.decimal(char, None)) is not None:
            kept.append(str(digit))
        elif char == "+" and not kept:
            kept.append(char)
        elif char.isspace() or char in _SEPARATORS or unicodedata.category(char) in ("Cf", "Cc", "Zs"):
            continue
        elif kept and char.isalpha():  # "ext 12", "x12", "call me": the number ended; what follows is not it
            dropped.append(normalized[position:].strip())
            break
        else:
            dropped.append(char)
    return "".join(kept), "".join(dropped)


_SEPARATORS = "-‐‑‒–—―−.()[]/"  # what CRMs and people put between digits


def display(e164: str) -> str:
    """+14155550100 → '+1 415-555-0100' (international format); unparsable text comes back as is."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL)
    except NumberParseException:
        return e164


def as_e164(text: str) -> str:
    """A number already known to be E.164 somewhere (a configured sender), however it is spaced; else `text`."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(text, None), PhoneNumberFormat.E164)
    except NumberParseException:
        return text
