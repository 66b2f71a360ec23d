"""The simulator's HTTP server: auth, knobs, the request log, and start/stop for tests and demo."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Awaitable, Callable

from aiohttp import web

from sim.knobs import Fault, LoggedRequest
from sim.wire import TwilioError, host_for, not_found
from sim.world import WORLD, SimConfig, World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


@web.middleware
async def twilio_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    world = request.app[WORLD]
    loop = asyncio.get_running_loop()  # its clock times the log: a test's virtual clock, else real time
    try:  # a body that is not a form (the control API's JSON, bytes that are not UTF-8) is no form: not a 500
        form = list((await request.post()).items()) if request.method == "POST" and request.can_read_body else []
    except ValueError:
        form = []
    entry = LoggedRequest(
        method=request.method,
        host=host_for(request.path),
        path=request.path,
        query=list(request.query.items()),
        form=[(k, v) for k, v in form if isinstance(v, str)],
        headers=dict(request.headers),
        started=loop.time(),
    )
    world.log.append(entry)
    control = request.path.startswith("/_sim/")  # the simulator's own API: never slowed or failed by its knobs
    fault = None
    try:
        if world.config.latency and not control:
            await _hold(world, entry, world.config.latency)
        fault = None if control else world.faults.take(request.method, request.path)
        entry.fault = fault.kind if fault else None
        if fault and fault.kind == "reset":
            _abort(request)
            return web.Response(status=500)
        if fault and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            raise TwilioError(fault.status, fault.code or fault.status, fault.message, headers)
        if fault and fault.kind == "timeout":
            await _hold(world, entry, fault.hang)
        response = await _authenticated(request, handler, world)
    except TwilioError as error:
        response = error.response()
    if fault and fault.kind == "drop":  # done (or refused) as asked; the answer never reaches the client
        _abort(request)
        return response
    entry.duration = loop.time() - entry.started
    entry.status = response.status
    entry.response_headers = dict(response.headers)
    if isinstance(response, web.Response) and response.text is not None:
        entry.response_body = response.text
    return response


async def _hold(world: World, entry: LoggedRequest, seconds: float) -> None:
    """Keeps the request waiting (latency, a hang), marked as held while it waits; stopping ends the wait."""
    entry.held = True
    task = asyncio.current_task()
    assert task is not None
    world.holding.add(task)
    try:
        await asyncio.sleep(seconds)
    finally:
        world.holding.discard(task)
        entry.held = False


async def _authenticated(request: web.Request, handler: Handler, world: World) -> web.StreamResponse:
    if _credentials(request) not in world.config.credentials:
        raise TwilioError(401, 20003, "Authenticate")
    try:
        return await handler(request)
    except web.HTTPNotFound:
        raise not_found(request.path) from None
    except web.HTTPMethodNotAllowed:
        raise TwilioError(405, 20004, "Method not allowed") from None


def build_app(world: World) -> web.Application:
    from sim import admin, content, conversations_api, flex_api, taskrouter_api

    app = web.Application(middlewares=[twilio_middleware])
    app[WORLD] = world
    for module in (conversations_api, flex_api, taskrouter_api, content, admin):
        module.add_routes(app)
    return app


class Simulator:
    """An in-process simulator on 127.0.0.1. `async with Simulator() as sim:` gives `sim.base_url`."""

    def __init__(self, config: SimConfig | None = None, port: int = 0) -> None:
        self.world = World(config)
        self._port = port
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        if self.world.config.inbound_every is not None:
            self.world.clock.call_later(self.world.config.inbound_every, self.world.customers.write_in_now_and_then)
        self._runner = web.AppRunner(build_app(self.world), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        self.world.clock.cancel_all()
        await self.world.callbacks.close()
        for held in list(self.world.holding):  # a held request is never answered: its connection just ends
            held.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def fault(self, path: str, **kwargs: object) -> Fault:
        return self.world.faults.add(Fault(path=path, **kwargs))  # type: ignore[arg-type]


async def serve_forever(config: SimConfig, port: int, announce: Callable[[str], None]) -> None:
    """Standalone mode (`outbound-panel sim`): serve until interrupted."""
    simulator = Simulator(config, port=port)
    announce(await simulator.start())
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
