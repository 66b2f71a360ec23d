"""Click-to-message links (issue 14): RFC 5724 `sms:`, the `whatsapp:` forms and wa.me open the panel with their
draft; a link that cannot be used is one sentence naming it."""

from __future__ import annotations

import pytest

from core.links import LinkError, Prefill, message_link
from core.models import Channel

SMS, WA = Channel.SMS, Channel.WHATSAPP


@pytest.mark.parametrize(("link", "draft"), [
    ("sms:+14155550100?body=Hi%20there", Prefill(SMS, "+14155550100", "Hi there")),
    ("SMS:+1-415-555-0100", Prefill(SMS, "+14155550100", "")),  # scheme in any case, separators dropped
    ("sms:%2B1%20(415)%20555-0100?body=a+b", Prefill(SMS, "+14155550100", "a+b")),  # RFC 5724: + is a plus
    ("sms://+14155550100?BODY=Hi", Prefill(SMS, "+14155550100", "Hi")),  # iOS' slashes, field names any case
    ("sms:+14155550100;phone-context=example.com?body=Hi", Prefill(SMS, "+14155550100", "Hi")),  # RFC 3966 params
    ("sms:?body=Hello", Prefill(SMS, "", "Hello")),  # no number: the agent types it
    ("sms:4155550100", Prefill(SMS, "4155550100", "")),  # national: read in [ui] phone_region by the panel
    ("smsto:+14155550100:Hi%20there", Prefill(SMS, "+14155550100", "Hi there")),  # Android
    ("sms:+14155550100?body=Line%201%0D%0ALine%202%1B%5B1m", Prefill(SMS, "+14155550100", "Line 1\nLine 2[1m")),
    ("sms:call-me?body=Hi", Prefill(SMS, "call-me", "Hi")),  # not a number: left for the panel to say so
    ("whatsapp:+14155550100?body=Ol%C3%A1", Prefill(WA, "+14155550100", "Olá")),
    ("whatsapp://send?phone=14155550100&text=Hi", Prefill(WA, "+14155550100", "Hi")),  # WhatsApp's own scheme
    ("https://wa.me/14155550100?text=I%27m%20interested", Prefill(WA, "+14155550100", "I'm interested")),
    ("https://api.whatsapp.com/send?phone=14155550100", Prefill(WA, "+14155550100", "")),
    ("  sms:+14155550100  ", Prefill(SMS, "+14155550100", "")),  # pasted with spaces around
    ("sms:+14155550100?body=%E2%80%AEevil%E2%80%AC%F0%9F%91%A9%E2%80%8D%F0%9F%91%A9",
     Prefill(SMS, "+14155550100", "evil👩\u200d👩")),  # bidi overrides dropped; the emoji joiner kept
])
def test_a_link_opens_the_panel_with_its_draft(link: str, draft: Prefill) -> None:
    assert message_link(link) == draft


@pytest.mark.parametrize(("link", "said"), [
    ("tel:+14155550100", "'tel:+14155550100' is not a message link: use sms:NUMBER?body=TEXT, "
                         "whatsapp:NUMBER?body=TEXT or https://wa.me/NUMBER?text=TEXT"),
    ("https://example.com/14155550100", "'https://example.com/14155550100' is not a message link: use "
                                        "sms:NUMBER?body=TEXT, whatsapp:NUMBER?body=TEXT or "
                                        "https://wa.me/NUMBER?text=TEXT"),
    ("sms:+14155550100,+14155550101?body=Hi", "'sms:+14155550100,+14155550101?body=Hi' names 2 numbers: the panel "
                                              "sends to one customer at a time"),
    ("sms:+14155550100?body=%E9t%E9", "'sms:+14155550100?body=%E9t%E9' is not percent-encoded UTF-8 (as in %20 "
                                      "for a space)"),
    ("sms:+14155550100?body=a&body=b", "'sms:+14155550100?body=a&body=b' gives body twice: which one is meant?"),
    ("whatsapp://call?phone=1", "'whatsapp://call?phone=1': WhatsApp links open a chat as "
                                "whatsapp://send?phone=NUMBER&text=TEXT"),
    ("sms:+14155550100?body=%ZZ", "'sms:+14155550100?body=%ZZ' is not percent-encoded UTF-8 (as in %20 for a space)"),
    ("sms:+14155550100;+14155550101?body=x", "'sms:+14155550100;+14155550101?body=x' names 2 numbers: the panel "
                                             "sends to one customer at a time"),
])
def test_a_link_that_cannot_be_used_says_why_naming_it(link: str, said: str) -> None:
    with pytest.raises(LinkError) as refused:
        message_link(link)
    assert str(refused.value) == said
