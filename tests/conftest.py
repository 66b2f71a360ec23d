"""Shared fixtures: a simulator on a manual clock, and the real twilio SDK pointed at it over HTTP."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from twilio.rest import Client

from core.gateway import RewritingHttpClient
from sim import seed
from sim.server import Simulator
from sim.world import SimConfig


@pytest.fixture
def sim_config() -> SimConfig:
    """Short delays and a clock the test moves by hand (`sim.world.clock.advance(s)`)."""
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5)


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[Simulator]:
    async with Simulator(sim_config) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    http = RewritingHttpClient(sim.base_url)
    yield Client(seed.ACCOUNT_SID, seed.DEMO_AUTH_TOKEN, http_client=http)
    await http.close()
