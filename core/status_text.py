"""Status in plain words: Twilio's delivery error codes as a sentence, and each status event as a timeline line."""

from __future__ import annotations

from core.events import ConversationEvent, CustomerReplied, MessageStatusChanged, StatusEvent, TaskStatusChanged
from core.models import MAX_BODY

_SENTENCES: dict[int, str] = {
    63016: ("The customer has not written to this WhatsApp number in the last 24 hours, so WhatsApp only "
            "accepts an approved template: send one instead of free text (error 63016)."),
    21610: "The customer opted out of messages from this number (they replied STOP), so Twilio did not send it "
           "(error 21610).",
    30003: "The customer's phone could not be reached: it may be switched off or out of coverage (error 30003).",
    30005: "The number is unknown to the carrier: it may not exist any more (error 30005).",
    30006: "The number is a landline or its carrier cannot receive messages (error 30006).",
    63024: "This number is not on WhatsApp: send an SMS instead (error 63024).",
    21211: "The number is not a valid phone number (error 21211).",
    21614: "The number is not a mobile number, so it cannot receive messages (error 21614).",
    21612: "Twilio cannot route a message from this sender to this number (error 21612).",
    21408: "This account is not allowed to send messages to that country or region (error 21408).",
}


def delivery_sentence(code: int | None, status: str = "failed") -> str:
    """The sentence for a failed/undelivered message; a generic one naming the code when it is not known."""
    if code is not None and code in _SENTENCES:
        return _SENTENCES[code]
    verb = "could not be delivered" if status == "undelivered" else "was not sent"
    if code is None:
        return f"The message {verb}; Twilio gave no reason."
    return f"The message {verb} (Twilio error {code}: see twilio.com/docs/api/errors/{code})."


def event_line(event: StatusEvent, agent_sid: str) -> str:
    """One timeline line for an event; a customer's reply is quoted verbatim but clipped (the viewer renders
    it literally; the whole reply stays in the event)."""
    match event:
        case ConversationEvent(kind="created"):
            return "Conversation created"
        case ConversationEvent(kind="reused"):
            return "Existing conversation reused"
        case ConversationEvent():
            return "Conversation closed"
        case MessageStatusChanged(status="failed" | "undelivered" as status):
            return f"{status.capitalize()}: {event.sentence or delivery_sentence(event.error_code, status)}"
        case MessageStatusChanged(status="queued"):
            return "Message queued"
        case MessageStatusChanged(status="sent"):
            return "Message sent"
        case MessageStatusChanged(status="delivered"):
            return "Delivered to the customer's phone"
        case MessageStatusChanged():
            return "Read by the customer"
        case CustomerReplied():
            return f"Customer replied: {clip(event.body)}"
    assert isinstance(event, TaskStatusChanged)
    who = "you" if event.worker_sid == agent_sid else (event.worker_name or "an agent")
    return {
        "pending": "Task waiting for an agent",
        "reserved": f"Task offered to {who}",
        "assigned": f"Task accepted by {who}",
        "wrapping": "Task wrapping up",
        "completed": "Task completed",
        "canceled": "Task canceled",
    }[event.status]


def clip(text: str, max_chars: int = MAX_BODY, max_lines: int = 60) -> str:
    """At most `max_lines` lines and `max_chars` characters of a text, saying how long it was when clipped: all of
    anything Twilio delivers (1,600 characters at most), in the timeline, which scrolls."""
    shown = "\n".join(text.split("\n")[:max_lines])[:max_chars]  # only \n: a \r is the viewer's to show
    return shown if shown == text else f"{shown}… ({len(text):,} characters)"
