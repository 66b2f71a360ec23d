"""The wheel is what `pipx install .` / `pip install outbound-panel` install: built from this checkout and
installed into a fresh venv, its `outbound-panel` command starts the panel on the embedded simulator from
any directory, reading the styles and the default settings it carries itself.

The one slow test of the suite (about 10 s: a wheel build with pip's build isolation, which fetches
setuptools from the package index, then a real start in a pseudo-terminal)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import termios
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS, COLS = 24, 80
ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b.")
CONNECTED = b"Alice Johnson"  # the seeded agent's name, on the top line once the session is open
NOT_PART_OF_THE_BUILD = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".env", "*.log"
)


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=45, **kwargs)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _take_terminal() -> None:  # in the child, after setsid(): the pty becomes its controlling terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _screen_text(output: bytes) -> bytes:
    return ESCAPES.sub(b"", output)


def test_the_wheel_installs_a_command_that_starts_the_panel_outside_the_checkout(tmp_path: Path) -> None:
    # -- build: from a copy of the checkout, so the build neither writes build/ and *.egg-info into the
    # working tree nor picks up a stale build/lib from an earlier one (setuptools never empties it)
    source, dist = tmp_path / "source", tmp_path / "dist"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_PART_OF_THE_BUILD)
    build_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", dist, source, env=build_env)
    (wheel,) = dist.glob("outbound_panel-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"tui/app.tcss", "tui/screens/__init__.py", "tui/widgets/panel.py", "core/settings.toml"} <= names
        # the root settings.toml itself, copied at build time: no second copy kept by hand
        assert archive.read("core/settings.toml") == (ROOT / "settings.toml").read_bytes()

    # -- a fresh venv holding the wheel and nothing of the checkout. Why it is honest:
    # * the wheel goes in with --no-deps --no-index into a venv made without pip and without system
    #   site-packages; its console script's shebang is that venv's python (checked below);
    # * the third-party dependencies (textual, twilio, ...) are not downloaded again: a .pth file
    #   appends the running interpreter's site-packages to sys.path, after the venv's own. A path line
    #   in a .pth file only appends that directory: the .pth files inside it are not processed, so
    #   the editable install's finder (__editable__*.pth), which maps core/tui/sim to this checkout,
    #   is never installed, and that directory holds no core, tui or sim of its own (asserted);
    # * it runs with no PYTHONPATH and its cwd is a directory outside the checkout;
    # * core, tui and sim are then importable only from the wheel's files, which is asserted from
    #   inside the venv's python, as is where the default settings are read from.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel,
         env=build_env)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    dependencies = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    for directory in dependencies:
        assert not {"core", "tui", "sim"} & {p.name.removesuffix(".py") for p in Path(directory).iterdir()}
    (site_packages / "zz_outbound_panel_test_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    command = venv / "bin" / "outbound-panel"
    assert command.read_text().splitlines()[0] == f"#!{python}"

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        **{f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("CONFIG", "DATA", "STATE", "CACHE")},
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }  # no PYTHONPATH, no TWILIO_* / OUTBOUND_PANEL_* / TEXTUAL_*: the embedded simulator, the defaults
    probe = (
        "import json, core, sim, tui, tui.app, core.settings as s\n"
        "print(json.dumps([core.__file__, sim.__file__, tui.__file__, tui.app.__file__, str(s.PROJECT_SETTINGS_FILE),"
        " s.load_settings().agent.identity]))\n"
    )
    *modules, settings_file, identity = json.loads(_run(python, "-c", probe, cwd=elsewhere, env=env).stdout)
    for path in (*modules, settings_file):
        assert Path(path).is_relative_to(site_packages), f"{path} is not the wheel's"
    assert Path(settings_file) == site_packages / "core" / "settings.toml" and identity == "alice@example.com"

    # -- the installed command, in an 80×24 pseudo-terminal, from another directory
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    try:
        app = subprocess.Popen([command], stdin=slave, stdout=slave, stderr=slave, cwd=elsewhere, env=env,
                               start_new_session=True, preexec_fn=_take_terminal, close_fds=True)
    finally:
        os.close(slave)
    output = bytearray()

    def read(seconds: float, until: bytes | None = None) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not (until and until in _screen_text(bytes(output))):
            if select.select([master], [], [], min(left, 0.1))[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the app closed the terminal
                    data = b""
                if not data:
                    return
                output.extend(data)

    try:
        read(30.0, until=CONNECTED)
        read(0.5)  # the rest of that frame
        screen = _screen_text(bytes(output)).decode("utf-8", "replace")
        assert CONNECTED.decode() in screen and "Available" in screen and "via simulator" in screen, screen[-2000:]
        assert "Cannot read" not in screen and "Traceback" not in screen, screen[-2000:]
        os.write(master, b"\x11")  # ctrl+q
        end = time.monotonic() + 10
        while app.poll() is None and time.monotonic() < end:
            read(0.1)
        assert app.returncode == 0, f"quit by ctrl+q: {app.returncode}"
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait(5)
        os.close(master)
