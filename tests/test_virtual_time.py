"""The tests' virtual-time loop: timers cost no real time, and the clock never moves while an answer is
still on its way, however slow the machine is."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest
from twilio.rest import Client

from core.errors import TwilioUnavailable
from core.gateway import TwilioGateway
from sim.server import Simulator
from tests.outbound_fixtures import settings_for
from tests.virtual_time import VirtualTimeLoop


async def test_an_hour_of_sleep_costs_no_real_time() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    started, real = loop.time(), time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() - started == pytest.approx(3600)
    assert time.monotonic() - real < 1.0


async def test_a_request_the_simulator_holds_times_out_on_the_virtual_clock(
        sim: Simulator, client: Client, tmp_path: Path) -> None:
    gateway = TwilioGateway(client, settings_for(sim, tmp_path), deadline=10.0)
    sim.fault(r"/v1/Conversations/CH[0-9a-f]+", method="GET", kind="timeout", hang=15.0)
    loop = asyncio.get_running_loop()
    started, real = loop.time(), time.monotonic()
    with pytest.raises(TwilioUnavailable) as failed:
        await gateway.conversation_state("CH" + "0" * 32)
    assert failed.value.timed_out
    assert loop.time() - started == pytest.approx(10.0)
    assert time.monotonic() - real < 2.0


def _slow_server(delay: float) -> tuple[int, threading.Thread]:
    """An HTTP server in another thread that answers after `delay` seconds of real time: I/O the loop cannot
    see coming, as a busy machine's would be."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            time.sleep(delay)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                               b"Connection: close\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


async def test_the_clock_stands_still_while_an_answer_is_on_its_way(client: Client) -> None:
    port, thread = _slow_server(0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await asyncio.wait_for(client.http_client.request("GET", f"http://127.0.0.1:{port}/slow"), 0.1)
    assert response.status_code == 200  # half a second of real time, yet a 0.1 s deadline did not expire
    assert loop.time() - started < 0.1
    thread.join(5)
