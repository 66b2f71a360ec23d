"""What the status watcher reports, per followed send: typed, frozen, in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MessageStatus = Literal["queued", "sent", "delivered", "read", "failed", "undelivered"]
TaskStatus = Literal["pending", "reserved", "assigned", "wrapping", "completed", "canceled"]

FINAL_MESSAGE = ("failed", "undelivered")
FINAL_TASK = ("completed", "canceled")
PROGRESS = ("sent", "delivered", "read")  # cumulative levels of Twilio's delivery summary


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    conversation_sid: str
    at: datetime  # when it happened (Twilio's time where Twilio says it, else when the watcher saw it)


class ConversationEvent(_Event):
    type: Literal["conversation"] = "conversation"
    kind: Literal["created", "reused", "closed"]


class MessageStatusChanged(_Event):
    type: Literal["message_status"] = "message_status"
    message_sid: str
    status: MessageStatus
    error_code: int | None = None
    sentence: str | None = None  # the error code in plain words (failed/undelivered only)


class CustomerReplied(_Event):
    type: Literal["customer_replied"] = "customer_replied"
    message_sid: str
    body: str  # verbatim: rendering it safely is the viewer's job


class TaskStatusChanged(_Event):
    type: Literal["task_status"] = "task_status"
    task_sid: str
    status: TaskStatus
    worker_sid: str | None = None  # who the task is reserved/assigned to, when it is
    worker_name: str | None = None
    reservation_sid: str | None = None  # the reservation that offers it to them (to accept or reject)


StatusEvent = Annotated[ConversationEvent | MessageStatusChanged | CustomerReplied | TaskStatusChanged,
                        Field(discriminator="type")]
Callback = Callable[[StatusEvent], None]


def summary_status(delivery: dict[str, object] | None) -> MessageStatus:
    """One status from Twilio's delivery summary ({total, sent: all|some|none, delivered, read, failed, …})."""
    if not delivery:
        return "queued"

    def reached(level: str) -> bool:
        return delivery.get(level) in ("all", "some")

    for final in FINAL_MESSAGE:
        if reached(final):
            return final  # type: ignore[return-value]
    for level in reversed(PROGRESS):
        if reached(level):
            return level  # type: ignore[return-value]
    return "queued"
