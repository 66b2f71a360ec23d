"""The simulator's own control endpoints under /_sim/ (same Basic auth): latency, faults, request log, clock,
and a customer writing in."""

from __future__ import annotations

from dataclasses import fields

from aiohttp import web

from sim import seed
from sim.knobs import Fault, seconds
from sim.wire import bad_request
from sim.world import world_of

_FAULT_FIELDS = {f.name for f in fields(Fault)}


async def get_requests(request: web.Request) -> web.Response:
    log = world_of(request).log
    return web.json_response(
        {
            "requests": [
                {"method": r.method, "path": r.path, "status": r.status, "started": round(r.started, 4),
                 "duration": round(r.duration, 4), "fault": r.fault}
                for r in log
            ]
        }
    )


async def _body(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or a 400 saying what is wrong with it."""
    try:
        body = await request.json()
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise bad_request(f"The body is not JSON: {error or 'nested too deep'}") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object")
    return body


async def add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    unknown = set(body) - _FAULT_FIELDS
    if unknown or "path" not in body:
        raise bad_request(f"A fault needs 'path' and only these keys: {sorted(_FAULT_FIELDS)}")
    try:
        fault = Fault(**body)  # type: ignore[arg-type]
    except ValueError as error:
        raise bad_request(f"Not a fault: {error}") from None
    world_of(request).faults.add(fault)
    return web.json_response({f.name: getattr(fault, f.name) for f in fields(Fault)}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    world_of(request).faults.clear()
    return web.Response(status=204)


async def _seconds(request: web.Request) -> float:
    body = await _body(request)
    try:
        return seconds("seconds", body.get("seconds"))
    except ValueError as error:
        raise bad_request(str(error)) from None


async def set_callback_knobs(request: web.Request) -> web.Response:
    """{"drop": N, "duplicate": N, "reorder": N, "delay": seconds}: how the next deliveries of callbacks go."""
    body = await _body(request)
    knobs = world_of(request).callbacks.knobs
    unknown = set(body) - {"drop", "duplicate", "reorder", "delay"}
    if unknown:
        raise bad_request(f"Unknown callback knobs {sorted(unknown)}: drop, duplicate, reorder (counts), delay (s)")
    for name in ("drop", "duplicate", "reorder"):
        if name in body:
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
                raise bad_request(f"{name} must be a count from 0 to 1000")
            setattr(knobs, name, value)
    if "delay" in body:
        try:
            knobs.delay = seconds("delay", body["delay"])
        except ValueError as error:
            raise bad_request(str(error)) from None
    return web.json_response({"drop": knobs.drop, "duplicate": knobs.duplicate, "reorder": knobs.reorder,
                              "delay": knobs.delay})


async def set_latency(request: web.Request) -> web.Response:
    world_of(request).config.latency = await _seconds(request)
    return web.json_response({"seconds": world_of(request).config.latency})


async def advance_clock(request: web.Request) -> web.Response:
    world = world_of(request)
    if not world.clock.manual:
        raise bad_request("The simulator runs on real time; start it with a manual clock to advance it")
    ran = world.clock.advance(await _seconds(request))
    return web.json_response({"ran": ran, "now": world.now()})


async def write_in(request: web.Request) -> web.Response:
    """A customer starts a conversation: {"from": "+1…" (or "whatsapp:+1…"), "to": our number, "body": "…"}."""
    body = await _body(request)
    if not all(isinstance(body.get(key), str) and body[key] for key in ("from", "to", "body")):
        raise bad_request("An inbound message needs 'from', 'to' and 'body'")
    ours = seed.WHATSAPP_SENDERS if body["from"].startswith("whatsapp:") else seed.SMS_SENDERS
    if body["to"].removeprefix("whatsapp:") not in ours:
        raise bad_request(f"'to' must be one of this account's numbers on that channel: {', '.join(ours)}")
    to = body["to"] if not body["from"].startswith("whatsapp:") or body["to"].startswith("whatsapp:") \
        else "whatsapp:" + body["to"]
    message = world_of(request).customers.write_in(body["from"], to, body["body"])
    return web.json_response({"conversation_sid": message.conversation_sid, "message_sid": message.sid}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sim/requests", get_requests)
    app.router.add_post("/_sim/faults", add_fault)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_post("/_sim/latency", set_latency)
    app.router.add_post("/_sim/callbacks", set_callback_knobs)
    app.router.add_post("/_sim/clock/advance", advance_clock)
    app.router.add_post("/_sim/inbound", write_in)
