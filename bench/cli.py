"""`outbound-panel send --json` against `outbound-panel sim`, beside the same send from Python in-process.

Run: .venv/bin/python bench/cli.py            (about 30 s)

One standalone simulator (`python -m tui.cli sim`, a child process on a free loopback port, 50 ms added to every
request); the agent's settings point at it through TWILIO_BASE_URL, with private XDG directories (an empty history).

- cli send: the wall time of `python -m tui.cli send --to … --body Hello --json --mode M` (a new process each time:
  interpreter start, imports, connecting, the look-ups the rules need, the send), median of 10 per mode, each to a new
  customer.
- in-process: the same command's work (tui.commands.run: connecting, look-ups, the send) from Python, without a new
  process; and the send alone on a session already open (what a long-running script pays).
- round trips: the sequential round trips (requests that ran one after another; concurrent ones share a step) of
  the send in each CLI run, read from the simulator's request log (GET /_sim/requests): the requests from the
  send's first POST to its last. The panel's send is 2 (bench/sends.py).

Last line: `cli send: median … ms, in-process … ms, round trips open_chat=… wait_me=… wait_any=…`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from sim import seed  # noqa: E402
from sim.knobs import LoggedRequest, sequential_round_trips  # noqa: E402

LATENCY = 0.05
RUNS = 10
MODES = ("open_chat", "wait_me", "wait_any")


def requests_of(base_url: str) -> list[dict[str, Any]]:
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    asked = urllib.request.Request(f"{base_url}/_sim/requests", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(asked, timeout=10) as answer:
        return [r for r in json.load(answer)["requests"] if not r["path"].startswith("/_sim/")]


def send_round_trips(logged: list[dict[str, Any]]) -> int:
    """Sequential round trips of the requests from the first POST (the send's first write) to the last."""
    posts = [i for i, r in enumerate(logged) if r["method"] == "POST"]
    span = logged[posts[0]:posts[-1] + 1]
    return sequential_round_trips([LoggedRequest(r["method"], "", r["path"], [], [], {}, r["started"], r["duration"])
                                   for r in span])


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


async def in_process(env: dict[str, str], customers: Any) -> tuple[list[float], list[float]]:
    """(connect + look-ups + send as `tui.commands.run` does it, the send alone on an open session) per run."""
    os.environ.update(env)
    from core.settings import load_settings
    from tui import commands
    from tui.cli import _parser, connect

    settings = load_settings()
    whole, alone = [], []
    for mode in MODES:
        for _ in range(RUNS):
            args = _parser().parse_args(["send", "--to", next(customers), "--body", "Hello", "--json", "--mode", mode])
            started = time.perf_counter()
            assert await commands.run(args, settings, out=lambda line: None) == commands.OK
            whole.append(time.perf_counter() - started)
    async with connect(settings) as (session, _):
        for mode in MODES:
            for _ in range(RUNS):
                started = time.perf_counter()
                await session.send({"destination": next(customers), "callerId": seed.SMS_SENDERS[0],
                                    "channel": "sms", "body": "Hello", "sendMode": mode})
                alone.append(time.perf_counter() - started)
    return whole, alone


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    base = {**clean, "PYTHONPATH": str(ROOT), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state")}
    port = free_port()
    simulator = subprocess.Popen([sys.executable, "-m", "tui.cli", "sim", "--port", str(port), "--latency",
                                  str(LATENCY)], cwd=home, env=base, stdout=subprocess.PIPE, text=True)
    try:
        assert simulator.stdout is not None
        announced = simulator.stdout.readline()
        assert announced.startswith("Twilio simulator on"), announced
        base_url = f"http://127.0.0.1:{port}"
        env = {**base, "TWILIO_BASE_URL": base_url, "TWILIO_ACCOUNT_SID": seed.ACCOUNT_SID,
               "TWILIO_AUTH_TOKEN": seed.DEMO_AUTH_TOKEN}
        customers = (f"+1415555{n:04d}" for n in range(1000, 10000))
        print(f"injected latency per request: {LATENCY * 1000:.0f} ms; {RUNS} runs per mode")
        cli: list[float] = []
        trips: dict[str, list[int]] = {}
        requests: list[int] = []
        for mode in MODES:
            times = []
            for _ in range(RUNS):
                seen = len(requests_of(base_url))
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "tui.cli", "send", "--to", next(customers), "--body",
                                       "Hello", "--json", "--mode", mode], cwd=home, env=env, capture_output=True,
                                      text=True, timeout=60)
                times.append(time.perf_counter() - started)
                assert done.returncode == 0 and json.loads(done.stdout)["sent"], done.stderr
                logged = requests_of(base_url)[seen:]
                requests.append(len(logged))
                trips.setdefault(mode, []).append(send_round_trips(logged))
            cli += times
            print(f"cli send {mode}: median {median_ms(times):.0f} ms, round trips {statistics.median(trips[mode]):.0f}")
        print(f"requests per cli send (connect, look-ups, send): median {statistics.median(requests):.0f}")
        whole, alone = asyncio.run(in_process(env, customers))
        print(f"in-process, connect + look-ups + send (tui.commands.run): median {median_ms(whole):.0f} ms")
        print(f"in-process, the send alone on an open session: median {median_ms(alone):.0f} ms")
        print(f"cli send: median {median_ms(cli):.0f} ms, in-process {median_ms(whole):.0f} ms, round trips "
              + " ".join(f"{mode}={statistics.median(trips[mode]):.0f}" for mode in MODES))
    finally:
        simulator.terminate()
        simulator.wait(10)


if __name__ == "__main__":
    main()
