"""My chats, measured (issue 12): how soon a customer's message reaches the agent, how fast a long conversation
opens, and what a quiet open chat costs in requests.

Run: .venv/bin/python bench/chat.py [--messages N] [--minutes M]
On the tests' virtual-time event loop (tests/virtual_time.py) with the simulator in real-time mode on that
loop's clock: the status watcher runs with its production pace (0.5 s fast, doubling to 120 s when quiet),
the customer writes at random moments over M minutes, and what is measured is the delay the polling design
adds (virtual seconds: no network, no machine speed in it). Opening a 1,000-message conversation is timed in
real milliseconds (the first page, then every older page), over real HTTP to the simulator.
Last line: `chat: p50=… s p95=… s, open 1000 msgs=… ms, quiet req/min=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.chats import ChatDesk  # noqa: E402
from core.events import CustomerReplied  # noqa: E402
from core.gateway import TwilioGateway  # noqa: E402
from core.twilio_client import open_client  # noqa: E402
from core.watcher import StatusWatcher  # noqa: E402
from sim import seed  # noqa: E402
from sim.server import Simulator  # noqa: E402
from sim.world import SimConfig  # noqa: E402
from tests import virtual_time  # noqa: E402
from tests.outbound_fixtures import settings_for  # noqa: E402


async def measure(workdir: Path, messages: int, minutes: float) -> tuple[list[float], float, float, float]:
    config = SimConfig(random_seed=1234, customer_reply_delay=10**6)  # the customer writes only when told here
    async with Simulator(config) as sim:
        settings = settings_for(sim, workdir)
        async with open_client(settings) as client:
            gateway = TwilioGateway(client, settings)
            agent = await gateway.fetch_agent()
            desk = ChatDesk(gateway, agent)
            started = sim.world.customers.write_in(seed.CUSTOMERS[0].address, seed.SMS_SENDERS[0], "Hello?")
            [chat] = await desk.my_chats()
            await gateway.answer_reservation(chat.task_sid, chat.reservation_sid, accept=True)

            # 1. a customer's message → the watcher's event, messages at random moments
            watcher = StatusWatcher(gateway)
            said: dict[str, float] = {}
            delays: list[float] = []
            loop = asyncio.get_running_loop()

            def heard(event: object) -> None:
                if isinstance(event, CustomerReplied) and event.body in said:
                    delays.append(loop.time() - said.pop(event.body))

            watcher.subscribe(heard)
            rng = random.Random(7)
            async with watcher:
                watcher.follow_chat(started.conversation_sid, chat.customer, chat.task_sid)
                for n in range(messages):
                    await asyncio.sleep(rng.uniform(0, 2 * minutes * 60 / messages))
                    said[f"message {n}"] = loop.time()
                    sim.world.customers.say(started.conversation_sid, f"message {n}")
                while said:
                    await asyncio.sleep(1)

                # 3. a quiet open chat: requests per minute once it has gone quiet
                await asyncio.sleep(10 * 60)
                before, quiet_start = watcher.requests, loop.time()
                await asyncio.sleep(10 * 60)
                quiet_per_minute = (watcher.requests - before) / ((loop.time() - quiet_start) / 60)

            # 2. a 1,000-message conversation opens (first page) and scrolls back (every older page)
            for n in range(1000 - len(sim.world.conversations.conversation(started.conversation_sid).messages)):
                sim.world.customers.say(started.conversation_sid, f"backlog {n}")
            real = time.perf_counter()
            page = await desk.transcript(chat)
            open_ms = (time.perf_counter() - real) * 1000
            read = len(page)
            while page:
                page = await desk.transcript(chat, before=page[0].index)
                read += len(page)
            scroll_ms = (time.perf_counter() - real) * 1000
            assert read == 1000, read
    return delays, open_ms, scroll_ms, quiet_per_minute


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60, help="customer messages (default 60)")
    parser.add_argument("--minutes", type=float, default=30.0, help="over this many minutes (default 30)")
    options = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore", DeprecationWarning)
    virtual_time.install()
    with tempfile.TemporaryDirectory() as workdir, asyncio.Runner(loop_factory=virtual_time.VirtualTimeLoop) as run:
        delays, open_ms, scroll_ms, quiet = run.run(measure(Path(workdir), options.messages, options.minutes))
    cuts = statistics.quantiles(delays, n=20)
    p50, p95 = statistics.median(delays), cuts[18]
    print(f"customer message -> agent: {len(delays)} messages over {options.minutes:g} min, "
          f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(delays):.2f} s (the watcher's polling; no network)")
    print(f"a 1,000-message conversation: opens (newest page) in {open_ms:.0f} ms; scrolled back to its first "
          f"message (every page, each read once) in {scroll_ms:.0f} ms")
    print(f"one quiet open chat: {quiet:.1f} requests/min")
    print(f"chat: p50={p50:.2f} s p95={p95:.2f} s, open 1000 msgs={open_ms:.0f} ms, quiet req/min={quiet:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
