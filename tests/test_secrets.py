"""Secrets never shown: real flows run with a distinctive secret against a simulator that accepts exactly
that secret, and every output — screen, log file, history file, exception text, settings errors, help,
snapshots — is searched for it and for the Basic auth credential built from it."""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from pydantic import SecretStr

from core.history import default_path as history_path
from core.logs import setup_logging
from core.session import open_session
from core.settings import Settings, SettingsError, load_settings
from sim import seed
from sim.server import Simulator, serve_forever
from sim.world import SimConfig
from tests.outbound_fixtures import CWP, INTERACTIONS, MESSAGES, settings_for, until_replied
from tests.test_logs import isolated_logging  # noqa: F401 (autouse fixture: setup_logging is undone after each test)
from tests.tui_fixtures import settle, text_of, type_draft
from tui.app import OutboundPanelApp
from tui.cli import connect, where

ROOT = Path(__file__).resolve().parents[1]
SID = seed.ACCOUNT_SID
SECRET = "SECRET-x9Q7-do-not-print"  # the auth token the simulator accepts
WRONG = "WRONG-t5K3-do-not-print"  # another auth token, which it refuses
API_KEY, API_SECRET = "SK" + "7" * 32, "APISECRET-m2W8-do-not-print"
JANE, OMAR = seed.CUSTOMERS[0].address, seed.CUSTOMERS[1].address
SMS, WHATSAPP = seed.SMS_SENDERS[0], seed.WHATSAPP_SENDERS[0]
CREATES = f"({CWP}|{INTERACTIONS})"  # a new conversation, for each mode


def basic(username: str, secret: str) -> str:
    """The credential of the HTTP Basic Authorization header the SDK sends."""
    return base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")


SEARCHED = (SECRET, WRONG, API_SECRET, basic(SID, SECRET), basic(SID, WRONG), basic(API_KEY, API_SECRET))


def leaks(output: str | bytes, secrets: Iterable[str] = SEARCHED) -> list[str]:
    """Every secret found in `output`: as is, and as text once SVG/HTML tags and entities are taken out."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    plain = html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
    return [secret for secret in secrets if secret in text or secret in plain]


@dataclass
class Outputs:
    """Everything a flow showed, wrote or raised, by label."""

    found: dict[str, str | bytes] = field(default_factory=dict)

    def add(self, label: str, output: str | bytes) -> None:
        self.found[f"{len(self.found)} {label}"] = output

    def exception(self, label: str, error: BaseException) -> None:
        """str() and repr() of the exception and of every exception chained to it, and the traceback."""
        seen: BaseException | None = error
        while seen is not None:
            self.add(f"{label}: str of {type(seen).__name__}", str(seen))
            self.add(f"{label}: repr of {type(seen).__name__}", repr(seen))
            # the chain a traceback shows: `raise ... from None` hides the context
            seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
        self.add(f"{label}: traceback", "".join(traceback.format_exception(error)))
        logging.getLogger("outbound_panel.test").error("%s", label, exc_info=error)  # through the log's filter too

    def files(self, label: str, paths: Iterable[Path]) -> None:
        for path in paths:
            self.add(f"{label} {path.name}", path.read_bytes())

    def assert_clean(self, secrets: Iterable[str] = SEARCHED) -> None:
        leaked = {label: found for label, output in self.found.items() if (found := leaks(output, secrets))}
        assert not leaked, f"secrets found in: {sorted(leaked)}"


@pytest.fixture
def outputs() -> Outputs:
    return Outputs()


@pytest.fixture
def sim_config() -> SimConfig:
    """The simulator accepts exactly the distinctive secrets: a flow that works used them."""
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5,
                     credentials=[(SID, SECRET), (API_KEY, API_SECRET)])


def with_api_key(settings: Settings) -> Settings:
    twilio = settings.twilio.model_copy(update={"api_key": API_KEY, "api_secret": SecretStr(API_SECRET)})
    return settings.model_copy(update={"twilio": twilio})


def logging_everything(settings: Settings) -> Path:
    """The app's log file, with the twilio SDK and aiohttp at DEBUG: the most the filter could ever be given."""
    path = setup_logging(settings)
    for name in ("twilio", "aiohttp", "outbound_panel"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return path


def written(outputs: Outputs, log: Path) -> None:
    """Every file in the log's and the history's directories (journal and WAL too, should they be there); the
    log and the history must exist, else the search proves nothing."""
    assert log.stat().st_size > 0 and history_path().exists()
    outputs.files("state dir:", sorted(log.parent.iterdir()))
    outputs.files("data dir:", sorted(path for path in history_path().parent.iterdir() if path.is_file()))


SENDS = [
    {"destination": JANE, "callerId": SMS, "body": "open chat", "openChat": True},
    {"destination": JANE, "callerId": SMS, "body": "reply to me", "routeToMe": True},
    {"destination": OMAR, "callerId": SMS, "body": "reply to anyone"},
    {"destination": JANE, "callerId": WHATSAPP, "channel": "whatsapp", "body": "whatsapp", "routeToMe": True},
    {"destination": OMAR, "callerId": WHATSAPP, "channel": "whatsapp", "contentTemplateSid": seed.TEMPLATES[2].sid},
]


# --- the flows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["auth_token", "api_key"])
async def test_sends_in_every_mode_never_show_the_secret(sim: Simulator, tmp_path: Path, outputs: Outputs,
                                                         auth: str) -> None:
    settings = settings_for(sim, tmp_path, auth_token=SECRET)
    settings = with_api_key(settings) if auth == "api_key" else settings
    log = logging_everything(settings)
    async with connect(settings) as (session, label):
        for payload in SENDS:
            result = await session.send(payload)
            outputs.add(f"send {payload}", f"{result!s} {result!r}")
        until_replied(sim)
        await asyncio.sleep(1.0)  # a second on the loop's (virtual) clock: the watcher reads what happened
        assert len(session.history.sends()) == len(SENDS)
        outputs.add("sends", repr(session.history.sends()))
        outputs.add("session", f"{label} {session!r} {session.agent!r}")
    outputs.add("settings", f"{settings} {settings!r} {settings.model_dump()} {settings.model_dump_json()}")
    written(outputs, log)
    outputs.assert_clean()


@pytest.mark.parametrize("fault", [
    {"path": CREATES, "status": 500}, {"path": CREATES, "kind": "reset"},
    {"path": MESSAGES, "status": 500}, {"path": MESSAGES, "kind": "reset"},
], ids=["conversation-500", "conversation-reset", "message-500", "message-reset"])
async def test_failing_sends_never_show_the_secret(sim: Simulator, tmp_path: Path, outputs: Outputs,
                                                   fault: dict[str, Any]) -> None:
    settings = settings_for(sim, tmp_path, auth_token=SECRET)
    log = logging_everything(settings)
    raised = 0
    async with open_session(settings, deadline=3.0) as session:
        for payload in SENDS[:3]:
            sim.fault(method="POST", times=None, **fault)
            try:
                await session.send(payload)
            except Exception as error:  # noqa: BLE001 (whatever is raised is searched)
                outputs.exception(f"send {payload}", error)
                raised += 1
            sim.world.faults.clear()
    assert raised == 3  # the flows did fail
    written(outputs, log)
    outputs.assert_clean()


async def test_wrong_credentials_never_show_either_token(sim: Simulator, tmp_path: Path, outputs: Outputs) -> None:
    settings = settings_for(sim, tmp_path, auth_token=WRONG)
    log = logging_everything(settings)
    with pytest.raises(Exception) as refused:
        async with connect(settings):
            pass
    assert "20003" in str(refused.value)
    outputs.exception("connect", refused.value)

    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "20003" in text_of(app, "#status")
        outputs.add("screen", app.export_screenshot())
        outputs.add("notifications", repr(list(app._notifications)))
    outputs.add("log", log.read_bytes())
    outputs.assert_clean()


async def test_the_panel_never_shows_the_secret(sim: Simulator, tmp_path: Path, outputs: Outputs) -> None:
    settings = settings_for(sim, tmp_path, auth_token=SECRET)
    log = logging_everything(settings)
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        outputs.add("screen at start", app.export_screenshot())
        for key in ("ctrl+o", "ctrl+r", "ctrl+t"):
            await type_draft(pilot, "4155550100", f"Hello {key}")
            await pilot.press(key)
            await settle(pilot)
            assert text_of(app, "#status").startswith("Sent to")
            outputs.add(f"screen after {key}", app.export_screenshot())
        sim.fault(CREATES, method="POST", status=400, code=50100, times=None)  # a 4xx: failed at once, not retried
        await type_draft(pilot, "4155550101", "This one fails")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "50100" in text_of(app, "#status")
        outputs.add("screen after a failed send", app.export_screenshot())
        sim.world.faults.clear()
        for screen in ("f4", "f1"):
            await pilot.press(screen)
            await pilot.pause()
            outputs.add(f"screen {screen}", app.export_screenshot())
            await pilot.press("escape")
        outputs.add("notifications", "\n".join(f"{n.title}: {n.message}" for n in app._notifications))
    written(outputs, log)
    outputs.assert_clean()


def _settings_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "user.toml"
    path.write_text(text)
    return {"OUTBOUND_PANEL_SETTINGS": str(path), "XDG_CONFIG_HOME": str(tmp_path)}


@pytest.mark.parametrize(("env", "named"), [
    ({"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": SECRET}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_AUTH_TOKEN": SECRET}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": "SKbad", "TWILIO_API_SECRET": SECRET}, "TWILIO_API_KEY"),
    ({"toml": f'[twilio]\naccount_sid = "AC123"\nauth_token = "{SECRET}"\n'}, "twilio.account_sid"),
    ({"toml": f'[twilio]\nauth_token = ["{SECRET}"]\naccount_sid = "{SID}"\n'}, "twilio.auth_token"),
    ({"toml": f'[twilio]\napi_secret = {{ value = "{SECRET}" }}\n'}, "twilio.api_secret"),
    ({"toml": f'twilio = "{SECRET}"\n'}, "twilio"),
    ({"toml": f'[twilio]\nauth_tokn = "{SECRET}"\n'}, "twilio.auth_tokn"),
], ids=["bad-sid", "token-alone", "bad-api-key", "toml-bad-sid", "toml-token-list", "toml-secret-table",
        "toml-twilio-string", "toml-misspelt-key"])
def test_settings_errors_never_show_the_secret(tmp_path: Path, outputs: Outputs, env: dict[str, str],
                                               named: str) -> None:
    variables = _settings_file(tmp_path, env.pop("toml")) if "toml" in env else {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(SettingsError) as error:
        load_settings({**variables, **env}, tmp_path)
    assert named in str(error.value)
    outputs.exception("load_settings", error.value)
    outputs.assert_clean()


def _command(tmp_path: Path, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    result = subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=tmp_path, capture_output=True, text=True,
                            env={**clean, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path), **env},
                            timeout=60)
    return result.stdout + result.stderr


def test_the_command_never_prints_the_secret(tmp_path: Path, outputs: Outputs) -> None:
    credentials = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": SECRET}
    outputs.add("--help", _command(tmp_path, "--help", **credentials))
    outputs.add("sim --help", _command(tmp_path, "sim", "--help", **credentials))
    bad = _command(tmp_path, **credentials, OUTBOUND_PANEL_UI__PHONE_REGION="gb")
    assert "OUTBOUND_PANEL_UI__PHONE_REGION" in bad
    outputs.add("a bad setting next to the secret", bad)
    outputs.assert_clean()


@pytest.mark.parametrize("token", [SECRET, seed.DEMO_AUTH_TOKEN], ids=["configured", "demo"])
def test_the_standalone_simulator_prints_a_token_only_in_its_announcement(tmp_path: Path, token: str) -> None:
    """`outbound-panel sim` serving requests: no access log line, no secret; the demo token only where it says
    how to connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    credentials = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": SECRET} if token == SECRET else {}
    env = {**clean, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path), **credentials}
    command = subprocess.Popen([sys.executable, "-m", "tui.cli", "sim", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert command.stdout is not None and command.stdout.readline().startswith("Twilio simulator on")
        for password, status in ((token, 200), (WRONG, 401)):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/Conversations",
                                             headers={"Authorization": f"Basic {basic(SID, password)}"})
            try:
                answered = urllib.request.urlopen(request, timeout=10).status
            except urllib.error.HTTPError as error:
                answered = error.code
            assert answered == status
    finally:
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=30)
    printed = [line for line in (out + err).splitlines() if line.strip()]
    assert [line for line in printed if token in line] == ([] if token == SECRET else printed[-1:])
    assert all(line.startswith(("Connect agents with", "Every worker")) for line in printed)
    log = Path(os.environ["XDG_STATE_HOME"]) / "outbound-panel" / "outbound-panel.log"
    assert log.exists() and not leaks(log.read_bytes(), [*SEARCHED, token, basic(SID, token)])


def test_the_snapshots_never_show_a_token(outputs: Outputs) -> None:
    """They are made on the embedded simulator: its demo token must not show either."""
    svgs = sorted((ROOT / "tests" / "__snapshots__").rglob("*.svg"))
    assert svgs
    outputs.files("snapshot", svgs)
    outputs.assert_clean([*SEARCHED, seed.DEMO_AUTH_TOKEN, basic(SID, seed.DEMO_AUTH_TOKEN)])


def test_the_search_finds_a_leak(outputs: Outputs) -> None:
    """The search can fail: a secret, plain, as a Basic credential, or split over SVG text spans, is found."""
    assert leaks(f"token={SECRET}") == [SECRET]
    assert leaks(f"Authorization: Basic {basic(SID, SECRET)}".encode()) == [basic(SID, SECRET)]
    assert leaks(f'<text>{SECRET[:8]}</text><text class="r2">{SECRET[8:].replace("-", "&#45;")}</text>') == [SECRET]
    assert leaks("SECRET-x9Q7 and do-not-print, apart") == []
    outputs.add("a deliberate leak", f"x {WRONG} y")
    with pytest.raises(AssertionError, match="a deliberate leak"):
        outputs.assert_clean()


# --- the simulator: loopback only, the right credentials only ---------------------------------------


async def test_simulator_listens_on_loopback_only() -> None:
    async with Simulator() as embedded:
        assert urlsplit(embedded.base_url).hostname == "127.0.0.1"
        runner = embedded._runner
        assert runner is not None and runner.addresses
        assert all(ip_address(address[0]).is_loopback for address in runner.addresses)

    announced: asyncio.Queue[str] = asyncio.Queue()
    standalone = asyncio.create_task(serve_forever(SimConfig(), 0, announced.put_nowait))  # `outbound-panel sim`
    try:
        assert urlsplit(await asyncio.wait_for(announced.get(), 10)).hostname == "127.0.0.1"
    finally:
        standalone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await standalone


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": f"Basic {basic(SID, WRONG)}"}, 401),
    ({"Authorization": f"Basic {basic('AC' + '2' * 32, SECRET)}"}, 401),  # the right secret, another account
    ({"Authorization": f"Basic {basic(SID, seed.DEMO_AUTH_TOKEN)}"}, 401),  # not the demo token either
    ({"Authorization": "Bearer " + SECRET}, 401),
    ({"Authorization": f"Basic {basic(SID, SECRET)}"}, 200),
], ids=["none", "wrong-token", "wrong-user", "demo-token", "not-basic", "right"])
async def test_simulator_accepts_only_its_credentials(sim_config: SimConfig, headers: dict[str, str],
                                                      status: int) -> None:
    # not the `sim` fixture: its contract check rightly flags these malformed requests
    async with Simulator(sim_config) as sim, aiohttp.ClientSession() as http:
        async with http.get(f"{sim.base_url}/v1/Conversations", headers=headers) as response:
            body = await response.json()
    assert response.status == status
    if status == 401:
        assert body["code"] == 20003

