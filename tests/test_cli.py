"""The `outbound-panel` command: bad settings stop start-up with one readable paragraph, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings, load_settings
from tui.cli import _parser, _sim_config, _standalone_config

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_sid_in_environment_exits_2_with_a_readable_paragraph(tmp_path: Path) -> None:
    result = _run(tmp_path, OUTBOUND_PANEL_FLEX__WORKSPACE_SID="WS123")
    assert result.returncode == 2
    assert "OUTBOUND_PANEL_FLEX__WORKSPACE_SID" in result.stderr
    assert "32 hexadecimal characters" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_secret_pairing_never_prints_the_secret(tmp_path: Path) -> None:
    result = _run(tmp_path, TWILIO_AUTH_TOKEN="s3cr3t-distinctive-token")
    assert result.returncode == 2
    assert "TWILIO_ACCOUNT_SID" in result.stderr
    assert "s3cr3t-distinctive-token" not in result.stderr + result.stdout


def test_help_names_the_simulator_command(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    assert result.returncode == 0
    assert "sim" in result.stdout and "--agent" in result.stdout


def test_simulator_port_in_use_is_a_readable_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(tmp_path, "sim", "--port", str(port))
    assert result.returncode == 2
    assert "could not start the Twilio simulator" in result.stderr
    assert "Traceback" not in result.stderr


# --- the simulator's colleagues ----------------------------------------------------------------


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path), **env}, tmp_path)


def test_embedded_simulator_has_colleagues_and_the_agent_is_the_human(tmp_path: Path) -> None:
    config = _sim_config(_settings(tmp_path))
    assert (config.colleague_accept_delay, config.humans) == (4.0, frozenset({"alice@example.com"}))
    bob = _settings(tmp_path, OUTBOUND_PANEL_AGENT__IDENTITY="bob@example.com",
                    OUTBOUND_PANEL_SIM__COLLEAGUE_ACCEPT_DELAY="1.5")
    assert (_sim_config(bob).colleague_accept_delay, _sim_config(bob).humans) == (1.5, frozenset({"bob@example.com"}))
    off = _settings(tmp_path, OUTBOUND_PANEL_SIM__COLLEAGUE_ACCEPT_DELAY="off")
    assert _sim_config(off).colleague_accept_delay is None


def test_standalone_simulator_has_colleagues_only_when_asked(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plain = _standalone_config(_parser().parse_args(["sim"]), settings)
    assert plain.colleague_accept_delay is None
    args = ["sim", "--colleagues-accept", "2", "--human", "alice@example.com", "--human", "bob@example.com"]
    asked = _standalone_config(_parser().parse_args(args), settings)
    assert (asked.colleague_accept_delay, asked.humans) == (2.0, frozenset({"alice@example.com", "bob@example.com"}))


def test_sim_help_documents_colleagues_and_refuses_negative_seconds(tmp_path: Path) -> None:
    result = _run(tmp_path, "sim", "--help")
    assert result.returncode == 0
    assert "--colleagues-accept SECONDS" in result.stdout and "--human NAME" in result.stdout
    refused = _run(tmp_path, "sim", "--colleagues-accept", "-1")
    assert refused.returncode == 2 and "--colleagues-accept" in refused.stderr


def test_sim_refuses_a_port_or_latency_that_cannot_be(tmp_path: Path) -> None:
    for argv, said in ((["sim", "--port", "99999"], "argument --port: expected a port, 0 to 65535, not '99999'"),
                       (["sim", "--latency", "-5"], "argument --latency: expected a number of seconds, 0 or more, "
                                                    "not '-5'")):
        result = _run(tmp_path, *argv)
        assert (result.returncode, result.stderr) == (2, f"outbound-panel sim: {said}\n")
