"""The `outbound-panel` command: bad settings stop start-up with one readable paragraph, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
