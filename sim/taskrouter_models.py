"""TaskRouter's resources: activities, task channels, queues, workflows, workers, tasks and reservations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.wire import dumps_compact, invalid, json_object

LIVE_TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")
# Reservations that hold a unit of the worker's capacity on the task's channel.
HOLDING_RESERVATION_STATUSES = ("pending", "accepted", "wrapping")
DEFAULT_TASK_TIMEOUT = 86400


@dataclass
class Activity:
    sid: str
    friendly_name: str
    available: bool
    created: float


@dataclass
class TaskChannel:
    sid: str
    unique_name: str
    friendly_name: str
    capacity: int
    created: float


@dataclass
class TaskQueue:
    sid: str
    friendly_name: str
    target_workers: str
    created: float


@dataclass
class Workflow:
    sid: str
    friendly_name: str
    configuration: dict[str, Any]
    created: float


@dataclass(eq=False)
class Worker:
    sid: str
    friendly_name: str
    attributes: str  # JSON string, as TaskRouter stores it
    activity: Activity
    order: int  # seed order, the last tie-breaker when choosing the longest-idle worker
    created: float
    updated: float
    status_changed: float
    last_routed: float | None = None  # when a task was last reserved for or assigned to this worker
    reservations: list[Reservation] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.activity.available

    @property
    def attributes_dict(self) -> dict[str, Any]:
        return json_object(self.attributes) or {}


@dataclass(eq=False)
class Task:
    sid: str
    attributes_text: str
    attributes: dict[str, Any]
    workflow: Workflow
    channel: TaskChannel
    priority: int
    timeout: int
    created: float
    updated: float
    seq: int  # creation order
    queue: TaskQueue | None = None
    queue_entered: float | None = None
    routing_target: str | None = None  # WK… when the task was created for one worker
    assignment_status: str = "pending"
    reason: str | None = None
    version: int = 1  # the ETag
    rejected_by: set[str] = field(default_factory=set)
    reservations: list[Reservation] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return str(self.version)

    @property
    def live(self) -> bool:
        return self.assignment_status in LIVE_TASK_STATUSES

    def active_reservation(self) -> Reservation | None:
        return next((r for r in self.reservations if r.status in HOLDING_RESERVATION_STATUSES), None)


@dataclass(eq=False)
class Reservation:
    sid: str
    task: Task
    worker: Worker
    created: float
    updated: float
    status: str = "pending"
    version: int = 1

    @property
    def etag(self) -> str:
        return str(self.version)


def parse_attributes(value: str | dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(text, object) of task/worker attributes; 400 unless it is a JSON object."""
    if value is None:
        return "{}", {}
    if isinstance(value, dict):
        return dumps_compact(value), value
    parsed = json_object(value)
    if parsed is None:
        raise invalid("Attributes must be a valid JSON object")
    return value, parsed
