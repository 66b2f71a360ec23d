"""Whether a draft may go, and why not, decided in one place: the panel, the workspace's reply box, the action bus
and scripts show these sentences. No Twilio call: what Twilio knows of the customer (their WhatsApp window, an
opt-out) and the template chosen are passed in when known.

    problem = check_send(settings, payload, customer=status, template=template, now=now)   # InvalidSend | None
    problem = check_reply(chat, body, customer, now, template, values)                     # for a chat
    problem.field   # destination, sender, body, template, opted_out or window: what to change
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from core.errors import InvalidSend
from core.models import MAX_BODY, Channel, SendMode, prepare_send
from core.phone import display, parse_destination
from core.templates import WINDOW_CLOSED, ContentTemplate, template_problem

if TYPE_CHECKING:
    from core.actions import SendOutboundMessagePayload
    from core.chats import Chat
    from core.customer import CustomerStatus
    from core.settings import Settings



def check_send(settings: Settings, *, channel: Channel | str, destination: str, sender: str, mode: SendMode | str,
               body: str | None = None, content_sid: str | None = None,
               content_variables: Mapping[str, str] | None = None, customer: CustomerStatus | None = None,
               template: ContentTemplate | None = None, now: datetime | None = None) -> InvalidSend | None:
    """Why this draft cannot be sent, or None. `customer`: the customer's status with this sender, when known;
    `template`: the content template `content_sid` names, when known; `now`: for the WhatsApp window."""
    whatsapp = Channel(channel) is Channel.WHATSAPP
    values = dict(content_variables or {})
    window_open = customer.window_open(now) if customer is not None and now is not None else None
    # what the customer's history rules out comes first: no rewording of the draft would get it through
    if customer is not None and customer.opted_out:
        return opted_out(destination, sender, settings.ui.phone_region)
    if whatsapp and content_sid is None and window_open is False:
        return InvalidSend("window", WINDOW_CLOSED)
    try:
        prepare_send(channel=channel, destination=destination, sender=sender, mode=mode, senders=settings.senders,
                     body=body, content_sid=content_sid, content_variables=values, region=settings.ui.phone_region)
    except InvalidSend as error:
        return error
    # a variable left out is sent by Twilio with the template's default; one sent blank is refused (prepare_send)
    filled = {**template.defaults, **values} if template is not None else values
    if whatsapp and (problem := template_problem(template, filled, window_open)):
        return InvalidSend("template", problem)
    return None


def check_payload(settings: Settings, payload: SendOutboundMessagePayload, **known: object) -> InvalidSend | None:
    """check_send for the SendOutboundMessage action's payload; `known`: customer, template, now."""
    return check_send(settings, channel=payload.channel, destination=payload.destination, sender=payload.caller_id,
                      mode=payload.mode, body=payload.body, content_sid=payload.content_template_sid,
                      content_variables=payload.content_variables, **known)  # type: ignore[arg-type]


def check_reply(chat: Chat, body: str, customer: CustomerStatus | None, now: datetime,
                template: ContentTemplate | None = None, values: Mapping[str, str] | None = None) -> InvalidSend | None:
    """Why this reply in a chat cannot go, or None: the same rules, for a conversation that exists. `template`: a
    WhatsApp content template sent instead of `body`, with its `values`."""
    if customer is not None and customer.opted_out:
        return opted_out(chat.customer, None)
    window_open = None if customer is None else customer.window_open(now)
    if template is not None:
        problem = template_problem(template, values or {}, window_open)
        return InvalidSend("template", problem) if problem else None
    if chat.channel == "whatsapp" and window_open is False:
        return InvalidSend("window", WINDOW_CLOSED)
    if not body.strip():
        return InvalidSend("body", "Type a reply first.")
    if len(body) > MAX_BODY:
        return InvalidSend("body", f"The reply is {len(body)} characters; Twilio accepts at most {MAX_BODY}.")
    return None


def opted_out(destination: str, sender: str | None, region: str = "US") -> InvalidSend:
    """The customer replied STOP to this sender (None: the chat's own number)."""
    try:
        customer = display(parse_destination(destination, region))
    except InvalidSend:
        customer = destination
    who = f"from {display(sender)}" if sender else "from this number"
    return InvalidSend("opted_out", f"{customer} opted out of messages {who} (they replied STOP): Twilio would not "
                                    "deliver it (error 21610).")
