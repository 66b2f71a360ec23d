"""Flex Interactions v1, the HTTP side (flex-api.twilio.com/v1/Interactions/…) over sim/flex.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from sim.flex import ChannelParticipant, FlexDomain, Interaction, InteractionChannel, Invite
from sim.wire import absolute, invalid, json_param, not_found, page, read_form
from sim.world import world_of

MAX_PAGE_SIZE = 1000


def _interaction_json(interaction: Interaction) -> dict[str, Any]:
    url = absolute(f"/v1/Interactions/{interaction.sid}")
    return {
        "sid": interaction.sid,
        "channel": {"type": interaction.channel.type, "sid": interaction.channel.sid},
        "routing": interaction.routing,
        "interaction_context_sid": interaction.interaction_context_sid,
        "webhook_ttid": interaction.webhook_ttid,
        "url": url,
        "links": {"channels": f"{url}/Channels"},
    }


def _channel_json(channel: InteractionChannel) -> dict[str, Any]:
    url = absolute(f"/v1/Interactions/{channel.interaction_sid}/Channels/{channel.sid}")
    return {
        "sid": channel.sid,
        "interaction_sid": channel.interaction_sid,
        "type": channel.type,
        "status": channel.status,
        "error_code": channel.error_code,
        "error_message": channel.error_message,
        "url": url,
        "links": {"participants": f"{url}/Participants", "invites": f"{url}/Invites", "transfers": f"{url}/Transfers"},
    }


def _invite_json(invite: Invite) -> dict[str, Any]:
    return {
        "sid": invite.sid,
        "interaction_sid": invite.interaction_sid,
        "channel_sid": invite.channel_sid,
        "routing": invite.routing,
        "url": absolute(f"/v1/Interactions/{invite.interaction_sid}/Channels/{invite.channel_sid}"
                        f"/Invites/{invite.sid}"),
    }


def _participant_json(participant: ChannelParticipant) -> dict[str, Any]:
    return {
        "sid": participant.sid,
        "type": participant.type,
        "interaction_sid": participant.interaction_sid,
        "channel_sid": participant.channel_sid,
        "routing_properties": participant.routing_properties,
        "url": absolute(f"/v1/Interactions/{participant.interaction_sid}/Channels/{participant.channel_sid}"
                        f"/Participants/{participant.sid}"),
    }


def _flex(request: web.Request) -> FlexDomain:
    return world_of(request).flex


def _interaction(request: web.Request) -> Interaction:
    interaction = _flex(request).interactions.get(request.match_info["interaction"])
    if interaction is None:
        raise not_found(request.path)
    return interaction


def _channel(request: web.Request) -> InteractionChannel:
    channel = _interaction(request).channel
    if channel.sid != request.match_info["channel"]:
        raise not_found(request.path)
    return channel


def _required(form: MultiDictProxy[str], name: str) -> str:
    if name not in form:
        raise invalid(f"Missing required parameter {name}")
    return form[name]


async def create_interaction(request: web.Request) -> web.Response:
    form = await read_form(request)
    _required(form, "Channel")
    interaction = _flex(request).create_interaction(
        json_param(form, "Channel"), json_param(form, "Routing"),
        interaction_context_sid=form.get("InteractionContextSid"), webhook_ttid=form.get("WebhookTtid"),
    )
    return web.json_response(_interaction_json(interaction))  # 200, not 201, for Interactions


async def fetch_interaction(request: web.Request) -> web.Response:
    return web.json_response(_interaction_json(_interaction(request)))


async def update_interaction(request: web.Request) -> web.Response:
    interaction = _interaction(request)
    form = await read_form(request)
    if "WebhookTtid" in form:
        interaction.webhook_ttid = form["WebhookTtid"]
    return web.json_response(_interaction_json(interaction))


async def list_channels(request: web.Request) -> web.Response:
    return page(request, "channels", [_channel_json(_interaction(request).channel)], max_page_size=MAX_PAGE_SIZE)


async def fetch_channel(request: web.Request) -> web.Response:
    return web.json_response(_channel_json(_channel(request)))


async def update_channel(request: web.Request) -> web.Response:
    channel = _channel(request)
    form = await read_form(request)
    _flex(request).update_channel(channel, _required(form, "Status"), json_param(form, "Routing"))
    return web.json_response(_channel_json(channel))


async def list_invites(request: web.Request) -> web.Response:
    records = [_invite_json(i) for i in _channel(request).invites]
    return page(request, "invites", records, max_page_size=MAX_PAGE_SIZE)


async def create_invite(request: web.Request) -> web.Response:
    channel = _channel(request)
    form = await read_form(request)
    _required(form, "Routing")
    invite = _flex(request).invite(channel, json_param(form, "Routing"))
    return web.json_response(_invite_json(invite))  # 200 like the interaction itself


async def list_participants(request: web.Request) -> web.Response:
    records = [_participant_json(p) for p in _channel(request).participants]
    return page(request, "participants", records, max_page_size=MAX_PAGE_SIZE)


async def update_participant(request: web.Request) -> web.Response:
    channel = _channel(request)
    participant = next((p for p in channel.participants if p.sid == request.match_info["sid"]), None)
    if participant is None:
        raise not_found(request.path)
    form = await read_form(request)
    _flex(request).update_participant(participant, _required(form, "Status"))
    return web.json_response(_participant_json(participant))


def add_routes(app: web.Application) -> None:
    base = "/v1/Interactions/{interaction}"
    channel = base + "/Channels/{channel}"
    router = app.router
    router.add_post("/v1/Interactions", create_interaction)
    router.add_get(base, fetch_interaction)
    router.add_post(base, update_interaction)
    router.add_get(base + "/Channels", list_channels)
    router.add_get(channel, fetch_channel)
    router.add_post(channel, update_channel)
    router.add_get(channel + "/Invites", list_invites)
    router.add_post(channel + "/Invites", create_invite)
    router.add_get(channel + "/Participants", list_participants)
    router.add_post(channel + "/Participants/{sid}", update_participant)
