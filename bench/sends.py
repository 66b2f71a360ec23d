"""Our OutboundService against the seed plugin's call sequence, per mode, through one simulator.

Run: .venv/bin/python bench/sends.py
Prints one `name: value` line per figure; the last line is `sequential round trips: …` for ours.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.gateway import TwilioGateway  # noqa: E402
from core.twilio_client import open_client  # noqa: E402
from core.models import prepare_send  # noqa: E402
from core.outbound import OutboundService  # noqa: E402
from core.settings import load_settings  # noqa: E402
from sim import seed  # noqa: E402
from sim.server import Simulator  # noqa: E402
from sim.world import SimConfig  # noqa: E402
from tests.seed_plugin import plugin_send  # noqa: E402
from tui.cli import on_simulator  # noqa: E402

LATENCY = 0.05
RUNS = 20
MODES = ("open_chat", "wait_me", "wait_any")


def figures(name: str, counts: list[int], waves: list[int], times: list[float]) -> tuple[float, float, float]:
    requests, trips, wall = statistics.median(counts), statistics.median(waves), statistics.median(times) * 1000
    print(f"{name} requests per send: {requests:.0f}")
    print(f"{name} sequential round trips: {trips:.0f}")
    print(f"{name} wall time per send (median of {len(times)}): {wall:.0f} ms")
    return requests, trips, wall


async def main() -> None:
    settings = load_settings(env={"XDG_CONFIG_HOME": "/nonexistent"}, cwd=Path("/nonexistent"))
    async with Simulator(SimConfig(latency=LATENCY, manual_clock=True, random_seed=7)) as sim:
        settings = on_simulator(settings, sim.base_url)
        async with open_client(settings) as client:
            gateway = TwilioGateway(client, settings)
            service = OutboundService(gateway, await gateway.fetch_agent())
            customer = iter(range(1000, 10000))
            print(f"injected latency per request: {LATENCY * 1000:.0f} ms")
            ours: dict[str, float] = {}
            for mode in MODES:
                results = {}
                for name in ("ours", "seed"):
                    counts, waves, times = [], [], []
                    for _ in range(RUNS):
                        to = f"+1415555{next(customer):04d}"
                        before = len(sim.world.log)
                        started = time.perf_counter()
                        if name == "ours":
                            await service.send(prepare_send(channel="sms", destination=to, sender=seed.SMS_SENDERS[0],
                                                            mode=mode, senders=settings.senders, body="Hello"))
                        else:
                            await plugin_send(client, to=to, from_=seed.SMS_SENDERS[0], body="Hello",
                                              open_chat=mode == "open_chat", route_to_me=mode == "wait_me")
                        times.append(time.perf_counter() - started)
                        counts.append(len(sim.world.log) - before)
                        waves.append(sim.world.log.sequential_round_trips(before))
                    results[name] = figures(f"{name} {mode}", counts, waves, times)
                ours[mode] = results["ours"][1]
                print(f"seed/ours wall time ratio {mode}: {results['seed'][2] / results['ours'][2]:.2f}")
            print("sequential round trips: " + " ".join(f"{m}={ours[m]:.0f}" for m in MODES))


if __name__ == "__main__":
    asyncio.run(main())
