"""TaskRouter v1 REST resources (taskrouter.twilio.com/v1/Workspaces/{WorkspaceSid}/…) over sim/taskrouter.py.

The JSON of each resource is sim/taskrouter_json.py.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Callable

from aiohttp import web

from sim.expressions import ExpressionError, compile_expression
from sim.taskrouter import TaskRouterDomain
from sim.taskrouter_json import (
    activity_json,
    channel_json,
    queue_json,
    reservation_json,
    task_json,
    worker_json,
    workflow_json,
    workspace_json,
)
from sim.taskrouter_models import DEFAULT_TASK_TIMEOUT, Reservation, Task, Worker, Workflow
from sim.wire import TwilioError, bool_param, invalid, not_found, page, read_form, respond
from sim.world import account_of, world_of

MAX_PAGE_SIZE = 1000


def _domain(request: web.Request) -> TaskRouterDomain:
    domain = world_of(request).taskrouter
    if request.match_info.get("ws") != domain.workspace_sid:
        raise not_found(request.path)
    return domain


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name} must be an integer") from None


# ---------------------------------------------------------------------- handlers


async def fetch_workspace(request: web.Request) -> web.Response:
    return respond(workspace_json(_domain(request), account_of(request)))


async def update_workspace(request: web.Request) -> web.Response:
    """EventCallbackUrl (empty: none) and EventsFilter (comma-separated event types) are what the simulator keeps."""
    domain = _domain(request)
    form = await read_form(request)
    if "EventCallbackUrl" in form:
        url = form["EventCallbackUrl"].strip()
        if url and not url.startswith(("http://", "https://")):
            raise invalid(f"EventCallbackUrl '{url}' is not a valid URL")
        domain.event_callback_url = url or None
    if "EventsFilter" in form:
        domain.events_filter = [e.strip() for e in form["EventsFilter"].split(",") if e.strip()] or None
    return respond(workspace_json(domain, account_of(request)))


async def list_workspaces(request: web.Request) -> web.Response:
    domain = world_of(request).taskrouter
    name = request.query.get("FriendlyName")
    records = [workspace_json(domain, account_of(request))] if name in (None, domain.friendly_name) else []
    return page(request, "workspaces", records, max_page_size=MAX_PAGE_SIZE)


async def list_activities(request: web.Request) -> web.Response:
    domain = _domain(request)
    name = request.query.get("FriendlyName")
    available = bool_param(request.query.get("Available"))
    records = [activity_json(domain, a, account_of(request)) for a in domain.activities.values()
               if (name is None or a.friendly_name == name) and (available is None or a.available == available)]
    return page(request, "activities", records, max_page_size=MAX_PAGE_SIZE)


async def fetch_activity(request: web.Request) -> web.Response:
    domain = _domain(request)
    return respond(activity_json(domain, domain.activity(request.match_info["sid"]), account_of(request)))


def _worker_filter(request: web.Request, domain: TaskRouterDomain) -> Callable[[Worker], bool]:
    query = request.query
    name = query.get("FriendlyName")
    activity_name = query.get("ActivityName")
    activity_sid = query.get("ActivitySid")
    available = bool_param(query.get("Available"))
    expression = query.get("TargetWorkersExpression")
    predicate = _compile(expression) if expression else None
    queue_sid = query.get("TaskQueueSid")
    queue_name = query.get("TaskQueueName")
    queues = [q for q in domain.queues.values()
              if (queue_sid is None or q.sid == queue_sid) and (queue_name is None or q.friendly_name == queue_name)]
    members = {w.sid for q in queues for w in domain.queue_members(q)}

    def keep(worker: Worker) -> bool:
        return ((name is None or worker.friendly_name.casefold() == name.casefold())
                and (activity_name is None or worker.activity.friendly_name == activity_name)
                and (activity_sid is None or worker.activity.sid == activity_sid)
                and (available is None or worker.available == available)
                and (predicate is None or predicate(worker.attributes_dict))
                and (queue_sid is None and queue_name is None or worker.sid in members))

    return keep


async def list_workers(request: web.Request) -> web.Response:
    domain = _domain(request)
    keep = _worker_filter(request, domain)
    workers = [w for w in domain.workers.values() if keep(w)]
    if request.query.get("Ordering", "").lower() == "datecreated:desc":
        workers.reverse()
    records = [worker_json(domain, w, account_of(request)) for w in workers]
    return page(request, "workers", records, max_page_size=MAX_PAGE_SIZE)


async def fetch_worker(request: web.Request) -> web.Response:
    domain = _domain(request)
    return respond(worker_json(domain, domain.worker(request.match_info["sid"]), account_of(request)))


async def update_worker(request: web.Request) -> web.Response:
    domain = _domain(request)
    worker = domain.worker(request.match_info["sid"])
    form = await read_form(request)
    domain.update_worker(
        worker,
        activity_sid=form.get("ActivitySid"),
        attributes=form.get("Attributes"),
        friendly_name=form.get("FriendlyName"),
        reject_pending_reservations=bool(bool_param(form.get("RejectPendingReservations"))),
    )
    return respond(worker_json(domain, worker, account_of(request)))


async def list_queues(request: web.Request) -> web.Response:
    domain = _domain(request)
    name = request.query.get("FriendlyName")
    records = [queue_json(domain, q, account_of(request)) for q in domain.queues.values()
               if name is None or q.friendly_name == name]
    return page(request, "task_queues", records, max_page_size=MAX_PAGE_SIZE)


async def fetch_queue(request: web.Request) -> web.Response:
    domain = _domain(request)
    return respond(queue_json(domain, domain.queue(request.match_info["sid"]), account_of(request)))


def _workflow(request: web.Request, domain: TaskRouterDomain, workflow: Workflow) -> dict[str, Any]:
    return workflow_json(domain, workflow, account_of(request), world_of(request).config.reservation_timeout)


async def list_workflows(request: web.Request) -> web.Response:
    domain = _domain(request)
    name = request.query.get("FriendlyName")
    records = [_workflow(request, domain, w) for w in domain.workflows.values()
               if name is None or w.friendly_name == name]
    return page(request, "workflows", records, max_page_size=MAX_PAGE_SIZE)


async def fetch_workflow(request: web.Request) -> web.Response:
    domain = _domain(request)
    return respond(_workflow(request, domain, domain.workflow(request.match_info["sid"])))


async def list_channels(request: web.Request) -> web.Response:
    domain = _domain(request)
    records = [channel_json(domain, c, account_of(request)) for c in domain.channels.values()]
    return page(request, "channels", records, max_page_size=MAX_PAGE_SIZE)


async def fetch_channel(request: web.Request) -> web.Response:
    domain = _domain(request)
    sid = request.match_info["sid"]
    channel = next((c for c in domain.channels.values() if sid in (c.sid, c.unique_name)), None)
    if channel is None:
        raise domain.missing("TaskChannels", sid)
    return respond(channel_json(domain, channel, account_of(request)))


# ---------------------------------------------------------------------- tasks


def _compile(expression: str) -> Callable[[Any], bool]:
    try:
        return compile_expression(expression)
    except ExpressionError as error:
        raise invalid(str(error)) from None


def _statuses(values: list[str]) -> set[str]:
    # The SDK repeats the key; a comma list is accepted too.
    return {part.strip() for value in values for part in value.split(",") if part.strip()}


_ORDER_KEYS: dict[str, Callable[[Task], Any]] = {
    "datecreated": lambda t: (t.created, t.seq),
    "virtualstarttime": lambda t: (t.created, t.seq),
    "priority": lambda t: t.priority,
}


def _ordered(tasks: list[Task], ordering: str | None) -> list[Task]:
    ordered = sorted(tasks, key=lambda t: t.seq)
    clauses = [c.strip() for c in (ordering or "DateCreated:asc").split(",") if c.strip()]
    for clause in reversed(clauses):  # stable sorts, last key first
        field_name, _, direction = clause.partition(":")
        key = _ORDER_KEYS.get(field_name.strip().lower())
        if key is None or direction.strip().lower() not in ("asc", "desc", ""):
            raise invalid(f"Invalid Ordering '{ordering}'")
        ordered.sort(key=key, reverse=direction.strip().lower() == "desc")
    return ordered


async def list_tasks(request: web.Request) -> web.Response:
    domain = _domain(request)
    query = request.query
    statuses = _statuses(query.getall("AssignmentStatus", []))
    expression = query.get("EvaluateTaskAttributes")
    if expression:
        _within_the_limit(domain)
    predicate = _compile(expression) if expression else None
    priority = _int(query.get("Priority"), "Priority")
    has_addons = bool_param(query.get("HasAddons"))

    def keep(task: Task) -> bool:
        queue = task.queue
        return ((not statuses or task.assignment_status in statuses)
                and (query.get("WorkflowSid") is None or task.workflow.sid == query["WorkflowSid"])
                and (query.get("WorkflowName") is None or task.workflow.friendly_name == query["WorkflowName"])
                and (query.get("TaskQueueSid") is None or (queue is not None and queue.sid == query["TaskQueueSid"]))
                and (query.get("TaskQueueName") is None
                     or (queue is not None and queue.friendly_name == query["TaskQueueName"]))
                and (query.get("RoutingTarget") is None or task.routing_target == query["RoutingTarget"])
                and (priority is None or task.priority == priority)
                and not has_addons
                and (predicate is None or predicate(task.attributes)))

    tasks = _ordered([t for t in domain.tasks.values() if keep(t)], query.get("Ordering"))
    now = world_of(request).now()
    # Attributes are returned in lists too: the seed plugin reads them from the list result.
    records = [task_json(domain, t, account_of(request), now) for t in tasks]
    return page(request, "tasks", records, max_page_size=MAX_PAGE_SIZE)


def _within_the_limit(domain: TaskRouterDomain) -> None:
    """TaskRouter's 3 task lists with EvaluateTaskAttributes a second per account: above it, 429 and Retry-After."""
    limit = domain.world.config.task_list_per_second
    if limit is None:
        return
    now = asyncio.get_running_loop().time()
    recent = domain.task_lists
    while recent and recent[0] <= now - 1.0:
        recent.popleft()
    if len(recent) >= limit:
        wait = max(1, math.ceil(recent[0] + 1.0 - now))
        raise TwilioError(429, 20429, "Too many requests", {"Retry-After": str(wait)})
    recent.append(now)


def _task_response(request: web.Request, domain: TaskRouterDomain, task: Task, status: int = 200) -> web.Response:
    body = task_json(domain, task, account_of(request), world_of(request).now())
    return web.json_response(body, status=status, headers={"ETag": task.etag})


async def create_task(request: web.Request) -> web.Response:
    domain = _domain(request)
    form = await read_form(request)
    workflow_sid = form.get("WorkflowSid")
    if workflow_sid is None:
        if len(domain.workflows) != 1:
            raise invalid("WorkflowSid is required when the Workspace has several Workflows")
        workflow_sid = next(iter(domain.workflows))
    target = form.get("RoutingTarget")
    if target is not None and not target.startswith(("WK", "WQ", "WW")):
        raise invalid(f"RoutingTarget '{target}' is not a Worker, TaskQueue or Workflow SID")
    task = domain.create_task(
        form.get("Attributes", "{}"),
        workflow_sid=target if target and target.startswith("WW") else workflow_sid,
        task_channel=form.get("TaskChannel", "default"),
        worker_sid=target if target and target.startswith("WK") else None,
        queue_sid=target if target and target.startswith("WQ") else None,
        priority=_int(form.get("Priority"), "Priority") or 0,
        timeout=_int(form.get("Timeout"), "Timeout") or DEFAULT_TASK_TIMEOUT,
    )
    return _task_response(request, domain, task, status=201)


async def fetch_task(request: web.Request) -> web.Response:
    domain = _domain(request)
    return _task_response(request, domain, domain.task(request.match_info["sid"]))


async def update_task(request: web.Request) -> web.Response:
    domain = _domain(request)
    task = domain.task(request.match_info["sid"])
    form = await read_form(request)
    domain.update_task(
        task,
        assignment_status=form.get("AssignmentStatus"),
        reason=form.get("Reason"),
        attributes=form.get("Attributes"),
        priority=_int(form.get("Priority"), "Priority"),
        task_channel=form.get("TaskChannel"),
        if_match=request.headers.get("If-Match"),
    )
    return _task_response(request, domain, task)


async def delete_task(request: web.Request) -> web.Response:
    domain = _domain(request)
    domain.delete_task(domain.task(request.match_info["sid"]), if_match=request.headers.get("If-Match"))
    return web.Response(status=204)


# ---------------------------------------------------------------------- reservations


def _scope(request: web.Request, domain: TaskRouterDomain) -> tuple[list[Reservation], bool]:
    """The reservations under the task or worker in the path, and whether it is the worker's."""
    if "task" in request.match_info:
        return domain.task(request.match_info["task"]).reservations, False
    return domain.worker(request.match_info["worker"]).reservations, True


async def list_reservations(request: web.Request) -> web.Response:
    domain = _domain(request)
    reservations, via_worker = _scope(request, domain)
    status = request.query.get("ReservationStatus")
    worker_sid = request.query.get("WorkerSid")
    records = [reservation_json(domain, r, account_of(request), via_worker) for r in reservations
               if (status is None or r.status == status) and (worker_sid is None or r.worker.sid == worker_sid)]
    return page(request, "reservations", records, max_page_size=MAX_PAGE_SIZE)


def _reservation(request: web.Request, domain: TaskRouterDomain) -> tuple[Reservation, bool]:
    reservations, via_worker = _scope(request, domain)
    sid = request.match_info["sid"]
    reservation = next((r for r in reservations if r.sid == sid), None)
    if reservation is None:
        raise domain.missing("Reservations", sid)
    return reservation, via_worker


def _reservation_response(request: web.Request, domain: TaskRouterDomain, reservation: Reservation,
                          via_worker: bool) -> web.Response:
    body = reservation_json(domain, reservation, account_of(request), via_worker)
    return web.json_response(body, headers={"ETag": reservation.etag})


async def fetch_reservation(request: web.Request) -> web.Response:
    domain = _domain(request)
    reservation, via_worker = _reservation(request, domain)
    return _reservation_response(request, domain, reservation, via_worker)


async def update_reservation(request: web.Request) -> web.Response:
    domain = _domain(request)
    reservation, via_worker = _reservation(request, domain)
    form = await read_form(request)
    status = form.get("ReservationStatus")
    if status is not None:
        domain.update_reservation(reservation, status, worker_activity_sid=form.get("WorkerActivitySid"),
                                  if_match=request.headers.get("If-Match"))
    elif form.get("WorkerActivitySid") is not None:
        domain.update_worker(reservation.worker, activity_sid=form["WorkerActivitySid"])
    return _reservation_response(request, domain, reservation, via_worker)


def add_routes(app: web.Application) -> None:
    ws = "/v1/Workspaces/{ws}"
    router = app.router
    router.add_get("/v1/Workspaces", list_workspaces)
    router.add_get(ws, fetch_workspace)
    router.add_post(ws, update_workspace)
    router.add_get(f"{ws}/Activities", list_activities)
    router.add_get(f"{ws}/Activities/{{sid}}", fetch_activity)
    router.add_get(f"{ws}/Workers", list_workers)
    router.add_get(f"{ws}/Workers/{{sid}}", fetch_worker)
    router.add_post(f"{ws}/Workers/{{sid}}", update_worker)
    router.add_get(f"{ws}/Workers/{{worker}}/Reservations", list_reservations)
    router.add_get(f"{ws}/Workers/{{worker}}/Reservations/{{sid}}", fetch_reservation)
    router.add_post(f"{ws}/Workers/{{worker}}/Reservations/{{sid}}", update_reservation)
    router.add_get(f"{ws}/TaskQueues", list_queues)
    router.add_get(f"{ws}/TaskQueues/{{sid}}", fetch_queue)
    router.add_get(f"{ws}/Workflows", list_workflows)
    router.add_get(f"{ws}/Workflows/{{sid}}", fetch_workflow)
    router.add_get(f"{ws}/TaskChannels", list_channels)
    router.add_get(f"{ws}/TaskChannels/{{sid}}", fetch_channel)
    router.add_get(f"{ws}/Tasks", list_tasks)
    router.add_post(f"{ws}/Tasks", create_task)
    router.add_get(f"{ws}/Tasks/{{sid}}", fetch_task)
    router.add_post(f"{ws}/Tasks/{{sid}}", update_task)
    router.add_delete(f"{ws}/Tasks/{{sid}}", delete_task)
    router.add_get(f"{ws}/Tasks/{{task}}/Reservations", list_reservations)
    router.add_get(f"{ws}/Tasks/{{task}}/Reservations/{{sid}}", fetch_reservation)
    router.add_post(f"{ws}/Tasks/{{task}}/Reservations/{{sid}}", update_reservation)
