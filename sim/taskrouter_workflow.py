"""TaskRouter's workflow evaluation: the queue a task goes to, and the only workers it may be offered to.

Filters are tried in order; the first whose expression matches the task's attributes and that has a
usable target wins, else the default filter's queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.expressions import ExpressionError, evaluate
from sim.taskrouter_models import Task, TaskQueue

if TYPE_CHECKING:
    from sim.taskrouter import TaskRouterDomain

# The queue, and the SIDs of the only workers it may go to (None: any of the queue's workers).
Target = tuple[TaskQueue | None, list[str] | None]


def matches(expression: str, document: dict[str, Any]) -> bool:
    try:
        return evaluate(expression, document)
    except ExpressionError:
        return False  # TaskRouter refuses to save a workflow with a bad expression; never route on one


def default_queue(domain: TaskRouterDomain, task: Task) -> TaskQueue | None:
    default = task.workflow.configuration.get("task_routing", {}).get("default_filter", {})
    return domain.queues.get(default.get("queue", ""))


def evaluate_workflow(domain: TaskRouterDomain, task: Task) -> Target:
    routing = task.workflow.configuration.get("task_routing", {})
    for workflow_filter in routing.get("filters", []):
        if not matches(workflow_filter.get("expression", ""), task.attributes):
            continue
        for target in workflow_filter.get("targets", []):
            queue = domain.queues.get(target.get("queue", ""))
            if queue is None:
                continue
            if "known_worker_sid" in target:
                sid = _task_reference(target["known_worker_sid"], task.attributes)
                if sid in domain.workers:
                    return queue, [sid]
                continue  # no such worker: the target cannot take the task
            if "known_worker_friendly_name" in target:
                name = _task_reference(target["known_worker_friendly_name"], task.attributes)
                named = domain.worker_named(str(name))
                if named is not None:
                    return queue, [named.sid]
                continue
            return queue, None
    return default_queue(domain, task), None


def _task_reference(reference: str, attributes: dict[str, Any]) -> Any:
    """Resolve a workflow value such as "task.KnownAgentWorkerSid" against the task's attributes."""
    if not reference.startswith("task."):
        return reference
    value: Any = attributes
    for part in reference.removeprefix("task.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
