"""Click-to-message links: what a CRM's "text this customer" link asks the panel to open with.

    message_link("sms:+14155550100?body=Hi%20there")   # Prefill(Channel.SMS, "+14155550100", "Hi there")

Accepted: RFC 5724 `sms:NUMBER?body=TEXT` (and Android's `smsto:`), the same form as `whatsapp:NUMBER?body=TEXT`,
WhatsApp's own `whatsapp://send?phone=NUMBER&text=TEXT`, and its click-to-chat `https://wa.me/NUMBER?text=TEXT`
(`api.whatsapp.com/send?phone=…`). WhatsApp writes numbers as digits with the country code and no +. The number is
left for the panel to judge (it says what is wrong with it, editable); a link that is not one of these, or names
several customers, is a LinkError: one sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from core.models import Channel
from core.phone import number_from_paste

_WHATSAPP_HOSTS = {"wa.me", "api.whatsapp.com", "www.whatsapp.com", "whatsapp.com"}
# control characters (tab and new lines stay; a CR ends up as a new line) and the bidi overrides and isolates that
# would reorder what the agent reads (Trojan Source); other format characters, e.g. the emoji joiner, stay
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
FORMS = "sms:NUMBER?body=TEXT, whatsapp:NUMBER?body=TEXT or https://wa.me/NUMBER?text=TEXT"


class LinkError(ValueError):
    """The link cannot open the panel; str() says why, naming the link."""


@dataclass(frozen=True)
class Prefill:
    """The draft a link opens the panel with; an empty field is left for the agent."""

    channel: Channel | None = None  # None: the panel's first
    destination: str = ""
    body: str = ""


def message_link(link: str) -> Prefill:
    scheme, colon, rest = link.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sms", "smsto", "whatsapp", "https", "http"):
        raise LinkError(f"{link!r} is not a message link: use {FORMS}")
    if scheme in ("https", "http"):
        return _click_to_chat(link)
    channel = Channel.SMS if scheme.startswith("sms") else Channel.WHATSAPP
    if scheme == "whatsapp" and rest.startswith("//"):  # whatsapp://send?phone=…&text=…
        where, _, query = rest[2:].partition("?")
        if where.rstrip("/").lower() != "send":
            raise LinkError(f"{link!r}: WhatsApp links open a chat as whatsapp://send?phone=NUMBER&text=TEXT")
        params = _params(link, query)
        return Prefill(channel, _number(link, params.get("phone", ""), whatsapp=True), params.get("text", ""))
    recipients, _, query = rest.removeprefix("//").partition("?")
    params = _params(link, query)
    body = params.get("body", params.get("text", ""))
    if scheme == "smsto" and ":" in recipients:  # Android: smsto:NUMBER:TEXT
        recipients, inline = recipients.split(":", 1)
        body = body or _decoded(link, inline)
    return Prefill(channel, _number(link, recipients), body)


def _click_to_chat(link: str) -> Prefill:
    parts = urlsplit(link.strip())
    if (parts.hostname or "").lower() not in _WHATSAPP_HOSTS:
        raise LinkError(f"{link!r} is not a message link: use {FORMS}")
    params = _params(link, parts.query)
    path = parts.path.strip("/")
    number = params.get("phone", "") if path.lower() == "send" else path
    return Prefill(Channel.WHATSAPP, _number(link, number, whatsapp=True), params.get("text", ""))


def _params(link: str, query: str) -> dict[str, str]:
    """The query's fields (names case-insensitive, RFC 5724 `body` and WhatsApp's `text`), decoded."""
    params: dict[str, str] = {}
    for field in filter(None, query.split("&")):
        name, _, value = field.partition("=")
        name = _decoded(link, name).lower()
        if name in params:
            raise LinkError(f"{link!r} gives {name} twice: which one is meant?")
        params[name] = _decoded(link, value)
    return params


def _decoded(link: str, text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise LinkError(f"{link!r} is not percent-encoded UTF-8 (as in %20 for a space)")
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise LinkError(f"{link!r} is not percent-encoded UTF-8 (as in %20 for a space)") from None
    return _CONTROL.sub("", decoded.replace("\r\n", "\n").replace("\r", "\n"))


def _number(link: str, recipients: str, whatsapp: bool = False) -> str:
    """The one number a link names, as the To field takes it (digits and a leading +), or what it holds when that
    is not a number (the panel says why); WhatsApp's bare digits carry the country code."""
    numbers = []
    for recipient in re.split(r"[,;]", _decoded(link, recipients)):  # RFC 5724 commas; some phones write ;
        if "=" not in recipient and recipient.strip():  # not one of RFC 3966's ;name=value parameters
            numbers.append(recipient.strip())
    if len(numbers) > 1:
        raise LinkError(f"{link!r} names {len(numbers)} numbers: the panel sends to one customer at a time")
    if not numbers:
        return ""
    number, dropped = number_from_paste(numbers[0])
    if dropped or not number:
        return numbers[0]
    return f"+{number}" if whatsapp and not number.startswith("+") else number
