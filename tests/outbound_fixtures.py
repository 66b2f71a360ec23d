"""Fixtures and helpers for the outbound service tests: real settings, the real gateway, the simulator.

Import the fixtures into a test module (`from tests.outbound_fixtures import make_service, service`);
the helpers look at the simulator through the twilio SDK (the `client` fixture) where the API shows
the state, and through the request log (`sim.world.log`) for what core sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from twilio.rest import Client

from core.gateway import TwilioGateway
from core.twilio_client import open_client
from core.models import SendMode, SendRequest, prepare_send
from core.outbound import OutboundService
from core.settings import Settings, load_settings
from sim import seed
from sim.knobs import LoggedRequest
from sim.server import Simulator

ALICE, BOB, CAROL, DAVE = seed.WORKERS
JANE, OMAR, MEI = seed.CUSTOMERS[:3]  # Jane and Mei wrote to our WhatsApp number lately (window open); Omar did not
SMS_SENDER = seed.SMS_SENDERS[0]
WA_SENDER = seed.WHATSAPP_SENDERS[0]
WS = seed.WORKSPACE_SID

MESSAGES = r"/v1/Conversations/CH[0-9a-f]{32}/Messages"
WEBHOOKS = r"/v1/Conversations/CH[0-9a-f]{32}/Webhooks"
CWP = "/v1/ConversationWithParticipants"
INTERACTIONS = "/v1/Interactions"

_SID = re.compile(r"([A-Z]{2})[0-9a-f]{32}")

MakeService = Callable[..., Awaitable[OutboundService]]


def project_settings(tmp_path: Path, **groups: dict[str, Any]) -> Settings:
    """settings.toml's defaults, nothing from this machine; `groups` override keys, e.g. ui={"phone_region": "GB"}."""
    settings = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}, cwd=tmp_path)
    updates = {name: getattr(settings, name).model_copy(update=values) for name, values in groups.items()}
    return settings.model_copy(update=updates)


def settings_for(sim: Simulator, tmp_path: Path, identity: str = ALICE.friendly_name,
                 auth_token: str = seed.DEMO_AUTH_TOKEN, **groups: dict[str, Any]) -> Settings:
    """The project's settings pointed at this simulator, signed in as `identity`; `groups` as project_settings."""
    return settings_for_url(sim.base_url, tmp_path, identity, auth_token, **groups)


def settings_for_url(base_url: str, tmp_path: Path, identity: str = ALICE.friendly_name,
                     auth_token: str = seed.DEMO_AUTH_TOKEN, **groups: dict[str, Any]) -> Settings:
    """settings_for a simulator known by its URL only (from another process)."""
    return project_settings(tmp_path, agent={"identity": identity}, twilio={
        "account_sid": seed.ACCOUNT_SID, "auth_token": SecretStr(auth_token), "base_url": base_url}, **groups)


@pytest.fixture
async def make_service(sim: Simulator, tmp_path: Path) -> AsyncIterator[MakeService]:
    """`await make_service(identity=..., deadline=...)`: an OutboundService for that agent, on its own client."""
    async with AsyncExitStack() as stack:

        async def make(identity: str = ALICE.friendly_name, deadline: float = 5.0) -> OutboundService:
            settings = settings_for(sim, tmp_path, identity)
            client = await stack.enter_async_context(open_client(settings))
            gateway = TwilioGateway(client, settings, deadline=deadline)
            return OutboundService(gateway, await gateway.fetch_agent())

        yield make


@pytest.fixture
async def service(make_service: MakeService) -> OutboundService:
    """Alice's service: the seeded default agent."""
    return await make_service()


def draft(service: OutboundService, mode: SendMode | str, *, destination: str = JANE.address,
          sender: str = SMS_SENDER, channel: str = "sms", body: str | None = "Hello from Flex",
          **extra: Any) -> SendRequest:
    """A validated send request for `service`'s configured senders."""
    return prepare_send(channel=channel, destination=destination, sender=sender, mode=mode,
                        senders=service.gateway.settings.senders, body=body, **extra)


# -- the request log -------------------------------------------------------------------------------


def overlap(a: LoggedRequest, b: LoggedRequest) -> bool:
    return a.started < b.started + b.duration and b.started < a.started + a.duration


def twilio_requests(sim: Simulator, since: int = 0) -> list[LoggedRequest]:
    return [e for e in sim.world.log[since:] if not e.path.startswith("/_sim/")]


def calls(entries: Sequence[LoggedRequest]) -> list[str]:
    """`METHOD /path` with SIDs shortened to their prefix, for readable assertions."""
    return [e.method + " " + _SID.sub(r"\1", e.path) for e in entries]


def json_param(entry: LoggedRequest, name: str) -> Any:
    value = entry.param(name)
    return json.loads(value) if value is not None else None


# -- what Twilio holds, through the SDK ----------------------------------------------------------


async def tasks_for(client: Client, conversation_sid: str) -> list[Any]:
    return await client.taskrouter.v1.workspaces(WS).tasks.list_async(
        evaluate_task_attributes=f'conversationSid == "{conversation_sid}"')


async def holding_worker(client: Client, task_sid: str) -> str | None:
    """The worker with a pending or accepted reservation for the task."""
    reservations = await client.taskrouter.v1.workspaces(WS).tasks(task_sid).reservations.list_async()
    held = [r.worker_sid for r in reservations if r.reservation_status in ("pending", "accepted")]
    assert len(held) <= 1, held
    return held[0] if held else None


async def accept(client: Client, task_sid: str) -> None:
    """The holder accepts the task's pending reservation (Flex then adds them to the conversation)."""
    reservations = await client.taskrouter.v1.workspaces(WS).tasks(task_sid).reservations.list_async(
        reservation_status="pending")
    assert len(reservations) == 1
    await client.taskrouter.v1.workspaces(WS).tasks(task_sid).reservations(reservations[0].sid).update_async(
        reservation_status="accepted")


async def conversation_attributes(client: Client, conversation_sid: str) -> dict[str, Any]:
    conversation = await client.conversations.v1.conversations(conversation_sid).fetch_async()
    return json.loads(conversation.attributes)


async def messages_in(client: Client, conversation_sid: str) -> list[Any]:
    return await client.conversations.v1.conversations(conversation_sid).messages.list_async()


async def receipt_statuses(client: Client, conversation_sid: str, message_sid: str) -> list[str]:
    receipts = await client.conversations.v1.conversations(conversation_sid).messages(message_sid) \
        .delivery_receipts.list_async()
    return [r.status for r in receipts]


async def open_conversations(client: Client, address: str, proxy_address: str) -> list[str]:
    """SIDs of the not-closed conversations holding this customer/sender pair."""
    found = await client.conversations.v1.participant_conversations.list_async(address=address)
    return [r.conversation_sid for r in found
            if (r.participant_messaging_binding or {}).get("proxy_address") == proxy_address
            and r.conversation_state != "closed"]


def until_replied(sim: Simulator) -> None:
    """Moves the simulated clock past delivery and the customer's reply."""
    config = sim.world.config
    sim.world.clock.advance(4 * config.delivery_delay + config.customer_reply_delay + 1)
