"""The simulated Twilio account: configuration, clock, knobs and every product's state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from sim import seed
from sim.clock import Clock
from sim.knobs import Faults, RequestLog
from sim.wire import SidFactory


@dataclass
class SimConfig:
    account_sid: str = seed.ACCOUNT_SID
    # (username, password) pairs accepted by Basic auth: account SID + auth token, or API key + secret.
    credentials: list[tuple[str, str]] = field(
        default_factory=lambda: [(seed.ACCOUNT_SID, seed.DEMO_AUTH_TOKEN)]
    )
    customer_reply_delay: float = 3.0  # seconds from delivery to the customer's reply
    delivery_delay: float = 0.5  # seconds between queued → sent → delivered → read
    reservation_timeout: float = 120.0  # seconds a pending reservation waits before timing out
    # Seconds after a reservation is offered before a simulated colleague accepts it; None = never.
    colleague_accept_delay: float | None = None
    # Worker friendly names (Flex identities, e.g. "alice@example.com") of the people at a terminal:
    # their reservations are never accepted for them.
    humans: frozenset[str] = frozenset()
    # Seconds between seeded customers writing in on their own (a conversation of theirs, routed to Flex); None = never.
    inbound_every: float | None = None
    latency: float = 0.0  # seconds added to every request
    # TaskRouter's task list with EvaluateTaskAttributes: requests a second per account, then 429 + Retry-After
    # (Twilio changelog "TaskRouter endpoint rate limit correction", 2024-10); None = no limit
    task_list_per_second: int | None = 3
    random_seed: int | None = None  # fixes SIDs for reproducible runs
    manual_clock: bool = False  # tests move time with World.clock.advance()
    clock_start: float | None = None  # epoch seconds the world starts at (default: now)


class World:
    """Everything the simulator knows. Product modules keep their state on their own domain object."""

    def __init__(self, config: SimConfig | None = None) -> None:
        # Imported here: the domains import World for typing, and each reads the others through it.
        from sim.callbacks import Callbacks
        from sim.colleagues import Colleagues
        from sim.content import ContentDomain
        from sim.conversations import ConversationsDomain
        from sim.customers import Customers
        from sim.flex import FlexDomain
        from sim.history import seed_history
        from sim.studio import Studio
        from sim.taskrouter import TaskRouterDomain

        self.config = config or SimConfig()
        self.clock = Clock(manual=self.config.manual_clock, start=self.config.clock_start)
        self.sid = SidFactory(self.config.random_seed)
        self.faults = Faults()
        self.log = RequestLog()
        self.holding: set[asyncio.Task[object]] = set()  # requests kept waiting (latency, hangs) right now
        self.callbacks = Callbacks(self)  # what the world pushes (TaskRouter event callbacks), signed
        self.content = ContentDomain(self)
        self.taskrouter = TaskRouterDomain(self)
        self.conversations = ConversationsDomain(self)
        self.customers = Customers(self)
        self.flex = FlexDomain(self)
        self.studio = Studio(self)
        self.colleagues = Colleagues(self)
        seed_history(self)  # last: the past goes through the customers' bookkeeping, and triggers nothing

    def now(self) -> float:
        return self.clock.now()

    def auth_token(self) -> str | None:
        """The account's auth token, which signs what the world pushes (X-Twilio-Signature)."""
        return next((password for user, password in self.config.credentials if user == self.config.account_sid),
                    None)


WORLD = web.AppKey("world", World)


def world_of(request: web.Request) -> World:
    return request.app[WORLD]


def account_of(request: web.Request) -> str:
    return world_of(request).config.account_sid
