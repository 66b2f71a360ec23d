"""Retries for one send: reads again with exponential backoff and jitter, a 429 again after its Retry-After,
all within one overall deadline per send. Creates are never repeated after an ambiguous failure: the caller
looks first (`settle`), because Twilio has no idempotency key for them (contract §7.7).
Time is the event loop's (`loop.time()`), as for every timer the loop runs: a test's virtual clock moves it.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from core.errors import RateLimited, TwilioError, TwilioUnavailable

T = TypeVar("T")

SEND_DEADLINE = 20.0  # seconds one send may take, retries and look-ups included
READ_ATTEMPTS = 4
RATE_LIMITED_ATTEMPTS = 3  # a create answered 429 was not done by Twilio: safe to post again, a few times
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
DEFAULT_RETRY_AFTER = 1.0  # when a 429 names no Retry-After
BROKEN_GRACE = 0.5  # a server whose connection broke mid-request finishes it promptly, if at all

_ends: ContextVar[float | None] = ContextVar("send_deadline", default=None)


def now() -> float:
    """Seconds on the running event loop's clock."""
    return asyncio.get_running_loop().time()


@contextmanager
def send_deadline(seconds: float | None = None) -> Iterator[None]:
    """Everything awaited inside (concurrent tasks too) shares one deadline (default SEND_DEADLINE)."""
    token = _ends.set(now() + (SEND_DEADLINE if seconds is None else seconds))
    try:
        yield
    finally:
        _ends.reset(token)


def time_left() -> float:
    ends = _ends.get()
    return math.inf if ends is None else ends - now()


def backoff(attempt: int) -> float:
    """Exponential with full jitter, so many agents retrying do not march in step."""
    return random.uniform(FIRST_DELAY / 2, min(MAX_DELAY, FIRST_DELAY * 2 ** attempt))


async def _again(call: Callable[[], Awaitable[T]], attempts: int, retry: Callable[[TwilioError], bool]) -> T:
    for attempt in range(attempts):
        try:
            return await call()
        except TwilioError as error:
            if attempt + 1 >= attempts or not retry(error):
                raise
            if isinstance(error, RateLimited):
                delay = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_AFTER
            else:
                delay = backoff(attempt)
            if delay >= time_left():
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def read(call: Callable[[], Awaitable[T]]) -> T:
    """A read (GET/list): asked again on no answer, a 5xx or a 429."""
    return await _again(call, READ_ATTEMPTS, lambda error: isinstance(error, (TwilioUnavailable, RateLimited)))


async def create(call: Callable[[], Awaitable[T]]) -> T:
    """A create or update: asked again only after a 429, which Twilio answers without doing anything."""
    return await _again(call, RATE_LIMITED_ATTEMPTS, lambda error: isinstance(error, RateLimited))


def settle_window(error: TwilioError, request_deadline: float) -> float:
    """How long to keep looking for what a failed request made: one given up on may still land, so it gets
    as long again as it was given; a broken connection a moment; an answered one is looked for once."""
    if isinstance(error, TwilioUnavailable) and error.timed_out:
        return request_deadline
    return min(BROKEN_GRACE, request_deadline) if error.status is None else 0.0


async def settle(look: Callable[[], Awaitable[T | None]], window: float) -> T | None:
    """`look()` until it finds something or `window` (bounded by the send's deadline) has passed."""
    ends = now() + max(0.0, min(window, time_left()))
    attempt = 0
    while True:
        found = await look()
        if found is not None or now() >= ends:
            return found
        await asyncio.sleep(min(backoff(attempt), max(0.0, ends - now())))
        attempt += 1
