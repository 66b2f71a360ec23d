"""TaskRouter's state and routing engine: the seeded workspace, workers, the seed's workflow, tasks, reservations.

Routing follows TaskRouter: a task is placed by the workflow (filters in order, then the default
filter), offered to one worker at a time through a pending reservation, and re-offered when that
reservation is rejected or times out. The REST resources live in sim/taskrouter_api.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from aiohttp import web

from sim import seed
from sim.expressions import ExpressionError, evaluate
from sim.flex import flex_identity
from sim.wire import TwilioError, bad_request, dumps_compact

if TYPE_CHECKING:
    from sim.world import World

LIVE_TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")
# Reservations that hold a unit of the worker's capacity on the task's channel.
HOLDING_RESERVATION_STATUSES = ("pending", "accepted", "wrapping")
# Flex's default channel capacities: several chats at once, one of everything else.
CHANNEL_CAPACITY = {"default": 1, "voice": 1, "chat": 3, "sms": 1}
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
        return json_object(self.attributes)


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


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_attributes(value: str | dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(text, object) of task/worker attributes; 400 unless it is a JSON object."""
    if value is None:
        return "{}", {}
    if isinstance(value, dict):
        return dumps_compact(value), value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise bad_request("Attributes must be a valid JSON object", code=20001)
    return value, parsed


def _flex_worker_attributes(worker: seed.Worker) -> str:
    return json.dumps({
        "full_name": worker.full_name,
        "email": worker.friendly_name,
        "contact_uri": f"client:{flex_identity(worker.friendly_name)}",
        "roles": ["agent"],
        "routing": {"skills": [], "levels": {}},
    })


class TaskRouterDomain:
    """The one workspace of the simulated account."""

    def __init__(self, world: World) -> None:
        self.world = world
        now = world.now()
        self.workspace_sid = seed.WORKSPACE_SID
        self.friendly_name = "Flex Task Assignment"
        self.created = now
        self.activities = {a.sid: Activity(a.sid, a.name, a.available, now) for a in seed.ACTIVITIES}
        self.default_activity = self.activities[seed.OFFLINE.sid]
        # Where a worker goes when they let a reservation time out (TaskRouter's timeout activity).
        self.timeout_activity = self.activities[seed.OFFLINE.sid]
        self.channels = {
            c.sid: c
            for c in (
                TaskChannel(seed.fixed_sid("TC", n), name, title, CHANNEL_CAPACITY[name], now)
                for n, (name, title) in enumerate(
                    (("default", "Default"), ("voice", "Voice"), ("chat", "Programmable Chat"), ("sms", "SMS")), 1
                )
            )
        }
        self.queues = {seed.QUEUE_SID: TaskQueue(seed.QUEUE_SID, "Everyone", "1==1", now)}
        self.workflows = {
            seed.WORKFLOW_SID: Workflow(seed.WORKFLOW_SID, "Assign to Anyone", seed.WORKFLOW_CONFIGURATION, now)
        }
        self.workers = {
            w.sid: Worker(w.sid, w.friendly_name, _flex_worker_attributes(w), self.activities[w.activity.sid],
                          order, now, now, now)
            for order, w in enumerate(seed.WORKERS)
        }
        self.tasks: dict[str, Task] = {}
        self.reservations: dict[str, Reservation] = {}
        # Called with the reservation right after a worker accepts it (Flex adds the agent to the conversation).
        self.reservation_accepted: list[Callable[[Reservation], None]] = []
        self._seq = 0
        self._dispatching = False

    # ------------------------------------------------------------------ lookups

    def missing(self, collection: str, sid: str) -> TwilioError:
        path = f"/v1/Workspaces/{self.workspace_sid}/{collection}/{sid}"
        return TwilioError(404, 20404, f"The requested resource {path} was not found")

    def activity(self, sid: str) -> Activity:
        if sid not in self.activities:
            raise self.missing("Activities", sid)
        return self.activities[sid]

    def worker(self, sid: str) -> Worker:
        if sid not in self.workers:
            raise self.missing("Workers", sid)
        return self.workers[sid]

    def task(self, sid: str) -> Task:
        if sid not in self.tasks:
            raise self.missing("Tasks", sid)
        return self.tasks[sid]

    def queue(self, sid: str) -> TaskQueue:
        if sid not in self.queues:
            raise self.missing("TaskQueues", sid)
        return self.queues[sid]

    def workflow(self, sid: str) -> Workflow:
        if sid not in self.workflows:
            raise self.missing("Workflows", sid)
        return self.workflows[sid]

    def channel(self, sid_or_name: str) -> TaskChannel:
        for channel in self.channels.values():
            if sid_or_name in (channel.sid, channel.unique_name):
                return channel
        raise bad_request(f"TaskChannel '{sid_or_name}' does not exist in this Workspace", code=20001)

    def worker_named(self, friendly_name: str) -> Worker | None:
        wanted = friendly_name.casefold()
        return next((w for w in self.workers.values() if w.friendly_name.casefold() == wanted), None)

    def tasks_for_conversation(self, conversation_sid: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.attributes.get("conversationSid") == conversation_sid]

    def queue_members(self, queue: TaskQueue) -> list[Worker]:
        return [w for w in self.workers.values() if _matches(queue.target_workers, w.attributes_dict)]

    # ------------------------------------------------------------------ tasks

    def create_task(
        self,
        attributes: dict[str, Any] | str,
        *,
        workflow_sid: str,
        task_channel: str = "chat",
        worker_sid: str | None = None,
        queue_sid: str | None = None,
        priority: int = 0,
        timeout: int = DEFAULT_TASK_TIMEOUT,
        route: bool = True,
    ) -> Task:
        """A new pending task; with `worker_sid` it is offered to that worker only (Flex's routing target).

        `route=False` leaves it pending until `dispatch()` (Flex answers with the task as created).
        """
        if workflow_sid not in self.workflows:
            raise bad_request(f"WorkflowSid '{workflow_sid}' is not a Workflow of this Workspace", code=20001)
        if worker_sid is not None and worker_sid not in self.workers:
            raise bad_request(f"Worker '{worker_sid}' does not exist in this Workspace", code=20001)
        if queue_sid is not None and queue_sid not in self.queues:
            raise bad_request(f"TaskQueue '{queue_sid}' does not exist in this Workspace", code=20001)
        if timeout < 1:
            raise bad_request("Timeout must be a positive number of seconds", code=20001)
        text, parsed = parse_attributes(attributes)
        now = self.world.now()
        self._seq += 1
        task = Task(
            sid=self.world.sid("WT"), attributes_text=text, attributes=parsed,
            workflow=self.workflows[workflow_sid], channel=self.channel(task_channel),
            priority=priority, timeout=timeout, created=now, updated=now, seq=self._seq,
            routing_target=worker_sid,
        )
        if queue_sid is not None:
            task.queue = self.queues[queue_sid]
        self.tasks[task.sid] = task
        self._place(task)
        self.world.clock.call_later(timeout, self._expire_task, task.sid)
        if route:
            self.dispatch()
        return task

    def update_task(
        self,
        task: Task,
        *,
        assignment_status: str | None = None,
        reason: str | None = None,
        attributes: str | None = None,
        priority: int | None = None,
        task_channel: str | None = None,
        if_match: str | None = None,
    ) -> Task:
        self._check_etag(task.etag, if_match)
        if assignment_status is not None and assignment_status != task.assignment_status:
            self._check_task_transition(task, assignment_status, reason)
        if attributes is not None:
            task.attributes_text, task.attributes = parse_attributes(attributes)
        if priority is not None:
            task.priority = priority
        if task_channel is not None:
            task.channel = self.channel(task_channel)
        if assignment_status is not None and assignment_status != task.assignment_status:
            self._set_task_status(task, assignment_status, reason)
        self._touch(task)
        if task.assignment_status == "pending":
            self._place(task)  # new attributes may match another filter
        self.dispatch()
        return task

    def delete_task(self, task: Task, if_match: str | None = None) -> None:
        self._check_etag(task.etag, if_match)
        for reservation in task.reservations:
            if reservation.status in HOLDING_RESERVATION_STATUSES:
                reservation.status = "canceled"
            reservation.worker.reservations.remove(reservation)
            self.reservations.pop(reservation.sid, None)
        del self.tasks[task.sid]
        self.dispatch()

    @staticmethod
    def _check_etag(etag: str, if_match: str | None) -> None:
        if if_match is None:
            return
        given = if_match.strip().removeprefix("W/").strip('"')
        if given not in ("*", etag):
            raise TwilioError(412, 20412, f"Precondition failed: If-Match {if_match!r} is not the ETag {etag!r}")

    @staticmethod
    def _check_task_transition(task: Task, status: str, reason: str | None) -> None:
        allowed = {
            "canceled": ("pending", "reserved"),
            "wrapping": ("assigned",),
            "completed": ("assigned", "wrapping"),
        }
        if status not in ("pending", "reserved", "assigned", "canceled", "wrapping", "completed"):
            raise bad_request(f"AssignmentStatus '{status}' is not one of canceled, wrapping, completed", code=20001)
        if status not in allowed:
            raise bad_request(f"AssignmentStatus cannot be set to '{status}'; TaskRouter sets it", code=20001)
        if task.assignment_status not in allowed[status]:
            raise bad_request(
                f"Task {task.sid} is {task.assignment_status}; it can become {status} only from "
                f"{' or '.join(allowed[status])}", code=20001)
        if status in ("canceled", "completed") and not reason:
            raise bad_request(f"Reason is required when the task is {status}", code=20001)

    def _set_task_status(self, task: Task, status: str, reason: str | None = None) -> None:
        task.assignment_status = status
        if reason is not None:
            task.reason = reason
        active = task.active_reservation()
        if active is not None:
            if status == "canceled":
                self._set_reservation_status(active, "canceled")
            elif status in ("wrapping", "completed"):
                self._set_reservation_status(active, status)
        self._touch(task)

    def _expire_task(self, sid: str) -> None:
        task = self.tasks.get(sid)
        if task is not None and task.assignment_status in ("pending", "reserved"):
            self._set_task_status(task, "canceled", "Task TTL Exceeded")
            self.dispatch()

    def _touch(self, task: Task) -> None:
        task.version += 1
        task.updated = self.world.now()

    # ------------------------------------------------------------------ workers

    def update_worker(
        self,
        worker: Worker,
        *,
        activity_sid: str | None = None,
        attributes: str | None = None,
        friendly_name: str | None = None,
        reject_pending_reservations: bool = False,
    ) -> Worker:
        if activity_sid is not None and activity_sid not in self.activities:
            raise bad_request(f"Activity '{activity_sid}' does not exist in this Workspace", code=20001)
        if friendly_name is not None:
            other = self.worker_named(friendly_name)
            if other is not None and other is not worker:
                raise TwilioError(409, 20001, f"A Worker with friendly name '{friendly_name}' already exists")
            worker.friendly_name = friendly_name
        if attributes is not None:
            worker.attributes, _ = parse_attributes(attributes)
        worker.updated = self.world.now()
        if activity_sid is not None:
            self.set_worker_activity(worker, self.activities[activity_sid], reject_pending_reservations)
        self.dispatch()
        return worker

    def set_worker_activity(self, worker: Worker, activity: Activity, reject_pending: bool = False) -> None:
        if activity is not worker.activity:
            worker.activity = activity
            worker.status_changed = worker.updated = self.world.now()
        if reject_pending and not activity.available:
            for reservation in [r for r in worker.reservations if r.status == "pending"]:
                self._reject(reservation)
        self.dispatch()

    # ------------------------------------------------------------------ reservations

    def update_reservation(
        self, reservation: Reservation, status: str, *, worker_activity_sid: str | None = None,
        if_match: str | None = None,
    ) -> Reservation:
        self._check_etag(reservation.etag, if_match)
        if worker_activity_sid is not None and worker_activity_sid not in self.activities:
            raise bad_request(f"Activity '{worker_activity_sid}' does not exist in this Workspace", code=20001)
        allowed = {"accepted": ("pending",), "rejected": ("pending",), "wrapping": ("accepted",),
                   "completed": ("accepted", "wrapping")}
        if status not in allowed:
            raise bad_request(f"ReservationStatus must be one of {', '.join(allowed)}", code=20001)
        if reservation.status not in allowed[status]:
            message = f"Reservation {reservation.sid} is {reservation.status}, it cannot be {status}"
            raise bad_request(message, code=20001)
        task = reservation.task
        if status == "accepted":
            self._set_reservation_status(reservation, "accepted")
            reservation.worker.last_routed = self.world.now()
            task.assignment_status = "assigned"
            self._touch(task)
            for listener in list(self.reservation_accepted):
                listener(reservation)
        elif status == "rejected":
            self._reject(reservation)
        else:
            self._set_task_status(task, status, "Reservation completed" if status == "completed" else None)
        if worker_activity_sid is not None:
            self.set_worker_activity(reservation.worker, self.activities[worker_activity_sid])
        self.dispatch()
        return reservation

    def _set_reservation_status(self, reservation: Reservation, status: str) -> None:
        reservation.status = status
        reservation.version += 1
        reservation.updated = self.world.now()

    def _reject(self, reservation: Reservation) -> None:
        self._set_reservation_status(reservation, "rejected")
        task = reservation.task
        task.rejected_by.add(reservation.worker.sid)  # re-offered to someone else, never back to the rejecter
        self._back_to_pending(task)

    def _expire_reservation(self, sid: str) -> None:
        reservation = self.reservations.get(sid)
        if reservation is None or reservation.status != "pending":
            return
        self._set_reservation_status(reservation, "timeout")
        # As TaskRouter does, a worker who lets a reservation time out is moved to the timeout activity
        # (before the task is re-offered, so it goes to someone else or waits for a known agent).
        worker = reservation.worker
        if worker.activity is not self.timeout_activity:
            worker.activity = self.timeout_activity
            worker.status_changed = worker.updated = self.world.now()
        self._back_to_pending(reservation.task)

    def _back_to_pending(self, task: Task) -> None:
        if task.assignment_status == "reserved":
            task.assignment_status = "pending"
            self._touch(task)
        self.dispatch()

    # ------------------------------------------------------------------ routing

    def dispatch(self) -> None:
        """Offer every pending task to the worker its workflow picks, highest priority and oldest first."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            pending = sorted((t for t in self.tasks.values() if t.assignment_status == "pending"),
                             key=lambda t: (-t.priority, t.seq))
            for task in pending:
                if task.assignment_status == "pending":
                    self._offer(task)
        finally:
            self._dispatching = False

    def _place(self, task: Task) -> tuple[TaskQueue | None, list[str] | None]:
        """The queue the workflow puts the task in, and the only workers it may go to (None = the queue's)."""
        if task.routing_target is not None:
            target: tuple[TaskQueue | None, list[str] | None] = (
                task.queue or self._default_queue(task), [task.routing_target]
            )
        else:
            target = self._evaluate_workflow(task)
        queue = target[0]
        if queue is not None and task.queue is not queue:
            task.queue = queue
            task.queue_entered = self.world.now()
        elif queue is not None and task.queue_entered is None:
            task.queue_entered = self.world.now()
        return target

    def _default_queue(self, task: Task) -> TaskQueue | None:
        default = task.workflow.configuration.get("task_routing", {}).get("default_filter", {})
        return self.queues.get(default.get("queue", ""))

    def _evaluate_workflow(self, task: Task) -> tuple[TaskQueue | None, list[str] | None]:
        routing = task.workflow.configuration.get("task_routing", {})
        for workflow_filter in routing.get("filters", []):
            if not _matches(workflow_filter.get("expression", ""), task.attributes):
                continue
            for target in workflow_filter.get("targets", []):
                queue = self.queues.get(target.get("queue", ""))
                if queue is None:
                    continue
                if "known_worker_sid" in target:
                    sid = _task_reference(target["known_worker_sid"], task.attributes)
                    if sid in self.workers:
                        return queue, [sid]
                    continue  # no such worker: the target cannot take the task
                if "known_worker_friendly_name" in target:
                    name = _task_reference(target["known_worker_friendly_name"], task.attributes)
                    named = self.worker_named(str(name))
                    if named is not None:
                        return queue, [named.sid]
                    continue
                return queue, None
        return self._default_queue(task), None

    def _offer(self, task: Task) -> None:
        queue, only = self._place(task)
        if queue is None:
            return
        pool: Iterable[Worker] = [self.workers[s] for s in only] if only is not None else self.queue_members(queue)
        candidates = [w for w in pool
                      if w.available and w.sid not in task.rejected_by and self._has_capacity(w, task.channel)]
        if not candidates:
            return
        worker = min(candidates, key=lambda w: (w.last_routed if w.last_routed is not None else float("-inf"), w.order))
        now = self.world.now()
        reservation = Reservation(self.world.sid("WR"), task, worker, now, now)
        self.reservations[reservation.sid] = reservation
        task.reservations.append(reservation)
        worker.reservations.append(reservation)
        worker.last_routed = now
        task.assignment_status = "reserved"
        self._touch(task)
        self.world.clock.call_later(self.world.config.reservation_timeout, self._expire_reservation, reservation.sid)

    @staticmethod
    def _has_capacity(worker: Worker, channel: TaskChannel) -> bool:
        held = sum(1 for r in worker.reservations
                   if r.status in HOLDING_RESERVATION_STATUSES and r.task.channel is channel)
        return held < channel.capacity


def _matches(expression: str, document: dict[str, Any]) -> bool:
    try:
        return evaluate(expression, document)
    except ExpressionError:
        return False  # TaskRouter refuses to save a workflow with a bad expression; never route on one


def _task_reference(reference: str, attributes: dict[str, Any]) -> Any:
    """Resolve a workflow value such as "task.KnownAgentWorkerSid" against the task's attributes."""
    if not reference.startswith("task."):
        return reference
    value: Any = attributes
    for part in reference.removeprefix("task.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def add_routes(app: web.Application) -> None:
    from sim import taskrouter_api  # the REST resources; kept apart from the engine

    taskrouter_api.add_routes(app)
