"""The app's log: a private rotating file in the user state dir, secrets redacted, nothing on the terminal;
and the warning for a settings file whose secret others can read."""

from __future__ import annotations

import base64
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.logs import LOG_BACKUPS, PrivateRotatingFileHandler, RedactSecrets, default_path, exposed_secret_warning
from core.logs import setup_logging
from core.settings import Settings, load_settings
from sim import seed
from tests.outbound_fixtures import project_settings
from tui.app import OutboundPanelApp
from tui.cli import _start_logging, connect, where

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "tok-3f9Zq-never-logged"
API_SECRET = "apisecret-Lm82-never-logged"
BASIC = base64.b64encode(f"{seed.ACCOUNT_SID}:some-other-password".encode()).decode()  # not from the settings


@pytest.fixture(autouse=True)
def isolated_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: put it back for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("outbound_panel", "twilio", "aiohttp")}
    raise_exceptions = logging.raiseExceptions
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.raiseExceptions = raise_exceptions
    logging.captureWarnings(False)


def with_secrets(tmp_path: Path) -> Settings:
    twilio = {"account_sid": seed.ACCOUNT_SID, "auth_token": TOKEN, "api_key": "SK" + "0" * 32,
              "api_secret": API_SECRET}
    settings = project_settings(tmp_path)
    return settings.model_copy(update={"twilio": settings.twilio.model_validate(twilio)})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- where the log goes ---------------------------------------------------------------------------


def test_log_file_is_in_the_state_dir_private_and_rotating(tmp_path: Path) -> None:
    path = setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert path == tmp_path / "state" / "outbound-panel" / "outbound-panel.log"
    logging.getLogger("outbound_panel.test").info("hello log")
    assert "hello log" in path.read_text()
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrivateRotatingFileHandler)]
    assert len(handlers) == 1 and handlers[0].backupCount == LOG_BACKUPS == 3
    assert 1_000_000 <= handlers[0].maxBytes <= 10_000_000
    assert not [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]


def test_rotated_files_stay_private_and_a_wider_old_file_is_narrowed(tmp_path: Path) -> None:
    path = default_path({"XDG_STATE_HOME": str(tmp_path)})
    path.parent.mkdir(mode=0o755)
    path.write_text("from an older version\n")
    os.chmod(path, 0o644)
    setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path)})
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, PrivateRotatingFileHandler))
    handler.maxBytes = 200
    for number in range(20):
        logging.getLogger("outbound_panel.test").info("line %d %s", number, "x" * 50)
    rotated = sorted(path.parent.iterdir())
    assert len(rotated) == 1 + LOG_BACKUPS
    assert {mode(file) for file in rotated} == {0o600}


def test_default_path_follows_xdg_and_ignores_a_relative_state_home(tmp_path: Path) -> None:
    assert default_path({"HOME": str(tmp_path)}) == tmp_path / ".local/state/outbound-panel/outbound-panel.log"
    relative = default_path({"HOME": str(tmp_path), "XDG_STATE_HOME": "state"})
    assert relative == tmp_path / ".local/state/outbound-panel/outbound-panel.log"


def test_ours_at_info_twilio_and_aiohttp_at_warning(tmp_path: Path) -> None:
    path = setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path)})
    logging.getLogger("outbound_panel.outbound").info("ours at info")
    logging.getLogger("twilio.http_client").info("-- BEGIN Twilio API Request --")
    logging.getLogger("aiohttp.access").info("GET /v1/Conversations 200")
    logging.getLogger("twilio.http_client").warning("twilio warns")
    text = path.read_text()
    assert "ours at info" in text and "twilio warns" in text
    assert "BEGIN Twilio API Request" not in text and "GET /v1/Conversations" not in text


def test_nothing_reaches_the_terminal(tmp_path: Path) -> None:
    """Every way a library or Python itself could print while the TUI draws: the log file gets them all."""
    code = (
        "import logging, warnings\n"
        "from tests.outbound_fixtures import project_settings\n"
        "from core.logs import setup_logging\n"
        "from pathlib import Path\n"
        f"path = setup_logging(project_settings(Path({str(tmp_path)!r})))\n"
        "logging.getLogger('twilio.http_client').warning('twilio warning')\n"
        "logging.getLogger('aiohttp.server').error('aiohttp error')\n"
        "logging.getLogger('asyncio').error('Task exception was never retrieved')\n"
        "logging.warning('root warning')\n"
        "warnings.warn('a deprecation', DeprecationWarning)\n"
        "logging.getLogger('outbound_panel.x').info('bad %s %s', 'args')\n"
    )
    result = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = (tmp_path / "state" / "outbound-panel" / "outbound-panel.log").read_text()
    for line in ("twilio warning", "aiohttp error", "Task exception was never retrieved", "root warning",
                 "a deprecation", "bad %s %s"):
        assert line in text


# --- redaction ------------------------------------------------------------------------------------


def test_secrets_are_redacted_in_message_args_and_traceback(tmp_path: Path) -> None:
    path = setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path)})
    log = logging.getLogger("outbound_panel.test")
    log.info(f"in the message {TOKEN}")
    log.info("in the args %s and %r", API_SECRET, {"Authorization": f"Basic {BASIC}"})
    log.info("url-encoded %s", "password=" + TOKEN.replace("-", "%2D"))
    try:
        raise RuntimeError(f"failed with {TOKEN} / Authorization: Basic {BASIC}")
    except RuntimeError:
        log.exception("a failure")
    log.info("stack", stack_info=True, extra={"unused": TOKEN})
    text = path.read_text()
    for secret in (TOKEN, API_SECRET, BASIC):
        assert secret not in text
    assert "in the message ***" in text and "in the args *** and {'Authorization': 'Basic ***'}" in text
    assert "RuntimeError: failed with *** / Authorization: Basic ***" in text
    assert "Traceback" in text  # the traceback itself is kept, redacted


def test_the_basic_credential_built_from_the_settings_is_redacted_without_its_prefix(tmp_path: Path) -> None:
    encoded = base64.b64encode(f"SK{'0' * 32}:{API_SECRET}".encode()).decode()
    path = setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path)})
    logging.getLogger("outbound_panel.test").warning("header value %s", encoded)
    assert encoded not in path.read_text() and "header value ***" in path.read_text()


def test_redaction_replaces_a_longer_secret_whole_and_leaves_other_text() -> None:
    redact = RedactSecrets(["abc", "abcdef", ""]).redact
    assert redact("x abcdef y abc z") == "x *** y *** z"
    prose = "no secret: Basic authentication failed"
    assert RedactSecrets([]).redact(prose) == prose


def test_the_redaction_can_fail(tmp_path: Path) -> None:
    """The same file, without the filter, does show the secret: the assertions above are not vacuous."""
    path = setup_logging(with_secrets(tmp_path), env={"XDG_STATE_HOME": str(tmp_path)})
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, PrivateRotatingFileHandler))
    handler.filters.clear()
    logging.getLogger("outbound_panel.test").info("leaked %s", TOKEN)
    assert f"leaked {TOKEN}" in path.read_text()


# --- a settings file others can read --------------------------------------------------------------


def _settings_file(tmp_path: Path, text: str, permissions: int) -> Path:
    path = tmp_path / "config" / "outbound-panel" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, permissions)
    return path


SECRET_FILE = f'[twilio]\naccount_sid = "{seed.ACCOUNT_SID}"\nauth_token = "{TOKEN}"\n'


@pytest.mark.parametrize("permissions", [0o644, 0o640, 0o604])
def test_settings_file_with_a_secret_readable_by_others_draws_a_warning(tmp_path: Path, permissions: int) -> None:
    path = _settings_file(tmp_path, SECRET_FILE, permissions)
    warning = exposed_secret_warning({"XDG_CONFIG_HOME": str(tmp_path / "config")}, tmp_path)
    assert warning == f"Your settings file holds a Twilio secret and other users can read it: run chmod 600 {path}"
    assert TOKEN not in warning


def test_private_settings_file_or_one_without_a_secret_draws_none(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    path = _settings_file(tmp_path, SECRET_FILE, 0o600)
    assert exposed_secret_warning(env, tmp_path) is None
    os.chmod(path, 0o400)
    assert exposed_secret_warning(env, tmp_path) is None
    _settings_file(tmp_path, '[ui]\nphone_region = "GB"\n[twilio]\naccount_sid = "AC' + "1" * 32 + '"\n', 0o644)
    assert exposed_secret_warning(env, tmp_path) is None
    assert exposed_secret_warning({"XDG_CONFIG_HOME": str(tmp_path / "none")}, tmp_path) is None  # no file at all


def test_api_secret_in_the_file_named_by_the_environment_draws_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(f'[twilio]\napi_secret = "{API_SECRET}"\n')
    os.chmod(path, 0o664)
    warning = exposed_secret_warning({"OUTBOUND_PANEL_SETTINGS": "mine.toml"}, tmp_path)
    assert warning is not None and f"chmod 600 {path}" in warning


async def test_the_app_shows_the_warning_at_start(tmp_path: Path) -> None:
    settings = project_settings(tmp_path)
    warning = "Your settings file holds a Twilio secret and other users can read it: run chmod 600 /x/settings.toml"
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings), [warning])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = [(n.message, n.severity) for n in app._notifications]
    assert (warning, "warning") in shown


def test_the_command_logs_to_the_file_and_warns_about_the_settings_file(tmp_path: Path) -> None:
    """`outbound-panel sim` on a taken port: the warning on stderr before it stops, and in the private log."""
    path = _settings_file(tmp_path, SECRET_FILE, 0o644)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    env = {**clean, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run([sys.executable, "-m", "tui.cli", "sim", "--port", port], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"chmod 600 {path}" in result.stderr and TOKEN not in result.stderr + result.stdout
    log = tmp_path / "state" / "outbound-panel" / "outbound-panel.log"
    assert mode(log) == 0o600 and f"chmod 600 {path}" in log.read_text() and TOKEN not in log.read_text()


def test_the_embedded_simulators_demo_token_is_redacted_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert _start_logging(project_settings(tmp_path), None) == []
    logging.getLogger("outbound_panel.test").warning("demo %s", seed.DEMO_AUTH_TOKEN)
    text = default_path().read_text()
    assert "the app on the embedded Twilio simulator" in text and "demo ***" in text
    assert seed.DEMO_AUTH_TOKEN not in text


def test_load_settings_still_reads_the_file_it_warns_about(tmp_path: Path) -> None:
    _settings_file(tmp_path, SECRET_FILE, 0o644)
    settings = load_settings({"XDG_CONFIG_HOME": str(tmp_path / "config")}, tmp_path)
    assert settings.twilio.auth_token is not None and settings.twilio.auth_token.get_secret_value() == TOKEN


def test_a_log_file_that_cannot_be_written_is_a_warning_the_app_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state").write_text("a file where the state directory should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    [warning] = _start_logging(project_settings(tmp_path), None)
    assert warning.startswith("Cannot write the log file, running without it:")
    assert capsys.readouterr().err == ""  # not printed: the app's first frame would draw over it
