"""Conversations v1, the resources: conversations with their timers, participants, messages and scoped webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.delivery import Receipt


def conversation_path(sid: str) -> str:
    return f"/v1/Conversations/{sid}"


@dataclass
class Participant:
    sid: str
    conversation_sid: str
    identity: str | None
    address: str | None
    proxy_address: str | None
    channel: str | None  # "sms" | "whatsapp" | None for chat
    attributes: str = "{}"
    projected_address: str | None = None
    role_sid: str | None = None
    date_created: float = 0.0
    date_updated: float = 0.0
    last_read_message_index: int | None = None
    last_read_timestamp: str | None = None


@dataclass
class Message:
    sid: str
    conversation_sid: str
    index: int
    author: str
    body: str | None
    content_sid: str | None
    participant_sid: str | None
    receipts: list[Receipt] = field(default_factory=list)
    attributes: str = "{}"
    media_sid: str | None = None
    date_created: float = 0.0
    date_updated: float = 0.0
    recipients: int = 0  # non-chat participants it was sent to: the `delivery.total`


@dataclass
class Webhook:
    sid: str
    conversation_sid: str
    target: str  # webhook | trigger | studio
    configuration: dict[str, Any]  # snake_case keys, only those given: url, method, filters, triggers, flow_sid, replay_after
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Timers:
    inactive_after: float | None = None  # seconds without activity before active → inactive
    closed_after: float | None = None  # seconds without activity before → closed
    date_inactive: float | None = None
    date_closed: float | None = None


@dataclass
class Conversation:
    sid: str
    unique_name: str | None
    friendly_name: str | None
    attributes: str
    state: str
    date_created: float
    date_updated: float
    participants: dict[str, Participant] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    messaging_service_sid: str | None = None
    timers: Timers = field(default_factory=Timers)
    bindings: dict[str, Any] = field(default_factory=dict)  # {} or {"email": {address, name}}
    next_index: int = 0

    @property
    def customer(self) -> Participant | None:
        """The first SMS/WhatsApp participant: the person outside the contact center."""
        return next((p for p in self.participants.values() if p.channel is not None), None)

    def author_participant(self, author: str) -> Participant | None:
        """The participant who writes as `author`: a chat identity, or an SMS/WhatsApp address."""
        return next((p for p in self.participants.values() if author in (p.identity, p.address)), None)

    def holds(self, address: str, proxy_address: str | None) -> bool:
        return any(p.address == address and p.proxy_address == proxy_address for p in self.participants.values())
