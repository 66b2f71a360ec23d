"""Twilio's delivery error codes as one plain sentence an agent understands."""

from __future__ import annotations

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
