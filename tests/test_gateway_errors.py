"""TwilioGateway's error mapping, through the real twilio SDK and the simulator's faults; Flex identities.

Create/fetch/update calls fail with the SDK's TwilioRestException, list calls with a bare
TwilioException holding the response: both must come out as the same typed domain errors.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from core.errors import AuthenticationFailed, NotFound, RateLimited, TwilioError, TwilioUnavailable
from core.gateway import TwilioGateway
from core.twilio_client import open_client
from core.identity import decode_identity, encode_identity
from core.twilio_errors import BindingTaken
from sim import seed
from sim.server import Simulator
from tests.outbound_fixtures import JANE, MESSAGES, SMS_SENDER, settings_for

MakeGateway = Callable[..., Awaitable[TwilioGateway]]
MISSING = "CH" + "0" * 32
WORKERS = f"/v1/Workspaces/{seed.WORKSPACE_SID}/Workers"
PARTICIPANT_CONVERSATIONS = "/v1/ParticipantConversations"


@pytest.fixture
async def make_gateway(sim: Simulator, tmp_path: Path) -> AsyncIterator[MakeGateway]:
    """`await make_gateway(auth_token=..., deadline=...)`: the real gateway on its own SDK client."""
    async with AsyncExitStack() as stack:

        async def make(auth_token: str = seed.DEMO_AUTH_TOKEN, deadline: float = 5.0) -> TwilioGateway:
            settings = settings_for(sim, tmp_path, auth_token=auth_token)
            return TwilioGateway(await stack.enter_async_context(open_client(settings)), settings, deadline=deadline)

        yield make


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> TwilioGateway:
    return await make_gateway()


async def a_conversation(gateway: TwilioGateway) -> str:
    return await gateway.create_conversation(JANE.address, SMS_SENDER, {})


# A create (TwilioRestException) and a list (bare TwilioException), each on its own endpoint.
async def create_call(gateway: TwilioGateway) -> object:
    return await gateway.send_message(await a_conversation(gateway), "alice_40example_2Ecom", "Hi", None, {}, "send-1")


async def list_call(gateway: TwilioGateway) -> object:
    return await gateway.find_conversation(JANE.address, SMS_SENDER)


CALLS = [pytest.param(MESSAGES, "POST", create_call, id="create"),
         pytest.param(PARTICIPANT_CONVERSATIONS, "GET", list_call, id="list")]


# -- authentication --------------------------------------------------------------------------------


async def test_wrong_credentials_are_authentication_failed_without_the_secret_anywhere(
    sim: Simulator, make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wrong-Token-Zebra-4711"
    gateway = await make_gateway(auth_token=secret)
    caplog.set_level(logging.DEBUG)
    for call in (a_conversation, TwilioGateway.fetch_agent):  # a create, then a list
        with pytest.raises(AuthenticationFailed) as failed:
            await call(gateway)
        assert failed.value.code == 20003 and failed.value.status == 401
        shown = " ".join([str(failed.value), repr(failed.value), *traceback.format_exception(failed.value)])
        assert "20003" in str(failed.value)
        encoded = base64.b64encode(f"{seed.ACCOUNT_SID}:{secret}".encode()).decode()
        for leak in (secret, encoded):
            assert leak not in shown
            assert leak not in caplog.text
    assert [e.status for e in sim.world.log] == [401, 401]


@pytest.mark.parametrize(("path", "method", "call"), CALLS)
async def test_20003_answer_is_authentication_failed(
    sim: Simulator, gateway: TwilioGateway, path: str, method: str, call: Callable[..., Awaitable[object]]
) -> None:
    sim.fault(path, method=method, status=401, code=20003, message="Authenticate")
    with pytest.raises(AuthenticationFailed, match="Twilio refused the credentials"):
        await call(gateway)


# -- not found, rate limits, outages ----------------------------------------------------------------


async def test_missing_resource_is_not_found(gateway: TwilioGateway) -> None:
    with pytest.raises(NotFound) as failed:
        await gateway.conversation_attributes(MISSING)
    assert (failed.value.code, failed.value.status) == (20404, 404)
    assert f"/v1/Conversations/{MISSING} was not found" in str(failed.value)
    assert "Unable to fetch record" not in str(failed.value)


async def test_missing_resource_on_a_list_call_is_not_found(gateway: TwilioGateway) -> None:
    with pytest.raises(NotFound) as failed:
        await gateway.agent_identities(MISSING)
    assert (failed.value.code, failed.value.status) == (20404, 404)


async def test_rate_limit_on_a_list_call_carries_retry_after(sim: Simulator, gateway: TwilioGateway) -> None:
    sim.fault(PARTICIPANT_CONVERSATIONS, method="GET", status=429, code=20429,
              message="Too Many Requests", retry_after=7)
    with pytest.raises(RateLimited) as failed:
        await list_call(gateway)
    assert (failed.value.code, failed.value.status, failed.value.retry_after) == (20429, 429, 7.0)
    assert "slow down" in str(failed.value)


async def test_rate_limit_on_a_create_is_rate_limited(sim: Simulator, gateway: TwilioGateway) -> None:
    sim.fault(MESSAGES, method="POST", status=429, code=20429, message="Too Many Requests")
    with pytest.raises(RateLimited) as failed:
        await create_call(gateway)
    assert (failed.value.code, failed.value.status) == (20429, 429)


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize(("path", "method", "call"), CALLS)
async def test_server_errors_are_twilio_unavailable(
    sim: Simulator, gateway: TwilioGateway, path: str, method: str, call: Callable[..., Awaitable[object]],
    status: int,
) -> None:
    sim.fault(path, method=method, status=status)
    with pytest.raises(TwilioUnavailable) as failed:
        await call(gateway)
    assert failed.value.status == status
    assert f"HTTP {status}" in str(failed.value)


# -- Twilio's refusals ----------------------------------------------------------------------------


async def test_refused_create_keeps_code_and_twilios_message_without_the_sdk_prefix(
    sim: Simulator, gateway: TwilioGateway
) -> None:
    sim.fault(MESSAGES, method="POST", status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    with pytest.raises(TwilioError) as failed:
        await create_call(gateway)
    assert type(failed.value) is TwilioError
    assert (failed.value.code, failed.value.status) == (21610, 400)
    assert str(failed.value) == (
        "Twilio refused sending the message: Attempt to send to unsubscribed recipient (error 21610).")


async def test_real_refusal_from_the_simulator_is_mapped(gateway: TwilioGateway) -> None:
    """Not a fault: the simulator's own answer to a message with neither body nor template."""
    conversation_sid = await a_conversation(gateway)
    with pytest.raises(TwilioError) as failed:
        await gateway.send_message(conversation_sid, "alice_40example_2Ecom", None, None, {}, "send-1")
    assert type(failed.value) is TwilioError
    assert (failed.value.code, failed.value.status) == (50503, 400)
    assert str(failed.value) == "Twilio refused sending the message: Message body not provided (error 50503)."


async def test_refused_list_call_keeps_code_and_message(sim: Simulator, gateway: TwilioGateway) -> None:
    sim.fault(PARTICIPANT_CONVERSATIONS, method="GET", status=400, code=20001, message="Invalid Address filter")
    with pytest.raises(TwilioError) as failed:
        await list_call(gateway)
    assert type(failed.value) is TwilioError
    assert (failed.value.code, failed.value.status) == (20001, 400)
    assert "Invalid Address filter (error 20001)" in str(failed.value)
    assert "Unable to fetch page" not in str(failed.value)


@pytest.mark.parametrize(("code", "message", "conversation"), [
    (50416, f"A binding for this participant and proxy address already exists in Conversation {MISSING}", MISSING),
    (50425, "One or more participants already have a binding with this proxy address", None),
])
async def test_duplicate_binding_is_binding_taken_with_the_conversation_when_named(
    sim: Simulator, gateway: TwilioGateway, code: int, message: str, conversation: str | None
) -> None:
    sim.fault("/v1/ConversationWithParticipants", method="POST", status=409, code=code, message=message)
    with pytest.raises(BindingTaken) as taken:
        await a_conversation(gateway)
    assert taken.value.conversation_sid == conversation


# -- no answer ------------------------------------------------------------------------------------


async def test_timeout_is_twilio_unavailable_within_the_deadline(
    sim: Simulator, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(deadline=0.2)
    sim.fault(WORKERS, method="GET", kind="timeout", hang=0.5)
    started = time.monotonic()
    with pytest.raises(TwilioUnavailable, match="did not answer in time"):
        await gateway.fetch_agent()
    assert time.monotonic() - started < 0.45
    await asyncio.sleep(0.4)  # real time: let the simulator finish the held request before it stops


async def test_connection_reset_on_a_create_is_twilio_unavailable_and_never_resent(
    sim: Simulator, gateway: TwilioGateway
) -> None:
    sim.fault(MESSAGES, method="POST", kind="reset")
    with pytest.raises(TwilioUnavailable, match="Could not reach Twilio while sending the message"):
        await create_call(gateway)
    assert len(sim.world.log.matching("POST", MESSAGES)) == 1  # no blind re-POST


async def test_connection_reset_on_a_list_call_is_twilio_unavailable(sim: Simulator, gateway: TwilioGateway) -> None:
    # aiohttp re-sends an idempotent request once when the connection drops (RFC 9112 §9.3.1.1): reset twice
    sim.fault(PARTICIPANT_CONVERSATIONS, method="GET", kind="reset", times=2)
    with pytest.raises(TwilioUnavailable, match="Could not reach Twilio while looking for the customer's conversation"):
        await list_call(gateway)


async def test_no_server_at_all_is_twilio_unavailable(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    settings = settings.model_copy(update={"twilio": settings.twilio.model_copy(update={"base_url": "http://127.0.0.1:1"})})
    async with open_client(settings) as client:
        with pytest.raises(TwilioUnavailable, match="Could not reach Twilio"):
            await TwilioGateway(client, settings, deadline=2).fetch_agent()


# -- Flex identities -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "identity"), [
    ("alice@example.com", "alice_40example_2Ecom"),
    ("bob@example.com", "bob_40example_2Ecom"),
    ("dave.o'brien+flex@example.co.uk", "dave_2Eo_27brien_2Bflex_40example_2Eco_2Euk"),
    ("under_score", "under_5Fscore"),
    ("zoë@exämple.com", "zo_C3_AB_40ex_C3_A4mple_2Ecom"),
    ("李雷", "_E6_9D_8E_E9_9B_B7"),
    ("Plain42", "Plain42"),
])
def test_identity_encoding_round_trips(name: str, identity: str) -> None:
    assert encode_identity(name) == identity
    assert decode_identity(identity) == name


def test_decoding_takes_every_escape_in_either_case_and_leaves_other_text_alone() -> None:
    assert decode_identity("carol_40example_2ecom") == "carol@example.com"
    assert decode_identity("a_2Eb_2Ec_2Ed") == "a.b.c.d"  # the seed plugin stopped after the first
    assert decode_identity("odd_ZZ_4") == "odd_ZZ_4"


def test_every_seeded_worker_decodes_to_its_friendly_name() -> None:
    for worker in seed.WORKERS:
        assert decode_identity(encode_identity(worker.friendly_name)) == worker.friendly_name


async def test_a_cancel_that_lands_as_a_call_ends_is_not_lost(make_gateway: MakeGateway) -> None:
    """Python 3.11's asyncio.wait_for returns the result and drops a cancel that lands as the call ends: the status
    watcher stopped at exit then polled on forever, and `outbound-panel send` never returned (found by bench/cli.py)."""
    gateway = await make_gateway()
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    calling = asyncio.create_task(gateway.call("reading something", answer))
    await asyncio.sleep(0)  # the call is waiting for its answer
    answer.set_result("the answer")
    calling.cancel()  # in the same loop turn: the stop wins
    with pytest.raises(asyncio.CancelledError):
        await calling
