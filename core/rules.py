"""Whether a draft may go, and why not, decided in one place: the panel, the workspace's reply box, the action bus
and scripts show these sentences. No Twilio call: what Twilio knows of the customer (their WhatsApp window, an
opt-out) and the template chosen are passed in when known.

    problem = check_send(settings, payload, customer=status, template=template, now=now)   # InvalidSend | None
    problem = check_reply(chat, body, customer, now, template, values)                     # for a chat
    problem.field   # what to change (core.errors.Field); in REFUSALS: what Twilio's state rules out
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from core.canned import spoken_list
from core.errors import Field, InvalidSend
from core.models import MAX_BODY, Channel, SendMode, body_problem, prepare_send
from core.phone import display, parse_destination
from core.templates import NOT_APPROVED, ContentTemplate

if TYPE_CHECKING:
    from core.actions import SendOutboundMessagePayload
    from core.chats import Chat
    from core.customer import CustomerStatus
    from core.settings import Settings

WINDOW_CLOSED = "The WhatsApp 24-hour window is closed: choose an approved template."
# refusals no rewording of the draft gets through: the customer's or the template's state at Twilio
REFUSALS: frozenset[Field] = frozenset({"opted_out", "window", "approval", "activity"})


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
    return template_problem(template, values, window_open) if whatsapp and template is not None else None


def check_payload(settings: Settings, payload: SendOutboundMessagePayload, **known: object) -> InvalidSend | None:
    """check_send for the SendOutboundMessage action's payload; `known`: customer, template, now."""
    return check_send(settings, channel=payload.channel, destination=payload.destination, sender=payload.caller_id,
                      mode=payload.mode, body=payload.body, content_sid=payload.content_template_sid,
                      content_variables=payload.content_variables, **known)  # type: ignore[arg-type]


def check_reply(chat: Chat, body: str, customer: CustomerStatus | None, now: datetime,
                template: ContentTemplate | None = None, values: Mapping[str, str] | None = None) -> InvalidSend | None:
    """Why this reply in a chat cannot go, or None: the same rules and sentences as a new message. `template`: a
    WhatsApp content template sent instead of `body`, with its `values`."""
    if customer is not None and customer.opted_out:
        return opted_out(chat.customer, customer.sender)
    window_open = None if customer is None else customer.window_open(now)
    if template is not None:
        return template_problem(template, values or {}, window_open)
    if chat.channel == "whatsapp" and window_open is False:
        return InvalidSend("window", WINDOW_CLOSED)
    return body_problem(body, Channel.WHATSAPP if chat.channel == "whatsapp" else Channel.SMS)


def template_problem(template: ContentTemplate, values: Mapping[str, str],
                     window_open: bool | None) -> InvalidSend | None:
    """Why this content template cannot go with these values, or None; `window_open` None: not known (yet).
    Every variable needs a value: one left out, Twilio fills with the template's sample ("order 0000")."""
    if not template.approved and not window_open:
        why = NOT_APPROVED.get(template.whatsapp_status, f"is not approved by WhatsApp ({template.whatsapp_status})")
        return InvalidSend("approval", f"{template.name} {why}: outside the 24-hour window only approved templates "
                                       "can be sent.")
    if unknown := [name for name in values if name not in template.placeholders]:
        known = spoken_list(["{{" + name + "}}" for name in template.placeholders]) or "none"
        return InvalidSend("template", f"{template.name} has no {spoken_list(['{{' + n + '}}' for n in unknown])}: "
                                       f"its variables are {known}.")
    if missing := template.missing(values):
        return InvalidSend("template", f"Fill in {spoken_list(['{{' + name + '}}' for name in missing])}.")
    if len(rendered := template.render(values)) > MAX_BODY:
        return InvalidSend("template", f"The message would be {len(rendered)} characters; Twilio accepts at most "
                                       f"{MAX_BODY}.")
    return None


def offline(activity: str) -> InvalidSend:
    """The agent is not available (Offline, Break…): the panel and scripts send nothing then."""
    return InvalidSend("activity", f"You are {activity}: become Available, then send.")


def opted_out(destination: str, sender: str | None, region: str = "US") -> InvalidSend:
    """The customer replied STOP to this sender (None: not known which, the chat's own number)."""
    try:
        customer = display(parse_destination(destination, region))
    except InvalidSend:
        customer = destination
    who = f"from {display(sender)}" if sender else "from this number"
    return InvalidSend("opted_out", f"{customer} opted out of messages {who} (they replied STOP): Twilio would not "
                                    "deliver it (error 21610).")
