"""Typed Twilio SIDs: a two-letter prefix followed by 32 hex characters (Twilio's ^XX[0-9a-fA-F]{32}$)."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator


def sid_validator(prefix: str) -> AfterValidator:
    """A pydantic validator accepting exactly `prefix` + 32 hexadecimal characters."""
    pattern = re.compile(re.escape(prefix) + "[0-9a-fA-F]{32}")
    example = prefix + "0123456789abcdef" * 2

    def check(value: str) -> str:
        # fullmatch, not `$`: a trailing newline must not slip through
        if not pattern.fullmatch(value):
            raise ValueError(f"expected {prefix!r} followed by 32 hexadecimal characters, e.g. {example}")
        return value

    return AfterValidator(check)


def sid_type(prefix: str) -> Any:
    """`Annotated[str, ...]` accepting exactly `prefix` + 32 hexadecimal characters."""
    return Annotated[str, sid_validator(prefix)]


# Spelled out (not `sid_type(...)`) so type checkers see them as `str`.
WorkspaceSid = Annotated[str, sid_validator("WS")]
WorkflowSid = Annotated[str, sid_validator("WW")]
QueueSid = Annotated[str, sid_validator("WQ")]
FlowSid = Annotated[str, sid_validator("FW")]
WorkerSid = Annotated[str, sid_validator("WK")]
AccountSid = Annotated[str, sid_validator("AC")]
ApiKeySid = Annotated[str, sid_validator("SK")]
ContentSid = Annotated[str, sid_validator("HX")]
ConversationSid = Annotated[str, sid_validator("CH")]
