"""Twilio's errors as domain errors: the SDK's exceptions become one typed sentence from core.errors."""

import contextlib
import json
import re

from twilio.base.exceptions import TwilioException, TwilioRestException

from core.errors import AuthenticationFailed, NotFound, RateLimited, TwilioError, TwilioUnavailable

_CONVERSATION_SID = re.compile(r"\bCH[0-9a-fA-F]{32}\b")
_SDK_PREFIX = re.compile(r"^Unable to [a-z ]+: ")


class BindingTaken(TwilioError):
    """The customer/sender pair already belongs to an open conversation (50416, 50425, or Flex's 45361)."""

    def __init__(self, conversation_sid: str | None) -> None:
        super().__init__("This customer already has an open conversation from this sender.", code=50416, status=409)
        self.conversation_sid = conversation_sid


def domain_error(error: TwilioException, what: str) -> TwilioError:
    """The domain error for an SDK exception raised while `what` (e.g. "sending the message")."""
    if isinstance(error, TwilioRestException):
        return _rest_error(error, what)
    return _page_error(error, what)


def _rest_error(error: TwilioRestException, what: str) -> TwilioError:
    message = _SDK_PREFIX.sub("", str(error.msg or "")).strip() or "no details"
    return _classify(error.status, error.code, message, what, None)


def _page_error(error: TwilioException, what: str) -> TwilioError:
    # List calls raise a bare TwilioException("Unable to fetch page", response) (contract §7.4).
    response = error.args[1] if len(error.args) > 1 else None
    status = getattr(response, "status_code", None)
    code, message, retry_after = None, "no details", None
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
        code, message = body.get("code"), body.get("message") or message
    except ValueError:
        pass
    headers = getattr(response, "headers", None) or {}
    if "Retry-After" in headers:
        with contextlib.suppress(ValueError):
            retry_after = float(headers["Retry-After"])
    return _classify(status, code, message, what, retry_after)


def _classify(status: int | None, code: int | None, message: str, what: str, retry_after: float | None) -> TwilioError:
    # Flex wraps the Conversations error in its own 45361, which also covers other participant failures.
    if code in (50416, 50425) or (code == 45361 and "binding" in message.lower()):
        found = _CONVERSATION_SID.search(message)
        return BindingTaken(found.group(0) if found else None)
    if status == 401 or code == 20003:
        return AuthenticationFailed("Twilio refused the credentials (error 20003): check the account SID and secret.",
                                    code=code, status=status)
    if status == 429 or code == 20429:
        return RateLimited(f"Twilio is busy and asked us to slow down while {what}.", code=code, status=status,
                           retry_after=retry_after)
    if status == 404 or code == 20404:
        return NotFound(f"Twilio found nothing while {what}: {message}", code=code, status=status)
    if status is not None and status >= 500:
        return TwilioUnavailable(f"Twilio had a problem (HTTP {status}) while {what}.", code=code, status=status)
    return TwilioError(f"Twilio refused {what}: {message} (error {code}).", code=code, status=status)
