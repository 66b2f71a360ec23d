"""Conversations v1, the rules: the values Twilio refuses, each with the error code it answers."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sim.delivery import WHATSAPP_PREFIX, bare
from sim.wire import TwilioError, invalid

if TYPE_CHECKING:
    from sim.conversations_models import Conversation

STATES = ("active", "inactive", "closed")
WEBHOOK_TARGETS = ("webhook", "trigger", "studio")
MAX_BODY = 1600
MAX_WEBHOOKS = 5
MAX_TRIGGERS = 5
MIN_INACTIVE_TIMER = 60.0
MIN_CLOSED_TIMER = 600.0
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def check_open(conversation: Conversation) -> None:
    """A closed conversation is final: nothing in it can change any more."""
    if conversation.state == "closed":
        raise TwilioError(400, 50377, "Can't update conversation as it's in final closed state")


def is_e164(address: str) -> bool:
    return _E164.match(address) is not None


def check_sid(value: str | None, prefix: str, name: str) -> None:
    if value is not None and not (_SID.match(value) and value.startswith(prefix)):
        raise invalid(f"{name} must be a {prefix} SID, got '{value}'")


def check_attributes(attributes: str | None) -> None:
    if attributes is None:
        return
    try:
        json.loads(attributes)
    except ValueError:
        raise TwilioError(400, 50304, "Attributes not valid JSON") from None


def check_state(state: str | None) -> None:
    if state is not None and state not in STATES:
        raise invalid(f"State must be one of {', '.join(STATES)}, got '{state}'")


def check_conversation(attributes: str | None, state: str | None, messaging_service_sid: str | None,
                       timers_inactive: float | None, timers_closed: float | None) -> None:
    check_attributes(attributes)
    check_state(state)
    check_sid(messaging_service_sid, "MG", "MessagingServiceSid")
    if timers_inactive and timers_inactive < MIN_INACTIVE_TIMER:
        raise TwilioError(400, 50375, "TimeToInactive should be greater or equal to 1 minute")
    if timers_closed and timers_closed < MIN_CLOSED_TIMER:
        raise TwilioError(400, 50376, "TimeToClosed should be greater or equal to 10 minutes")


def binding_channel(address: str, proxy_address: str | None) -> str:
    """The channel of an (address, proxy address) binding, or the error Twilio gives for a malformed one."""
    if not proxy_address:
        raise TwilioError(400, 50412, "Participant proxy address is empty")
    if address == proxy_address:
        raise TwilioError(400, 50409, "Participant address and proxy address must be different")
    channel = "whatsapp" if address.startswith(WHATSAPP_PREFIX) else "sms"
    if not is_e164(bare(address)):
        raise TwilioError(400, 50407, "Invalid messaging binding address")
    if proxy_address.startswith(WHATSAPP_PREFIX) != (channel == "whatsapp") or not is_e164(bare(proxy_address)):
        raise TwilioError(400, 50408, "Invalid participant proxy address")
    return channel


def check_body(body: str | None) -> None:
    if body is not None and len(body) > MAX_BODY:
        raise TwilioError(400, 50504, f"Message body parameter is too long (at most {MAX_BODY} characters)")


def check_webhook(target: str | None, configuration: dict[str, Any]) -> None:
    if target not in WEBHOOK_TARGETS:
        raise TwilioError(400, 50364, f"Invalid conversation webhook target '{target}': webhook, trigger or studio")
    if target == "studio":
        flow_sid = configuration.get("flow_sid")
        if not (flow_sid and _SID.match(flow_sid) and flow_sid.startswith("FW")):
            raise TwilioError(400, 50367, "Invalid conversation webhook flow SID")
    else:
        url = configuration.get("url")
        if not url:
            raise TwilioError(400, 50369, "Conversation webhook URL not provided")
        if len(url) > 512:
            raise TwilioError(400, 50372, "Conversation webhook URL is too long")
    if target == "trigger":
        triggers = configuration.get("triggers") or []
        if not triggers:
            raise TwilioError(400, 50371, "Conversation webhook trigger not provided")
        if len(triggers) > MAX_TRIGGERS:
            raise TwilioError(400, 50362, "Too many conversation webhook triggers")
        if any(not keyword or len(keyword) > 248 for keyword in triggers):
            raise TwilioError(400, 50366, "Invalid conversation webhook trigger")
    if configuration.get("method") not in (None, "get", "post"):
        raise invalid("Configuration.Method must be GET or POST")
