"""The simulator's knobs: Basic auth, latency, fault injection per endpoint, the request log, /_sim/ admin."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from core.twilio_client import RewritingHttpClient
from sim import seed
from sim.server import Simulator

CONVERSATIONS = r"/v1/Conversations"


def _count(sim: Simulator) -> int:
    """Conversations created by the test: the seeded closed ones from before the world began don't count."""
    return len([sid for sid in sim.world.conversations.conversations if sid not in seed.HISTORY_SIDS])


async def test_wrong_credentials_get_20003(sim: Simulator) -> None:
    http = RewritingHttpClient(sim.base_url)
    try:
        with pytest.raises(TwilioRestException) as caught:
            await Client(seed.ACCOUNT_SID, "not-the-token", http_client=http).conversations.v1.conversations.create_async()
    finally:
        await http.close()
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert _count(sim) == 0


async def test_status_fault_answers_once_then_the_endpoint_works(sim: Simulator, client: Client) -> None:
    sim.fault(CONVERSATIONS, method="POST", status=503, code=20503, message="Service unavailable")
    with pytest.raises(TwilioRestException) as caught:
        await client.conversations.v1.conversations.create_async()
    assert (caught.value.status, caught.value.code) == (503, 20503)
    assert _count(sim) == 0
    await client.conversations.v1.conversations.create_async()
    assert _count(sim) == 1


async def test_429_fault_carries_retry_after(sim: Simulator, client: Client) -> None:
    sim.fault(CONVERSATIONS, status=429, code=20429, retry_after=2)
    with pytest.raises(TwilioRestException) as caught:
        await client.conversations.v1.conversations.create_async()
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert sim.world.log[-1].response_headers["Retry-After"] == "2"


async def test_reset_fault_closes_the_connection_before_doing_anything(sim: Simulator, client: Client) -> None:
    sim.fault(CONVERSATIONS, method="POST", kind="reset")
    with pytest.raises(aiohttp.ClientError):
        await client.conversations.v1.conversations.create_async()
    assert _count(sim) == 0
    assert sim.world.log[-1].fault == "reset"


async def test_drop_fault_commits_then_drops_the_response(sim: Simulator, client: Client) -> None:
    sim.fault(CONVERSATIONS, method="POST", kind="drop")
    with pytest.raises(aiohttp.ClientError):
        await client.conversations.v1.conversations.create_async(friendly_name="committed")
    assert _count(sim) == 1  # the customer-facing effect happened although the client saw no answer


async def test_timeout_fault_holds_the_request_past_the_client_deadline(sim: Simulator) -> None:
    sim.fault(CONVERSATIONS, method="POST", kind="timeout", hang=0.3)
    http = RewritingHttpClient(sim.base_url, timeout=0.05)
    impatient = Client(seed.ACCOUNT_SID, seed.DEMO_AUTH_TOKEN, http_client=http)
    try:
        with pytest.raises(asyncio.TimeoutError):
            await impatient.conversations.v1.conversations.create_async()
        assert _count(sim) == 0
        await asyncio.sleep(0.4)  # the event loop's clock: the hang is the server's, not the simulated world's
        assert _count(sim) == 1  # done late, after the client gave up
    finally:
        await http.close()


async def test_latency_is_added_to_every_request(sim: Simulator, client: Client) -> None:
    sim.world.config.latency = 0.05
    await client.conversations.v1.conversations.list_async()
    assert sim.world.log[-1].duration >= 0.05


async def test_request_log_records_method_path_params_and_status(sim: Simulator, client: Client) -> None:
    await client.conversations.v1.conversations.create_async(friendly_name="Logged")
    entry = sim.world.log[-1]
    assert (entry.method, entry.path, entry.status) == ("POST", "/v1/Conversations", 201)
    assert entry.param("FriendlyName") == "Logged"
    assert entry.host == "conversations.twilio.com"


async def test_admin_endpoints_set_faults_and_read_the_log(sim: Simulator, client: Client) -> None:
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    async with aiohttp.ClientSession(sim.base_url, headers=headers) as admin:
        async with admin.post("/_sim/faults", json={"path": CONVERSATIONS, "status": 500, "times": 1}) as r:
            assert r.status == 201
        with pytest.raises(TwilioRestException):
            await client.conversations.v1.conversations.create_async()
        async with admin.get("/_sim/requests") as r:
            logged = (await r.json())["requests"]
        assert [(x["method"], x["path"], x["status"]) for x in logged][-2] == ("POST", "/v1/Conversations", 500)
        assert logged[-2]["started"] + logged[-2]["duration"] <= logged[-1]["started"]  # for round trips (bench/cli.py)
        async with admin.post("/_sim/faults", json={"bogus": 1}) as r:
            assert r.status == 400
        async with aiohttp.ClientSession(sim.base_url) as anonymous, anonymous.get("/_sim/requests") as r:
            assert r.status == 401


def _admin(sim: Simulator) -> aiohttp.ClientSession:
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    return aiohttp.ClientSession(sim.base_url, headers={"Authorization": f"Basic {token}"})


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/_sim/faults", {"path": "("}, "'path' is not a regular expression"),
    ("/_sim/faults", {"path": "/v1/.*", "kind": "explode"}, "'kind' must be one of status, reset, timeout, drop"),
    ("/_sim/faults", {"path": "/v1/.*", "status": "abc"}, "'status' must be a whole number from 400 to 599"),
    ("/_sim/faults", {"path": "/v1/.*", "status": 99}, "'status' must be a whole number from 400 to 599"),
    ("/_sim/faults", {"path": "/v1/.*", "kind": "timeout", "hang": -1}, "'hang' must be a number of seconds"),
    ("/_sim/faults", {"path": "/v1/.*", "times": 0}, "'times' must be a whole number from 1"),
    ("/_sim/faults", {"path": 7}, "'path' must be a regular expression"),
    ("/_sim/faults", ["path"], "The body must be a JSON object"),
    ("/_sim/faults", "{not json", "The body is not JSON"),
    ("/_sim/latency", {"seconds": "NaN"}, "'seconds' must be a number of seconds from 0 to 3600, not 'NaN'"),
    ("/_sim/latency", "{\"seconds\": NaN}", "'seconds' must be a number of seconds from 0 to 3600, not nan"),
    ("/_sim/latency", {"seconds": 1e9}, "'seconds' must be a number of seconds from 0 to 3600"),
    ("/_sim/latency", {}, "'seconds' must be a number of seconds from 0 to 3600, not None"),
    ("/_sim/inbound", "[]", "The body must be a JSON object"),
    ("/_sim/inbound", {"from": "+14155550100", "to": "+19999999999", "body": "x"},
     "'to' must be one of this account's numbers on that channel"),
    ("/_sim/faults", {"path": "(.*.*)*X", "method": "PUT", "times": None}, "without a repeated group"),
    ("/_sim/faults", {"path": "(.|\\w)*!"}, "without a repeated group"),
    ("/_sim/faults", {"path": ".*.*.*.*.*.*.*.*.*.*.*.*!", "times": None}, "at most four * or +"),
    ("/_sim/faults", {"path": "x{99999999999}"}, "'path' is not a regular expression"),
    ("/_sim/faults", {"path": "/v1/.*", "status": 204}, "'status' must be a whole number from 400 to 599"),
    ("/_sim/faults", {"path": "/v1/.*", "method": "ÄÖ"}, "'method' must be one of DELETE, GET, PATCH, POST, PUT"),
    ("/_sim/faults", {"path": "/v1/.*", "code": 0}, "'code' must be a whole number from 1 to 99999"),
    ("/_sim/faults", "[" * 100_000 + "]" * 100_000, "The body is not JSON"),
])
async def test_the_control_api_refuses_what_it_cannot_use_with_a_reason_and_keeps_working(
        sim: Simulator, client: Client, path: str, body: object, reason: str) -> None:
    async with _admin(sim) as admin:
        sent = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) \
            else {"json": body}
        async with admin.post(path, **sent) as r:  # type: ignore[arg-type]
            assert r.status == 400
            assert reason in (await r.json())["message"]
        assert sim.world.faults.rules == [] and sim.world.config.latency == 0.0  # nothing half-applied
        await client.conversations.v1.conversations.create_async()  # Twilio's API works as before
        async with admin.delete("/_sim/faults") as r:
            assert r.status == 204


async def test_a_fault_on_every_path_leaves_the_control_api_reachable(sim: Simulator, client: Client) -> None:
    async with _admin(sim) as admin:
        async with admin.post("/_sim/faults", json={"path": ".*", "status": 503, "times": None}) as r:
            assert r.status == 201
        with pytest.raises(TwilioRestException):
            await client.conversations.v1.conversations.create_async()
        async with admin.delete("/_sim/faults") as r:  # not faulted itself: the knob can always be turned back
            assert r.status == 204
        await client.conversations.v1.conversations.create_async()


async def test_a_body_that_is_not_utf8_is_a_400_not_a_500(sim: Simulator) -> None:
    async with _admin(sim) as admin:
        async with admin.post("/_sim/faults", data=b"\xff\xfe{\x00", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 400
            assert "The body is not JSON" in (await r.json())["message"]
