"""WhatsApp content templates: the account's templates with their WhatsApp approval, and what one says.

Since April 2025 a WhatsApp message outside the customer's 24-hour window goes out only as an approved
content template (ContentSid + ContentVariables); free text fails with 63016.

    catalog = TemplateCatalog(gateway, settings.whatsapp.template_filters)
    templates = await catalog.templates()          # one ContentAndApprovals request, then cached
    template.render({"1": "Ana"})                  # exactly what the customer reads
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field


if TYPE_CHECKING:
    from core.gateway import TwilioGateway

# Twilio's `{{1}}` / `{{first_name}}`, spaces inside the braces allowed (the simulator reads them the same way)
_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
NOT_APPROVED = {  # what a template's WhatsApp approval status means for the agent
    "pending": "is pending WhatsApp approval",
    "received": "is pending WhatsApp approval",
    "rejected": "was rejected by WhatsApp",
    "unsubmitted": "was never submitted for WhatsApp approval",
    "paused": "is paused by WhatsApp",
    "disabled": "is disabled by WhatsApp",
}


class ContentTemplate(BaseModel):
    """One content template: its text body with `{{name}}` placeholders and its WhatsApp approval."""

    model_config = ConfigDict(frozen=True)

    sid: str  # HX…
    name: str  # Twilio's friendly_name, e.g. order_update
    language: str  # ISO 639-1, e.g. en
    body: str  # the twilio/text body, else the first content type's body
    defaults: dict[str, str] = Field(default_factory=dict)  # placeholder -> Twilio's default (sample) value
    whatsapp_status: str = "unsubmitted"  # approved, pending, rejected, unsubmitted, …

    @classmethod
    def from_twilio(cls, *, sid: str, friendly_name: str | None, language: str | None, variables: Any,
                    types: Any, approval_requests: Any) -> ContentTemplate:
        """A ContentAndApprovals record's fields, read tolerantly: absent or odd parts get plain defaults."""
        defaults = {str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else {}
        return cls(sid=sid, name=friendly_name or sid, language=language or "", body=_text_body(types),
                   defaults=defaults, whatsapp_status=_whatsapp_status(approval_requests))

    @property
    def approved(self) -> bool:
        return self.whatsapp_status == "approved"

    @property
    def placeholders(self) -> list[str]:
        """The names inside `{{ }}` in the body, in order, each once."""
        return list(dict.fromkeys(_PLACEHOLDER.findall(self.body)))

    def render(self, values: Mapping[str, str]) -> str:
        """Exactly what the customer reads: each `{{name}}` replaced by its value, else by Twilio's default.
        One pass: a value that itself holds `{{1}}` is read literally."""
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values
                                else self.defaults.get(m.group(1), ""), self.body)

    def missing(self, values: Mapping[str, str]) -> list[str]:
        """The placeholders still without a value (absent or blank), in order."""
        return [name for name in self.placeholders if not (values.get(name) or "").strip()]


def _text_body(types: Any) -> str:
    """The twilio/text body, else the first content type's body, else ""."""
    kinds = [types.get("twilio/text"), *types.values()] if isinstance(types, dict) else []
    return next((kind["body"] for kind in kinds if isinstance(kind, dict) and isinstance(kind.get("body"), str)), "")


def _whatsapp_status(approval_requests: Any) -> str:
    """The contract's spec examples put `status` at the top; the ApprovalRequests resource nests it in `whatsapp`."""
    approval = approval_requests if isinstance(approval_requests, dict) else {}
    nested = approval.get("whatsapp")
    status = approval.get("status") or (nested.get("status") if isinstance(nested, dict) else None)
    return str(status or "unsubmitted").lower()


class TemplateCatalog:
    """The account's content templates, read once per session: the allow-list's, approved first, then by name."""

    def __init__(self, gateway: TwilioGateway, allow: list[str]) -> None:
        self.gateway = gateway
        self.allow = set(allow)  # template names or HX SIDs; empty = every template
        self._templates: list[ContentTemplate] | None = None
        self._lock = asyncio.Lock()  # callers at the same time share one request

    async def templates(self, refresh: bool = False) -> list[ContentTemplate]:
        """The templates (one ContentAndApprovals request the first time, or when `refresh`)."""
        async with self._lock:
            if self._templates is None or refresh:
                found = await self.gateway.content_templates()
                allowed = [t for t in found if not self.allow or t.name in self.allow or t.sid in self.allow]
                self._templates = sorted(allowed, key=lambda t: (not t.approved, t.name.casefold(), t.sid))
            return list(self._templates)
