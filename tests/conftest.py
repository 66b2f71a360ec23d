"""Shared fixtures: a simulator on a manual clock, and the real twilio SDK pointed at it over HTTP.

Async tests run on a virtual-time event loop (tests/virtual_time.py): their deadlines, back-offs and
hangs cost no real time. Tests marked `real_time` (Textual apps, child processes) get an ordinary loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import AsyncIterator

import pytest
from twilio.rest import Client

from core.twilio_client import RewritingHttpClient
from sim import seed
from sim.knobs import LoggedRequest
from sim.server import Simulator
from sim.world import SimConfig
from tests import virtual_time
from tests.contract import Exchange, specs_dir, validate

virtual_time.install()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_time: run on an ordinary event loop (Textual, child processes)")


def pytest_asyncio_loop_factories(config: pytest.Config,
                                   item: pytest.Item) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.get_closest_marker("real_time"):
        return {"real_time": asyncio.new_event_loop}
    return {"virtual_time": virtual_time.VirtualTimeLoop}


@pytest.fixture(autouse=True)
def private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's own home, settings, data (the send history) or state (logs)."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("HOME", str(home))
    for kind in ("config", "data", "state"):
        monkeypatch.setenv(f"XDG_{kind.upper()}_HOME", str(home / kind))


@pytest.fixture
def sim_config() -> SimConfig:
    """Short delays and a clock the test moves by hand (`sim.world.clock.advance(s)`)."""
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5)


def _exchange(entry: LoggedRequest) -> Exchange:
    return Exchange(
        method=entry.method,
        host=entry.host,
        path=entry.path,
        query=entry.query,
        request_headers=entry.headers,
        form=entry.form,
        status=entry.status or 0,
        response_headers=entry.response_headers,
        response_body=entry.response_body,
    )


def contract_violations(simulator: Simulator) -> list[str]:
    """Every answered request of this simulator, checked against Twilio's OpenAPI specs."""
    answered = [e for e in simulator.world.log if e.status is not None and not e.path.startswith("/_sim/")]
    return [f"{e.method} {e.path}: {v}" for e in answered for v in validate(_exchange(e))]


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[Simulator]:
    """A simulator whose every exchange in the test is validated against Twilio's specs afterwards."""
    async with Simulator(sim_config) as simulator:
        yield simulator
    if specs_dir() is not None:
        violations = contract_violations(simulator)
        assert not violations, "contract violations:\n" + "\n".join(violations)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    http = RewritingHttpClient(sim.base_url)
    yield Client(seed.ACCOUNT_SID, seed.DEMO_AUTH_TOKEN, http_client=http)
    await http.close()
