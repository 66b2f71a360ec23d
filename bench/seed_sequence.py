"""Requests the seed plugin's call sequence makes per send, per mode, against the simulator.

Run: .venv/bin/python bench/seed_sequence.py   (prints one `name: value` line per figure)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.rest import Client  # noqa: E402

from core.gateway import RewritingHttpClient  # noqa: E402
from sim import seed  # noqa: E402
from sim.server import Simulator  # noqa: E402
from sim.world import SimConfig  # noqa: E402
from tests.seed_plugin import plugin_send  # noqa: E402

LATENCY = 0.05
RUNS = 20
MODES = {"open_chat": (True, False), "wait_me": (False, True), "wait_any": (False, False)}


async def main() -> None:
    async with Simulator(SimConfig(latency=LATENCY, manual_clock=True, random_seed=7)) as sim:
        http = RewritingHttpClient(sim.base_url)
        client = Client(seed.ACCOUNT_SID, seed.DEMO_AUTH_TOKEN, http_client=http)
        print(f"injected latency per request: {LATENCY * 1000:.0f} ms")
        customer = 0
        for mode, (open_chat, route_to_me) in MODES.items():
            counts, times = [], []
            for _ in range(RUNS):
                customer += 1
                before = len(sim.world.log)
                started = time.perf_counter()
                await plugin_send(client, to=f"+1415555{customer:04d}", from_=seed.SMS_SENDERS[0],
                                  body="Hello", open_chat=open_chat, route_to_me=route_to_me)
                times.append(time.perf_counter() - started)
                counts.append(len(sim.world.log) - before)
            print(f"seed {mode} requests per send: {statistics.median(counts):.0f}")
            print(f"seed {mode} wall time per send (median of {RUNS}): {statistics.median(times) * 1000:.0f} ms")
        await http.close()


if __name__ == "__main__":
    asyncio.run(main())
