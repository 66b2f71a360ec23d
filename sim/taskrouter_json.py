"""TaskRouter v1, the JSON Twilio answers for each resource (taskrouter.twilio.com/v1/Workspaces/{WorkspaceSid}/…)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sim.taskrouter_models import Activity, Reservation, Task, TaskChannel, TaskQueue, Worker, Workflow
from sim.wire import absolute, iso

if TYPE_CHECKING:
    from sim.taskrouter import TaskRouterDomain


def _ws_url(domain: TaskRouterDomain, tail: str = "") -> str:
    return absolute(f"/v1/Workspaces/{domain.workspace_sid}{tail}")


def workspace_json(domain: TaskRouterDomain, account_sid: str) -> dict[str, Any]:
    links = {name: _ws_url(domain, f"/{path}") for name, path in (
        ("activities", "Activities"), ("statistics", "Statistics"), ("real_time_statistics", "RealTimeStatistics"),
        ("cumulative_statistics", "CumulativeStatistics"), ("task_queues", "TaskQueues"), ("tasks", "Tasks"),
        ("workers", "Workers"), ("workflows", "Workflows"), ("task_channels", "TaskChannels"), ("events", "Events"))}
    return {
        "account_sid": account_sid,
        "date_created": iso(domain.created),
        "date_updated": iso(domain.created),
        "default_activity_name": domain.default_activity.friendly_name,
        "default_activity_sid": domain.default_activity.sid,
        "event_callback_url": domain.event_callback_url,
        "events_filter": ",".join(domain.events_filter) if domain.events_filter else None,
        "friendly_name": domain.friendly_name,
        "links": links,
        "multi_task_enabled": True,
        "prioritize_queue_order": "FIFO",
        "sid": domain.workspace_sid,
        "timeout_activity_name": domain.timeout_activity.friendly_name,
        "timeout_activity_sid": domain.timeout_activity.sid,
        "url": _ws_url(domain),
    }


def activity_json(domain: TaskRouterDomain, activity: Activity, account_sid: str) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "available": activity.available,
        "date_created": iso(activity.created),
        "date_updated": iso(activity.created),
        "friendly_name": activity.friendly_name,
        "sid": activity.sid,
        "workspace_sid": domain.workspace_sid,
        "url": _ws_url(domain, f"/Activities/{activity.sid}"),
        "links": {"workspace": _ws_url(domain)},
    }


def worker_json(domain: TaskRouterDomain, worker: Worker, account_sid: str) -> dict[str, Any]:
    url = _ws_url(domain, f"/Workers/{worker.sid}")
    return {
        "account_sid": account_sid,
        "activity_name": worker.activity.friendly_name,
        "activity_sid": worker.activity.sid,
        "attributes": worker.attributes,
        "available": worker.available,
        "date_created": iso(worker.created),
        "date_status_changed": iso(worker.status_changed),
        "date_updated": iso(worker.updated),
        "friendly_name": worker.friendly_name,
        "sid": worker.sid,
        "workspace_sid": domain.workspace_sid,
        "url": url,
        "links": {
            "channels": f"{url}/Channels",
            "activity": _ws_url(domain, f"/Activities/{worker.activity.sid}"),
            "workspace": _ws_url(domain),
            "reservations": f"{url}/Reservations",
            "worker_channels": f"{url}/Channels",
            "worker_statistics": f"{url}/Statistics",
        },
    }


def queue_json(domain: TaskRouterDomain, queue: TaskQueue, account_sid: str) -> dict[str, Any]:
    url = _ws_url(domain, f"/TaskQueues/{queue.sid}")
    return {
        "account_sid": account_sid,
        "assignment_activity_name": None,
        "assignment_activity_sid": None,
        "date_created": iso(queue.created),
        "date_updated": iso(queue.created),
        "friendly_name": queue.friendly_name,
        "max_reserved_workers": 1,
        "reservation_activity_name": None,
        "reservation_activity_sid": None,
        "sid": queue.sid,
        "target_workers": queue.target_workers,
        "task_order": "FIFO",
        "url": url,
        "workspace_sid": domain.workspace_sid,
        "links": {"workspace": _ws_url(domain), "statistics": f"{url}/Statistics",
                  "real_time_statistics": f"{url}/RealTimeStatistics",
                  "cumulative_statistics": f"{url}/CumulativeStatistics"},
    }


def workflow_json(domain: TaskRouterDomain, workflow: Workflow, account_sid: str, timeout: float) -> dict[str, Any]:
    url = _ws_url(domain, f"/Workflows/{workflow.sid}")
    return {
        "account_sid": account_sid,
        "assignment_callback_url": None,
        "configuration": json.dumps(workflow.configuration),
        "date_created": iso(workflow.created),
        "date_updated": iso(workflow.created),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": None,
        "friendly_name": workflow.friendly_name,
        "sid": workflow.sid,
        "task_reservation_timeout": int(timeout),
        "workspace_sid": domain.workspace_sid,
        "url": url,
        "links": {"statistics": f"{url}/Statistics", "real_time_statistics": f"{url}/RealTimeStatistics",
                  "cumulative_statistics": f"{url}/CumulativeStatistics"},
    }


def channel_json(domain: TaskRouterDomain, channel: TaskChannel, account_sid: str) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "date_created": iso(channel.created),
        "date_updated": iso(channel.created),
        "friendly_name": channel.friendly_name,
        "sid": channel.sid,
        "unique_name": channel.unique_name,
        "workspace_sid": domain.workspace_sid,
        "channel_optimized_routing": None,
        "url": _ws_url(domain, f"/TaskChannels/{channel.sid}"),
        "links": {"workspace": _ws_url(domain)},
    }


def task_json(domain: TaskRouterDomain, task: Task, account_sid: str, now: float) -> dict[str, Any]:
    url = _ws_url(domain, f"/Tasks/{task.sid}")
    links = {"workflow": _ws_url(domain, f"/Workflows/{task.workflow.sid}"), "workspace": _ws_url(domain),
             "reservations": f"{url}/Reservations"}
    if task.queue is not None:
        links["task_queue"] = _ws_url(domain, f"/TaskQueues/{task.queue.sid}")
    return {
        "account_sid": account_sid,
        "age": int(now - task.created),
        "assignment_status": task.assignment_status,
        "attributes": task.attributes_text,
        "addons": "{}",
        "date_created": iso(task.created),
        "date_updated": iso(task.updated),
        "task_queue_entered_date": iso(task.queue_entered) if task.queue_entered is not None else None,
        "priority": task.priority,
        "reason": task.reason,
        "sid": task.sid,
        "task_queue_sid": task.queue.sid if task.queue else None,
        "task_queue_friendly_name": task.queue.friendly_name if task.queue else None,
        "task_channel_sid": task.channel.sid,
        "task_channel_unique_name": task.channel.unique_name,
        "timeout": task.timeout,
        "workflow_sid": task.workflow.sid,
        "workflow_friendly_name": task.workflow.friendly_name,
        "workspace_sid": domain.workspace_sid,
        "url": url,
        "links": links,
        "virtual_start_time": iso(task.created),
        "ignore_capacity": False,
        "routing_target": task.routing_target,
    }


def reservation_json(domain: TaskRouterDomain, reservation: Reservation, account_sid: str,
                     via_worker: bool = False) -> dict[str, Any]:
    task_url = _ws_url(domain, f"/Tasks/{reservation.task.sid}")
    worker_url = _ws_url(domain, f"/Workers/{reservation.worker.sid}")
    return {
        "account_sid": account_sid,
        "date_created": iso(reservation.created),
        "date_updated": iso(reservation.updated),
        "reservation_status": reservation.status,
        "sid": reservation.sid,
        "task_sid": reservation.task.sid,
        "worker_name": reservation.worker.friendly_name,
        "worker_sid": reservation.worker.sid,
        "workspace_sid": domain.workspace_sid,
        "url": f"{worker_url if via_worker else task_url}/Reservations/{reservation.sid}",
        "links": {"task": task_url, "worker": worker_url, "workspace": _ws_url(domain)},
    }
