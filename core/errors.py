"""Domain errors. Each carries one sentence an agent understands; the log keeps the detail."""

from __future__ import annotations

from typing import Literal


class OutboundError(Exception):
    """Base of every error core reports. `str(error)` is the sentence for the agent."""


# what a refused draft would have to change: its number, sender, text or template (its variables), or what
# Twilio's state rules out: the template's WhatsApp approval, the customer's opt-out or WhatsApp window, the
# agent's own activity (Offline)
Field = Literal["destination", "sender", "body", "template", "approval", "opted_out", "window", "activity"]


class InvalidSend(OutboundError):
    """The draft cannot be sent as it is; nothing was sent to Twilio."""

    def __init__(self, field: Field, sentence: str) -> None:
        super().__init__(sentence)
        self.field = field  # what to change


class LocalFileError(OutboundError):
    """A file of this app's on this machine (the history) cannot be used; nothing to do with Twilio."""


class ConversationInUse(OutboundError):
    """The customer already has an open conversation with a live task on this sender."""

    def __init__(self, customer: str, direction: str, holder: str | None) -> None:
        who = f", assigned to {holder}" if holder else ", waiting for an agent"
        super().__init__(f"There is an open {direction} conversation with {customer}{who}.")
        self.customer = customer
        self.direction = direction
        self.holder = holder


class TwilioError(OutboundError):
    """Twilio answered with an error. `code` is Twilio's error code, `status` the HTTP status."""

    def __init__(self, sentence: str, *, code: int | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(sentence)
        self.code = code
        self.status = status
        self.retry_after = retry_after


class AuthenticationFailed(TwilioError):
    """Twilio refused the credentials (20003)."""


class RateLimited(TwilioError):
    """Twilio asked us to slow down (429 / 20429)."""


class NotFound(TwilioError):
    """The resource does not exist (20404)."""


class TwilioUnavailable(TwilioError):
    """No usable answer: timeout, connection failure or a 5xx. The request may or may not have taken effect."""

    def __init__(self, sentence: str, *, code: int | None = None, status: int | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(sentence, code=code, status=status)
        self.timed_out = timed_out  # given up on while Twilio may still be working on it


class SendFailed(OutboundError):
    """A send stopped part way. `reached_customer` says whether the customer got the message (None: it cannot be
    known now). `checked` False: what Twilio made is not known yet (the message's fate, or a conversation a create
    may have opened); the journal keeps the send until a look-up settles it."""

    def __init__(self, sentence: str, *, reached_customer: bool | None, cause: OutboundError | None = None,
                 checked: bool = True) -> None:
        super().__init__(sentence)
        self.reached_customer = reached_customer
        self.checked = checked and reached_customer is not None
        self.cause = cause
        self.send_id: str | None = None  # the send's id, for what a later look-up says of it
