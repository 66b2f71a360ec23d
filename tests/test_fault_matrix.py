"""The fault matrix: every Twilio step of every send path × {reset, timeout, 500, 503, 429, commit-then-drop}.

Each case runs the real OutboundService (real SDK, real HTTP) against a fresh simulator, injects one fault
at one step and judges the outcome from the simulator's own state: the customer got our message once or
not at all, the agent was told which, and no active conversation of the customer is left without our
message and its reply route. bench/faults.py runs the same CASES and prints them as a table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConversationInUse, OutboundError, SendFailed
from core.gateway import TwilioGateway
from core.journal import UNKNOWN_GRACE, SendJournal, recover
from core.models import SendMode, SendResult
from core.outbound import OutboundService
from core.retry import FIRST_DELAY, MAX_DELAY, SEND_DEADLINE, now
from core.twilio_client import open_client
from sim.knobs import Fault
from sim.server import Simulator
from sim.world import SimConfig
from tests.outbound_fixtures import ALICE, BOB, CWP, INTERACTIONS, JANE, MESSAGES, SMS_SENDER, WEBHOOKS, accept, \
    draft, settings_for

# Seconds on the event loop's clock, virtual in tests (tests/virtual_time.py): they cost no real time.
DEADLINE = 10.0  # the gateway's per-request deadline, as in production
HANG = 15.0  # the simulator holds a "timeout" request this long, then does it anyway
RETRY_AFTER = 2
BODY = "Fault matrix: your appointment is confirmed."

_CH = r"CH[0-9a-f]{32}"
_WS = r"WS[0-9a-f]{32}"
CONVERSATION = rf"/v1/Conversations/{_CH}"
PARTICIPANTS = rf"/v1/Conversations/{_CH}/Participants"
PARTICIPANT_CONVERSATIONS = "/v1/ParticipantConversations"
TASKS = rf"/v1/Workspaces/{_WS}/Tasks"
RESERVATIONS = rf"/v1/Workspaces/{_WS}/Tasks/WT[0-9a-f]{{32}}/Reservations"
WORKERS = rf"/v1/Workspaces/{_WS}/Workers(/WK[0-9a-f]{{32}})?"
LIVE = ("pending", "reserved", "assigned", "wrapping")


@dataclass(frozen=True)
class Step:
    """One Twilio request of a path; `skip` = matching requests let through before the fault."""

    name: str
    method: str
    path: str
    skip: int = 0


@dataclass(frozen=True)
class SendPath:
    """A mode starting from one state of the customer's conversations (`before`)."""

    name: str
    mode: SendMode
    before: str  # nothing | waiting | waiting_no_route | unnamed | held_reserved | held_accepted
    steps: tuple[Step, ...]


INTERACTION_CREATE = Step("interaction create", "POST", INTERACTIONS)
CWP_CREATE = Step("conversation create", "POST", CWP)
WEBHOOK_CREATE = Step("webhook create", "POST", WEBHOOKS)
MESSAGE_CREATE = Step("message create", "POST", MESSAGES)
TASKS_READ = Step("tasks read", "GET", TASKS)
WEBHOOKS_READ = Step("webhooks read", "GET", WEBHOOKS)
ATTRIBUTES_UPDATE = Step("attributes update", "POST", CONVERSATION)
PARTICIPANTS_READ = Step("participants read", "GET", PARTICIPANTS)
RESERVATIONS_READ = Step("reservations read", "GET", RESERVATIONS)
WORKERS_READ = Step("workers read", "GET", WORKERS)

PATHS = [
    SendPath("open_chat", SendMode.OPEN_CHAT, "nothing", (INTERACTION_CREATE, MESSAGE_CREATE)),
    SendPath("wait_me", SendMode.WAIT_ME, "nothing", (CWP_CREATE, WEBHOOK_CREATE, MESSAGE_CREATE)),
    SendPath("wait_any", SendMode.WAIT_ANY, "nothing", (CWP_CREATE, WEBHOOK_CREATE, MESSAGE_CREATE)),
    SendPath("open_chat reuse", SendMode.OPEN_CHAT, "waiting",
             (INTERACTION_CREATE, TASKS_READ, WEBHOOKS_READ, Step("interaction attach", "POST", INTERACTIONS, skip=1),
              MESSAGE_CREATE)),
    SendPath("open_chat refused", SendMode.OPEN_CHAT, "held_reserved",
             (INTERACTION_CREATE, TASKS_READ, PARTICIPANTS_READ, RESERVATIONS_READ, WORKERS_READ)),
    SendPath("wait_me reuse", SendMode.WAIT_ME, "waiting",
             (CWP_CREATE, TASKS_READ, WEBHOOKS_READ, ATTRIBUTES_UPDATE, MESSAGE_CREATE)),
    SendPath("wait_any reuse", SendMode.WAIT_ANY, "waiting",
             (CWP_CREATE, TASKS_READ, WEBHOOKS_READ, ATTRIBUTES_UPDATE, MESSAGE_CREATE)),
    SendPath("wait_me reuse, no route", SendMode.WAIT_ME, "waiting_no_route",
             (ATTRIBUTES_UPDATE, WEBHOOK_CREATE, MESSAGE_CREATE)),
    SendPath("wait_any reuse, unnamed", SendMode.WAIT_ANY, "unnamed",
             (Step("conversation lookup", "GET", PARTICIPANT_CONVERSATIONS),)),
    SendPath("wait_me reuse, live task", SendMode.WAIT_ME, "held_accepted",
             (TASKS_READ, PARTICIPANTS_READ, WORKERS_READ, ATTRIBUTES_UPDATE, MESSAGE_CREATE)),
]

FAULTS: dict[str, dict[str, Any]] = {
    "reset": {"kind": "reset"},
    "timeout": {"kind": "timeout", "hang": HANG},
    "500": {"kind": "status", "status": 500},
    "503": {"kind": "status", "status": 503, "code": 20503},
    "429": {"kind": "status", "status": 429, "code": 20429, "retry_after": RETRY_AFTER},
    "drop": {"kind": "drop"},
}


@dataclass(frozen=True)
class Case:
    path: SendPath
    step: Step
    fault: str

    @property
    def id(self) -> str:
        return f"{self.path.name}-{self.step.name}-{self.fault}".replace(" ", "_").replace(",", "")


UNKNOWN = "drop, reads fail"  # a create done and its answer lost, and every read after it failing: nothing to look at
CASES = [Case(path, step, fault) for path in PATHS for step in path.steps for fault in FAULTS]
# the outcome Twilio leaves unknown, for every create of every path: kept in the journal, settled by a later look-up
UNKNOWN_CASES = [Case(path, step, UNKNOWN) for path in PATHS for step in path.steps if step.method == "POST"]


class NthFault(Fault):
    """A fault that lets the first `skip` matching requests through (e.g. the second Interactions create)."""

    def __init__(self, path: str, skip: int, **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self.skip = skip

    def matches(self, method: str, path: str) -> bool:
        if not super().matches(method, path):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        return True


class AfterFault(Fault):
    """A fault that acts only once `trigger` has fired (the reads after a create, not those before it)."""

    def __init__(self, trigger: Fault, path: str, **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self.trigger = trigger

    def matches(self, method: str, path: str) -> bool:
        return self.trigger.times == 0 and super().matches(method, path)


@dataclass
class Verdict:
    """How a case ended: `outcome` for the table, `problems` (empty when all is well) by kind."""

    case: Case
    outcome: str
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        return self.duplicates + self.orphans + self.lost + self.other


MakeService = Callable[[str, float], Awaitable[OutboundService]]


async def run_case(sim: Simulator, workdir: Path, case: Case) -> Verdict:
    """One case on a fresh simulator: prepare the customer's conversations, inject the fault, send, judge."""
    started = now()
    async with AsyncExitStack() as stack:

        async def make(identity: str, deadline: float) -> OutboundService:
            settings = settings_for(sim, workdir, identity)
            client = await stack.enter_async_context(open_client(settings))
            gateway = TwilioGateway(client, settings, deadline=deadline)
            return OutboundService(gateway, await gateway.fetch_agent())

        alice = await make(ALICE.friendly_name, DEADLINE)
        await _prepare(sim, case.path.before, alice, make)
        delivered = record_deliveries(sim)
        mark = len(sim.world.log)
        before = {c.sid: {t.sid for t in sim.world.taskrouter.tasks_for_conversation(c.sid) if t.live}
                  for c in _pair_conversations(sim)}
        journal = alice.journal = SendJournal(":memory:", alice.agent.sid)
        fault = sim.world.faults.add(NthFault(case.step.path, case.step.skip, method=case.step.method,
                                              **FAULTS.get(case.fault, {"kind": "drop"})))
        if case.fault == UNKNOWN:
            sim.world.faults.add(AfterFault(fault, ".*", method="GET", status=503, times=None))
        outcome: SendResult | BaseException
        try:
            outcome = await alice.send(draft(alice, case.path.mode, body=BODY))
        except BaseException as error:  # judged below: only OutboundError may reach the agent
            outcome = error
        await _settled(sim, mark)
        fired = fault not in sim.world.faults.rules
        sim.world.faults.clear()
        await asyncio.sleep(UNKNOWN_GRACE)  # (virtual) until a request given up on can no longer be carried out
        settled = await recover(alice, journal, unknown_only=True)  # Twilio answers again: the next look-up
        verdict = _judge(sim, case, outcome, before, mark, delivered)
        if not fired:
            verdict.other.append(f"the fault at {case.step.name} never fired")
        if journal.unfinished():
            verdict.other.append("the send is still in the journal after a look-up that could see everything")
        if settled and not (isinstance(outcome, SendFailed) and not outcome.checked):
            verdict.other.append(f"a send with a known outcome was left in the journal: {settled[0].sentence}")
    verdict.seconds = now() - started
    return verdict


async def _prepare(sim: Simulator, before: str, alice: OutboundService, make: MakeService) -> None:
    if before in ("waiting", "waiting_no_route", "unnamed"):
        earlier = await alice.send(draft(alice, SendMode.WAIT_ANY, body="An earlier message"))
        if before == "waiting_no_route":
            conversation = sim.world.conversations.conversation(earlier.conversation_sid)
            for webhook in list(conversation.webhooks.values()):
                sim.world.conversations.delete_webhook(conversation.sid, webhook.sid)
        if before == "unnamed":  # Twilio's duplicate-binding error that does not name the conversation
            sim.fault(CWP, method="POST", status=409, code=50425,
                      message="One or more participants already have a binding with this proxy address")
    elif before in ("held_reserved", "held_accepted"):
        bob = await make(BOB.friendly_name, 5.0)
        held = await bob.send(draft(bob, SendMode.OPEN_CHAT, body="Bob here"))
        if before == "held_accepted":
            await accept(bob.gateway.client, held.task_sid or "")


async def _settled(sim: Simulator, mark: int, limit: float = 2 * HANG) -> None:
    """Waits until the simulator has finished every request of the send, hung ones included."""
    ends = now() + limit
    # a reset or dropped request is over when its connection is cut: only hung ones still run
    while any(e.status is None and e.fault not in ("drop", "reset") for e in sim.world.log[mark:]) and now() < ends:
        await asyncio.sleep(0.1)


def record_deliveries(sim: Simulator) -> list[Any]:
    """Every message the simulator hands to the SMS/WhatsApp side from now on: what reached a customer."""
    delivery = sim.world.conversations.delivery
    handed: list[Any] = []
    original = delivery.send

    def send(message: Any, recipients: list[Any], template: Any) -> None:
        handed.append(message)
        original(message, recipients, template)

    delivery.send = send  # type: ignore[method-assign]
    return handed


def _pair_conversations(sim: Simulator) -> list[Any]:
    return [c for c in sim.world.conversations.conversations.values()
            if c.state != "closed" and c.holds(JANE.address, SMS_SENDER)]


def _judge(sim: Simulator, case: Case, outcome: SendResult | BaseException, before: dict[str, set[str]],
           mark: int, delivered: list[Any]) -> Verdict:
    posted = [m for m in delivered if m.body == BODY]
    sent = len(posted)
    warned = isinstance(outcome, SendFailed) and outcome.reached_customer and "reach no agent" in str(outcome)
    verdict = Verdict(case, _outcome(sim, outcome, mark, warned))
    if sent > 1:
        verdict.duplicates.append(f"the customer got the message {sent} times")
    if isinstance(outcome, SendResult) or (isinstance(outcome, SendFailed) and outcome.reached_customer):
        if sent == 0:
            verdict.lost.append(f"the agent was told it was sent, but nothing reached the customer: {outcome}")
        elif isinstance(outcome, SendResult) and posted[0].sid != outcome.message_sid:
            verdict.lost.append("the result names another message than the one that reached the customer")
    elif isinstance(outcome, SendFailed) and outcome.reached_customer is None:
        pass  # the agent was told it may have reached the customer: either is true
    elif isinstance(outcome, OutboundError):
        if sent:
            verdict.lost.append(f"the agent was told it was not sent, but it reached the customer: {outcome}")
    else:
        verdict.other.append(f"not an OutboundError reached the agent: {outcome!r}")
    for conversation in _pair_conversations(sim):
        ours = [m for m in conversation.messages if m.body == BODY]
        tasks = [t for t in sim.world.taskrouter.tasks_for_conversation(conversation.sid) if t.live]
        studio = [w for w in conversation.webhooks.values() if w.target == "studio"]
        if len(studio) > 1:
            verdict.duplicates.append(f"{conversation.sid} has {len(studio)} Studio webhooks")
        if not ours:
            if conversation.sid not in before:
                verdict.orphans.append(f"{conversation.sid} was made by the send but holds no message")
            elif {t.sid for t in tasks} - before[conversation.sid]:
                verdict.orphans.append(f"{conversation.sid} got a task but no message")
            continue
        if warned:
            continue
        if case.path.mode is SendMode.OPEN_CHAT:
            routed = bool(tasks)
        else:
            attributes = json.loads(conversation.attributes or "{}")
            flag = attributes.get("KnownAgentRoutingFlag") is (case.path.mode is SendMode.WAIT_ME)
            routed = bool(tasks) or (bool(studio) and flag)
        if not routed:
            verdict.orphans.append(f"{conversation.sid} holds the message but a reply has no route")
    return verdict


def _outcome(sim: Simulator, outcome: SendResult | BaseException, mark: int, warned: bool) -> str:
    """The table's words for what the agent was told."""
    if isinstance(outcome, SendResult):
        hooks = [e for e in sim.world.log[mark:] if e.method == "POST" and e.path.endswith("/Webhooks")]
        repaired = any(e.fault is not None for e in hooks)
        return "sent once, route repaired" if repaired else "sent once"
    if warned:
        return "sent, agent warned: no reply route"
    if isinstance(outcome, SendFailed) and not outcome.checked:
        return "unknown, settled later"
    if isinstance(outcome, SendFailed) and outcome.reached_customer:
        return "sent, then failed"
    if isinstance(outcome, ConversationInUse):
        return "refused: in use"
    return "not sent" if isinstance(outcome, OutboundError) else f"crashed ({type(outcome).__name__})"


def matrix_config() -> SimConfig:
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5)


@pytest.mark.parametrize("case", CASES + UNKNOWN_CASES, ids=[c.id for c in CASES + UNKNOWN_CASES])
async def test_fault_sends_once_or_not_at_all_says_which_and_leaves_no_orphan(
    sim: Simulator, tmp_path: Path, case: Case
) -> None:
    """Every fault at every step; and every create whose outcome stays unknown, settled by a later look-up."""
    verdict = await run_case(sim, tmp_path, case)
    assert verdict.problems == [], f"{verdict.outcome}: {verdict.problems}"


def test_the_matrix_covers_every_step_of_every_path() -> None:
    assert len(CASES) > 60
    assert {c.fault for c in CASES} == set(FAULTS)
    assert {p.mode for p in PATHS} == set(SendMode)
    assert {c.step.name for c in UNKNOWN_CASES} >= {"interaction create", "conversation create", "webhook create",
                                                    "message create", "interaction attach", "attributes update"}


# == the retry rules behind the matrix ===============================================================


async def test_rate_limited_create_is_posted_again_after_its_retry_after_once(
    sim: Simulator, tmp_path: Path
) -> None:
    async with open_client(settings_for(sim, tmp_path)) as client:
        gateway = TwilioGateway(client, settings_for(sim, tmp_path), deadline=DEADLINE)
        alice = OutboundService(gateway, await gateway.fetch_agent())
        sim.fault(MESSAGES, method="POST", status=429, code=20429, retry_after=RETRY_AFTER)

        result = await alice.send(draft(alice, SendMode.WAIT_ANY, body=BODY))

    posts = sim.world.log.matching("POST", MESSAGES)
    assert [p.status for p in posts] == [429, 201]
    assert posts[1].started - posts[0].started == pytest.approx(RETRY_AFTER)  # not the 1 s default
    assert [m.sid for m in sim.world.conversations.conversation(result.conversation_sid).messages] == [
        result.message_sid]


async def test_reads_are_retried_with_backoff_then_the_send_stops_before_posting(
    sim: Simulator, tmp_path: Path
) -> None:
    async with open_client(settings_for(sim, tmp_path)) as client:
        gateway = TwilioGateway(client, settings_for(sim, tmp_path), deadline=DEADLINE)
        alice = OutboundService(gateway, await gateway.fetch_agent())
        earlier = await alice.send(draft(alice, SendMode.WAIT_ANY, body="An earlier message"))
        sim.fault(TASKS, method="GET", status=503, code=20503, times=None)

        with pytest.raises(OutboundError) as failed:
            await alice.send(draft(alice, SendMode.WAIT_ME, body=BODY))

    assert "HTTP 503" in str(failed.value)
    reads = sim.world.log.matching("GET", TASKS)
    assert len(reads) == 4  # READ_ATTEMPTS
    gaps = [b.started - a.started for a, b in zip(reads, reads[1:])]
    assert all(FIRST_DELAY / 2 <= gap <= MAX_DELAY for gap in gaps)  # backed off, with jitter
    assert [m.body for m in sim.world.conversations.conversation(earlier.conversation_sid).messages] == [
        "An earlier message"]


async def test_retries_stop_at_the_send_deadline_and_say_nothing_reached_the_customer(
    sim: Simulator, tmp_path: Path
) -> None:
    async with open_client(settings_for(sim, tmp_path)) as client:
        gateway = TwilioGateway(client, settings_for(sim, tmp_path), deadline=DEADLINE)
        alice = OutboundService(gateway, await gateway.fetch_agent())
        sim.fault(MESSAGES, method="POST", status=429, code=20429, retry_after=int(SEND_DEADLINE) + 5, times=None)
        started = now()

        with pytest.raises(SendFailed) as failed:
            await alice.send(draft(alice, SendMode.OPEN_CHAT, body=BODY))

    assert now() - started < 1.0  # a wait past the deadline is not waited
    assert failed.value.reached_customer is False
    assert str(failed.value).endswith("Nothing reached the customer.")
    assert len(sim.world.log.matching("POST", MESSAGES)) == 1
    assert _pair_conversations(sim) == []


async def test_a_conversation_an_unanswered_create_made_is_removed_when_its_message_then_fails(
    sim: Simulator, tmp_path: Path
) -> None:
    async with open_client(settings_for(sim, tmp_path)) as client:
        gateway = TwilioGateway(client, settings_for(sim, tmp_path), deadline=DEADLINE)
        alice = OutboundService(gateway, await gateway.fetch_agent())
        sim.fault(CWP, method="POST", kind="timeout", hang=HANG)
        sim.fault(MESSAGES, method="POST", status=500)

        with pytest.raises(SendFailed) as failed:
            await alice.send(draft(alice, SendMode.WAIT_ANY, body=BODY))
        await _settled(sim, 0)

    assert failed.value.reached_customer is False
    assert _pair_conversations(sim) == []
