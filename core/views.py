"""What the Twilio gateway reads and makes, as the rest of core sees it: plain typed views, no SDK objects
(core/gateway.py builds them; the service, the watcher, the session and the journal read them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from core.identity import encode_identity


class AgentInfo(BaseModel):
    """The agent's TaskRouter worker."""

    sid: str
    friendly_name: str
    full_name: str
    activity_name: str
    available: bool

    @property
    def identity(self) -> str:
        """The agent's Flex chat identity, as Flex writes it in conversations."""
        return encode_identity(self.friendly_name)


class Activity(BaseModel):
    """A TaskRouter activity of the workspace (Available, Offline, …); `available` = takes tasks."""

    sid: str
    name: str
    available: bool


class CreatedInteraction(BaseModel):
    """What Flex made for an outbound interaction: the conversation and the task routed to the agent."""

    interaction_sid: str
    channel_sid: str
    conversation_sid: str
    task_sid: str


class LiveTask(BaseModel):
    sid: str
    assignment_status: str
    attributes: dict[str, Any]


class MessageView(BaseModel):
    """A conversation message as the status watcher reads it: who wrote it, what, and its delivery summary."""

    sid: str
    index: int
    author: str
    body: str | None
    delivery: dict[str, Any] | None  # Twilio's aggregated receipt summary; None while queued
    date_created: datetime | None


class Participation(BaseModel):
    """A conversation a customer address is (or was) in, with the sender (proxy address) it was bound to."""

    conversation_sid: str
    state: str  # active, inactive or closed
    date_created: datetime | None
    date_updated: datetime | None
    proxy_address: str | None


class ReceiptView(BaseModel):
    status: str
    error_code: int | None


class TaskView(BaseModel):
    sid: str
    conversation_sid: str | None
    assignment_status: str
    date_created: datetime | None
    date_updated: datetime | None


class Holder(BaseModel):
    """The worker a reservation offers the task to (or who accepted it)."""

    worker_sid: str
    worker_name: str  # TaskRouter's friendly name (the Flex identity)
    reservation_sid: str
