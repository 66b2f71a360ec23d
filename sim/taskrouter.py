"""TaskRouter's state and routing engine: the seeded workspace, workers, the seed's workflow, tasks, reservations.

Routing follows TaskRouter: a task is placed by the workflow (sim/taskrouter_workflow.py), offered to
one worker at a time through a pending reservation, and re-offered when that reservation is rejected
or times out. The resources are in sim/taskrouter_models.py, the REST side in sim/taskrouter_api.py.
"""

from __future__ import annotations

import collections
import json
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from sim import seed
from sim.flex import flex_worker_attributes
from sim.taskrouter_models import (
    DEFAULT_TASK_TIMEOUT,
    HOLDING_RESERVATION_STATUSES,
    Activity,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    Workflow,
    parse_attributes,
)
from sim.taskrouter_workflow import Target, default_queue, evaluate_workflow, matches
from sim.wire import TwilioError, invalid, not_found

if TYPE_CHECKING:
    from sim.world import World

T = TypeVar("T")

# Flex's default channel capacities: several chats at once, one of everything else.
CHANNEL_CAPACITY = {"default": 1, "voice": 1, "chat": 3, "sms": 1}


# the event a status change is: task.wrapup, reservation.accepted, … (the other task changes are task.updated)
_EVENT_NAMES = {"wrapping": "wrapup", "canceled": "canceled", "completed": "completed", "accepted": "accepted",
                "rejected": "rejected", "timeout": "timeout", "rescinded": "rescinded"}


class TaskRouterDomain:
    """The one workspace of the simulated account."""

    def __init__(self, world: World) -> None:
        self.world = world
        now = world.now()
        self.task_lists: collections.deque[float] = collections.deque()  # loop times of the last second's lists
        self.event_callback_url: str | None = None  # where TaskRouter events go (sim/callbacks.py), when set
        self.events_filter: list[str] | None = None  # only these event types, when set
        self._reported: dict[str, str] = {}  # task SID -> the status its last event was about
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
            w.sid: Worker(w.sid, w.friendly_name, flex_worker_attributes(w.full_name, w.friendly_name),
                          self.activities[w.activity.sid], order, now, now, now)
            for order, w in enumerate(seed.WORKERS)
        }
        self.tasks: dict[str, Task] = {}
        self.reservations: dict[str, Reservation] = {}
        # Called with a reservation right after it is offered (simulated colleagues answer it, sim/colleagues.py)
        # and right after its worker accepts it (Flex adds the agent to the conversation).
        self.reservation_offered: list[Callable[[Reservation], None]] = []
        self.reservation_accepted: list[Callable[[Reservation], None]] = []
        self._seq = 0
        self._dispatching = False

    # ------------------------------------------------------------------ lookups

    def missing(self, collection: str, sid: str) -> TwilioError:
        return not_found(f"/v1/Workspaces/{self.workspace_sid}/{collection}/{sid}")

    def _find(self, found: dict[str, T], collection: str, sid: str) -> T:
        if sid not in found:
            raise self.missing(collection, sid)
        return found[sid]

    def activity(self, sid: str) -> Activity:
        return self._find(self.activities, "Activities", sid)

    def worker(self, sid: str) -> Worker:
        return self._find(self.workers, "Workers", sid)

    def task(self, sid: str) -> Task:
        return self._find(self.tasks, "Tasks", sid)

    def queue(self, sid: str) -> TaskQueue:
        return self._find(self.queues, "TaskQueues", sid)

    def workflow(self, sid: str) -> Workflow:
        return self._find(self.workflows, "Workflows", sid)

    def channel(self, sid_or_name: str) -> TaskChannel:
        for channel in self.channels.values():
            if sid_or_name in (channel.sid, channel.unique_name):
                return channel
        raise invalid(f"TaskChannel '{sid_or_name}' does not exist in this Workspace")

    def worker_named(self, friendly_name: str) -> Worker | None:
        wanted = friendly_name.casefold()
        return next((w for w in self.workers.values() if w.friendly_name.casefold() == wanted), None)

    def tasks_for_conversation(self, conversation_sid: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.attributes.get("conversationSid") == conversation_sid]

    def queue_members(self, queue: TaskQueue) -> list[Worker]:
        return [w for w in self.workers.values() if matches(queue.target_workers, w.attributes_dict)]

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
            raise invalid(f"WorkflowSid '{workflow_sid}' is not a Workflow of this Workspace")
        _check_known(self.workers, worker_sid, "Worker")
        _check_known(self.queues, queue_sid, "TaskQueue")
        if timeout < 1:
            raise invalid("Timeout must be a positive number of seconds")
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
        self._reported[task.sid] = task.assignment_status
        self.event("task.created", task)
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
            raise invalid(f"AssignmentStatus '{status}' is not one of canceled, wrapping, completed")
        if status not in allowed:
            raise invalid(f"AssignmentStatus cannot be set to '{status}'; TaskRouter sets it")
        if task.assignment_status not in allowed[status]:
            raise invalid(f"Task {task.sid} is {task.assignment_status}; it can become {status} only from "
                          f"{' or '.join(allowed[status])}")
        if status in ("canceled", "completed") and not reason:
            raise invalid(f"Reason is required when the task is {status}")

    def _set_task_status(self, task: Task, status: str, reason: str | None = None) -> None:
        task.assignment_status = status
        if reason is not None:
            task.reason = reason
        active = task.active_reservation()
        if active is not None and status in ("canceled", "wrapping", "completed"):
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
        status = task.assignment_status
        if self._reported.get(task.sid) != status:  # a task event for each status it reaches
            self._reported[task.sid] = status
            kind = _EVENT_NAMES.get(status, "updated") if status in ("wrapping", "canceled", "completed") else "updated"
            self.event(f"task.{kind}", task)

    def event(self, event_type: str, task: Task | None = None, reservation: Reservation | None = None,
              worker: Worker | None = None) -> None:
        """Sends a TaskRouter event to the workspace's EventCallbackUrl (when set and its filter lets it through),
        with the parameters Twilio sends: of a task (and its reservation), or of a worker."""
        url = self.event_callback_url
        if url is None or (self.events_filter is not None and event_type not in self.events_filter):
            return
        now = self.world.now()
        resource = reservation or task or worker
        assert resource is not None
        params = {"AccountSid": self.world.config.account_sid, "WorkspaceSid": self.workspace_sid,
                  "WorkspaceName": self.friendly_name, "Sid": self.world.sid("EV"), "EventType": event_type,
                  "ResourceType": "reservation" if reservation else "task" if task else "worker",
                  "ResourceSid": resource.sid, "Timestamp": str(int(now)), "TimestampMs": str(int(now * 1000)),
                  "EventDescription": f"{event_type} for {resource.sid}"}
        if task is not None:
            params.update(TaskSid=task.sid, TaskAttributes=json.dumps(task.attributes),
                          TaskAssignmentStatus=task.assignment_status, TaskChannelUniqueName=task.channel.unique_name)
        if worker is not None:
            params.update(WorkerSid=worker.sid, WorkerName=worker.friendly_name, WorkerActivitySid=worker.activity.sid,
                          WorkerActivityName=worker.activity.friendly_name, WorkerAttributes=worker.attributes)
        if reservation is not None:
            params.update(ReservationSid=reservation.sid, WorkerSid=reservation.worker.sid,
                          WorkerName=reservation.worker.friendly_name, ReservationStatus=reservation.status)
        self.world.callbacks.emit(url, params)

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
        _check_known(self.activities, activity_sid, "Activity")
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

    def add_worker(self, friendly_name: str, full_name: str) -> Worker:
        """A worker more (Available), as a Flex admin adds an agent: for contact centers bigger than the seed's."""
        now = self.world.now()
        sid = self.world.sid("WK")
        self.workers[sid] = Worker(sid, friendly_name, flex_worker_attributes(full_name, friendly_name),
                                   self.activities[seed.AVAILABLE.sid], len(self.workers), now, now, now)
        return self.workers[sid]

    def set_worker_activity(self, worker: Worker, activity: Activity, reject_pending: bool = False) -> None:
        self._move(worker, activity)
        if reject_pending and not activity.available:
            for reservation in [r for r in worker.reservations if r.status == "pending"]:
                self._reject(reservation)
        self.dispatch()

    def _move(self, worker: Worker, activity: Activity) -> None:
        if activity is not worker.activity:
            worker.activity = activity
            worker.status_changed = worker.updated = self.world.now()
            self.event("worker.activity.update", worker=worker)

    # ------------------------------------------------------------------ reservations

    def update_reservation(
        self, reservation: Reservation, status: str, *, worker_activity_sid: str | None = None,
        if_match: str | None = None,
    ) -> Reservation:
        self._check_etag(reservation.etag, if_match)
        _check_known(self.activities, worker_activity_sid, "Activity")
        allowed = {"accepted": ("pending",), "rejected": ("pending",), "wrapping": ("accepted",),
                   "completed": ("accepted", "wrapping")}
        if status not in allowed:
            raise invalid(f"ReservationStatus must be one of {', '.join(allowed)}")
        if reservation.status not in allowed[status]:
            raise invalid(f"Reservation {reservation.sid} is {reservation.status}, it cannot be {status}")
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
        self.event(f"reservation.{_EVENT_NAMES.get(status, status)}", reservation.task, reservation)

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
        self._move(reservation.worker, self.timeout_activity)
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

    def _place(self, task: Task) -> Target:
        """The queue the workflow puts the task in, and the only workers it may go to (None = the queue's)."""
        if task.routing_target is not None:
            target: Target = (task.queue or default_queue(self, task), [task.routing_target])
        else:
            target = evaluate_workflow(self, task)
        queue = target[0]
        if queue is not None and task.queue is not queue:
            task.queue = queue
            task.queue_entered = self.world.now()
        elif queue is not None and task.queue_entered is None:
            task.queue_entered = self.world.now()
        return target

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
        self.event("reservation.created", task, reservation)
        self.world.clock.call_later(self.world.config.reservation_timeout, self._expire_reservation, reservation.sid)
        for listener in list(self.reservation_offered):
            listener(reservation)

    @staticmethod
    def _has_capacity(worker: Worker, channel: TaskChannel) -> bool:
        held = sum(1 for r in worker.reservations
                   if r.status in HOLDING_RESERVATION_STATUSES and r.task.channel is channel)
        return held < channel.capacity


def _check_known(known: dict[str, Any], sid: str | None, kind: str) -> None:
    if sid is not None and sid not in known:
        raise invalid(f"{kind} '{sid}' does not exist in this Workspace")
