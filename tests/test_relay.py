"""The relay (issue 16, part 2), with a real nats-server (JetStream, random loopback port) and the simulator's signed
callbacks: events reach NATS per worker, a forged signature is refused (403) and publishes nothing, a duplicate
delivery is stored once, and a worker's subscription carries only that worker's events."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nats
import pytest
from aiohttp import web
from twilio.rest import Client

from core.relay import STREAM, Relay, agent_subject
from sim import seed
from sim.callbacks import signature
from sim.server import Simulator
from tests.nats_fixtures import free_port, start_nats, until
from tests.outbound_fixtures import settings_for
from tui import relay as relay_command
from tui.cli import _parser

pytestmark = pytest.mark.real_time  # a real NATS server and its client's timeouts


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    server = await start_nats(port, tmp_path)
    yield f"nats://127.0.0.1:{port}"
    server.terminate()
    await server.wait()


@pytest.fixture
async def relay(nats_url: str) -> AsyncIterator[tuple[Relay, str, object]]:
    """The relay on a loopback port, its public URL that same address; and a JetStream client."""
    connection = await nats.connect(nats_url)
    jetstream = connection.jetstream()
    port = free_port()
    relaying = Relay(f"http://127.0.0.1:{port}", seed.DEMO_AUTH_TOKEN, jetstream)
    await relaying.prepare()
    runner = web.AppRunner(relaying.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield relaying, f"http://127.0.0.1:{port}", jetstream
    await runner.cleanup()
    await connection.close()


async def stored(jetstream: object) -> int:
    return (await jetstream.stream_info(STREAM)).state.messages  # type: ignore[attr-defined]


async def test_task_events_reach_nats_per_worker_and_a_duplicate_is_stored_once(
        sim: Simulator, client: Client, relay: tuple[Relay, str, object]) -> None:
    relaying, url, jetstream = relay
    await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).update_async(event_callback_url=f"{url}/taskrouter")
    alice = seed.WORKERS[0].sid
    taskrouter = sim.world.taskrouter
    for worker in seed.WORKERS[1:]:  # only alice can take it: the task is hers
        taskrouter.set_worker_activity(taskrouter.workers[worker.sid], taskrouter.activities[seed.OFFLINE.sid])
    mine = await jetstream.subscribe(agent_subject(seed.WORKERS[0].friendly_name))  # type: ignore[attr-defined]
    sim.world.callbacks.knobs.duplicate = 1  # task.created comes twice
    task = await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks.create_async(
        attributes=json.dumps({"conversationSid": "CH" + "1" * 32}), workflow_sid=seed.WORKFLOW_SID)
    delivered = len(sim.world.callbacks.delivered)
    assert delivered >= 3  # task.created twice, then the reservation and the task's update

    async def settled() -> bool:
        return relaying.published + 1 >= len(sim.world.callbacks.delivered) >= delivered

    await until(settled)
    # each once at home (the conversation's, the worker's), and once more for the agent a reservation or a
    # worker's event is of
    unique = {event["Sid"]: event for event in sim.world.callbacks.delivered}.values()
    assert relaying.published == len(unique) == len(sim.world.callbacks.delivered) - 1
    assert await stored(jetstream) == len(unique) + sum(
        1 for event in unique if event["ResourceType"] in ("reservation", "worker"))
    event = json.loads((await mine.next_msg(timeout=5)).data)  # her subject has it, and the conversation
    assert (event["type"], event["task_sid"], event["conversation_sid"], event["status"]) == \
        ("reservation.created", task.sid, "CH" + "1" * 32, "pending")
    with pytest.raises(nats.errors.TimeoutError):
        while True:  # nothing else on alice's subject is anyone else's
            assert json.loads((await mine.next_msg(timeout=0.3)).data).get("worker_sid", alice) == alice


async def test_a_forged_or_unsigned_request_is_refused_and_publishes_nothing(
        sim: Simulator, relay: tuple[Relay, str, object]) -> None:
    relaying, url, jetstream = relay
    form = {"EventType": "reservation.accepted", "Sid": "EV" + "9" * 32, "WorkerSid": seed.WORKERS[0].sid,
            "TaskSid": "WT" + "1" * 32, "ResourceType": "reservation"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/taskrouter", data=form) as unsigned:
            assert unsigned.status == 403
        async with session.post(f"{url}/taskrouter", data=form,
                                headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}) as forged:
            assert forged.status == 403
    assert (relaying.refused, relaying.published, await stored(jetstream)) == (2, 0, 0)


async def test_setup_points_the_account_at_the_relay_and_will_not_replace_another_url_unasked(
        sim: Simulator, client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(sim, tmp_path)

    def args(*argv: str) -> argparse.Namespace:
        return _parser().parse_args(["relay", *argv])

    assert await relay_command.setup(args("--public-url", "https://relay.example.com", "--setup"), settings) == 0
    assert capsys.readouterr().out == ("conversations: events go to https://relay.example.com/conversations\n"
                                       "taskrouter: events go to https://relay.example.com/taskrouter\n")
    workspace = await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).fetch_async()
    assert workspace.event_callback_url == "https://relay.example.com/taskrouter"
    assert "reservation.accepted" in workspace.events_filter.split(",")
    webhooks = await client.conversations.v1.configuration.webhooks().fetch_async()
    assert (webhooks.post_webhook_url, "onMessageAdded" in webhooks.filters) == \
        ("https://relay.example.com/conversations", True)

    other = args("--public-url", "https://other.example.com", "--setup")
    assert await relay_command.setup(other, settings) == 3  # someone else's URL: not replaced unasked
    assert capsys.readouterr().err == (
        "outbound-panel: relay: conversations posts to https://relay.example.com/conversations; taskrouter posts "
        "to https://relay.example.com/taskrouter: add --force to replace it\n")
    assert (await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).fetch_async()).event_callback_url == \
        "https://relay.example.com/taskrouter"
    assert await relay_command.setup(args("--public-url", "https://other.example.com", "--setup", "--force"),
                                     settings) == 0
    assert "taskrouter: events go to https://other.example.com/taskrouter (was https://relay.example.com/taskrouter)" \
        in capsys.readouterr().out


async def test_a_replayed_request_is_stored_once_and_one_older_than_the_dedupe_window_is_refused(
        relay: tuple[Relay, str, object]) -> None:
    relaying, url, jetstream = relay
    now = int(time.time())
    form = {"EventType": "task.created", "Sid": "EV" + "7" * 32, "TaskSid": "WT" + "1" * 32, "ResourceType": "task",
            "Timestamp": str(now)}
    old = {**form, "Sid": "EV" + "8" * 32, "Timestamp": str(now - 2 * 24 * 3600)}
    async with aiohttp.ClientSession() as session:
        for sent in (form, form, old):  # the same signed request twice (a replay), then an old one
            signed = {"X-Twilio-Signature": signature(seed.DEMO_AUTH_TOKEN, f"{url}/taskrouter", sent)}
            async with session.post(f"{url}/taskrouter", data=sent, headers=signed) as answer:
                assert answer.status == (403 if sent is old else 200)
    assert (relaying.published, relaying.refused, await stored(jetstream)) == (1, 1, 1)


def test_nats_users_writes_a_server_configuration_and_each_ones_settings_privately(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "demo"

    def run(*argv: str) -> int:
        args = _parser().parse_args(["relay", "--nats-users", str(folder), *argv])
        return relay_command.relay_main(args, None)  # type: ignore[arg-type]  (no settings needed)

    assert run("alice@example.com", "bob@example.com") == 0
    said = capsys.readouterr().out
    config = json.loads((folder / "nats.conf").read_text())
    users = config["authorization"]["users"]
    assert [user["user"] for user in users] == ["relay", "agent-1", "agent-2"]
    assert users[1]["permissions"]["publish"]["allow"] == [
        f"$JS.API.CONSUMER.CREATE.{STREAM}.*.{agent_subject('alice@example.com')}"]
    env = dict(line.split("=", 1) for line in (folder / "alice@example.com.env").read_text().splitlines())
    assert (env["OUTBOUND_PANEL_RELAY__NATS_USER"], env["OUTBOUND_PANEL_AGENT__IDENTITY"]) == \
        ("agent-1", "alice@example.com")
    assert env["OUTBOUND_PANEL_RELAY__NATS_PASSWORD"] == users[1]["password"] and users[1]["password"] not in said
    assert {oct(path.stat().st_mode & 0o777) for path in folder.iterdir() if path.is_file()} == {"0o600"}

    assert run("alice@example.com") == 3  # the passwords in use are not replaced unasked
    assert "add --force" in capsys.readouterr().err
    assert json.loads((folder / "nats.conf").read_text()) == config
    assert run("alice@example.com", "--force") == 0
    assert json.loads((folder / "nats.conf").read_text())["authorization"]["users"][1]["password"] != \
        users[1]["password"]
    assert run() == 2 and "needs the agents' identities" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "said"), [
    (["--public-url", "not a url"], "expected the http(s) address Twilio posts to"),
    (["--public-url", "ftp://relay.example.com"], "expected the http(s) address Twilio posts to"),
    (["--public-url", "https://relay.example.com", "--nats", "http://127.0.0.1:4222"], "expected a NATS server URL"),
    (["--public-url", "https://relay.example.com", "--nats", "nats://relay:hunter2@127.0.0.1:4222"],
     "a NATS URL holds no user or password"),
    (["--public-url", "https://relay.example.com", "--heartbeat", "0.01"], "expected 0.2 s to 60 s"),
    (["--public-url", "https://relay.example.com", "--heartbeat", "5m"], "expected 0.2 s to 60 s"),
])
def test_bad_relay_arguments_are_one_line_that_never_repeats_a_password(
        argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        _parser().parse_args(["relay", *argv])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and said in err and "hunter2" not in err


@pytest.mark.parametrize("agents", [[""], ["relay"], ["a b"], ["../x"], ["line\nbreak"], ["alice", "alice"]])
def test_nats_users_refuses_an_identity_that_cannot_name_its_settings_file(
        agents: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["relay", "--nats-users", str(tmp_path / "demo"), *agents])
    assert relay_command.relay_main(args, None) == 2  # type: ignore[arg-type]
    assert capsys.readouterr().err.startswith("outbound-panel: relay: ") and not (tmp_path / "demo").exists()


async def test_a_relay_that_cannot_reach_nats_says_so_and_exits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pydantic import SecretStr

    from tests.outbound_fixtures import settings_for_url

    settings = settings_for_url("http://127.0.0.1:9", tmp_path, relay={
        "nats_url": f"nats://127.0.0.1:{free_port()}", "nats_user": "relay",
        "nats_password": SecretStr("a-nats-secret"), "heartbeat": 2.0})
    args = _parser().parse_args(["relay", "--public-url", "https://relay.example.com"])
    assert await relay_command.serve(args, settings) == 2
    err = capsys.readouterr().err
    assert err.startswith("outbound-panel: relay: cannot use NATS at nats://127.0.0.1:") and err.count("\n") == 1
    assert "a-nats-secret" not in err


async def test_unsigned_garbage_and_odd_sids_are_refused_or_kept_out_of_subjects(
        relay: tuple[Relay, str, object]) -> None:
    relaying, url, jetstream = relay
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/conversations", data=b"EventType=%ff%fe",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}) as garbage:
            assert garbage.status in (400, 403)
        odd = {"EventType": "onMessageAdded", "ConversationSid": "CH.x.>", "Author": "alice_40example_2Ecom",
               "Body": "private words", "MessageSid": "IM*"}
        signed = {"X-Twilio-Signature": signature(seed.DEMO_AUTH_TOKEN, f"{url}/conversations", odd)}
        async with session.post(f"{url}/conversations", data=odd, headers=signed) as answer:
            assert answer.status == 200
    message = await jetstream.get_last_msg(STREAM, "outbound.unrouted")  # type: ignore[attr-defined]
    event = json.loads(message.data)
    assert "conversation_sid" not in event and "message_sid" not in event
    assert "private words" not in message.data.decode() and "author" not in event  # never a body or an author
