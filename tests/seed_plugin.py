"""The seed Flex plugin's call sequence (twilio-contract.md §9), replayed through the twilio SDK.

A faithful copy of what plugin-outbound-cbm's serverless function does, bugs included (only the
first `_XX` of an identity is decoded), so tests and benchmarks can compare against it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sim import seed


@dataclass
class PluginResult:
    conversation_sid: str
    refused: str | None = None  # the plugin's refusal text, when it refused


def _plugin_decode(identity: str) -> str:
    # The plugin's JS `identity.replace("_", "%")` then decodeURIComponent: only the first escape.
    from urllib.parse import unquote

    return unquote(identity.replace("_", "%", 1))


async def plugin_send(
    client: Client,
    *,
    to: str,
    from_: str,
    body: str,
    open_chat: bool,
    route_to_me: bool,
    channel: str = "sms",
    worker_sid: str = seed.WORKERS[0].sid,
    identity: str = "alice_40example_2Ecom",
) -> PluginResult:
    conversations = client.conversations.v1.conversations
    workspace = client.taskrouter.v1.workspaces(seed.WORKSPACE_SID)
    address = f"whatsapp:{to}" if channel == "whatsapp" else to
    proxy = f"whatsapp:{from_}" if channel == "whatsapp" else from_

    conversation = await conversations.create_async()
    sid = conversation.sid
    is_new = True
    try:
        await conversations(sid).participants.create_async(
            messaging_binding_address=address, messaging_binding_proxy_address=proxy
        )
    except TwilioRestException as error:
        if error.code != 50416:
            raise
        await conversations(sid).delete_async()
        sid = re.search(r"\bCH[a-zA-Z0-9]{32}\b", error.msg).group(0)  # type: ignore[union-attr]
        is_new = False
        await conversations(sid).fetch_async()
        participants = await conversations(sid).participants.list_async()
        agent = next((p.identity for p in participants if p.identity), None)
        name = None
        if agent:
            workers = await workspace.workers.list_async(friendly_name=_plugin_decode(agent))
            name = json.loads(workers[0].attributes).get("full_name") if workers else None
        tasks = await workspace.tasks.list_async(evaluate_task_attributes=f'conversationSid == "{sid}"')
        if tasks:
            direction = json.loads(tasks[0].attributes).get("direction")
            return PluginResult(sid, refused=f"open {direction} conversation already to {to} with {name}")

    if open_chat:
        interaction = await client.flex_api.v1.interaction.create_async(
            channel={"type": channel, "initiated_by": "agent", "properties": {"media_channel_sid": sid}},
            routing={
                "properties": {
                    "workspace_sid": seed.WORKSPACE_SID,
                    "workflow_sid": seed.WORKFLOW_SID,
                    "queue_sid": seed.QUEUE_SID,
                    "worker_sid": worker_sid,
                    "task_channel_unique_name": "chat",
                    "attributes": {
                        "from": to,
                        "direction": "outbound",
                        "customerName": "Customer",
                        "customerAddress": to,
                        "twilioNumber": from_,
                        "channelType": channel,
                    },
                }
            },
        )
        sid = json.loads(interaction.routing["properties"]["attributes"])["conversationSid"]
    else:
        if route_to_me:
            await conversations(sid).update_async(
                attributes=json.dumps({"KnownAgentRoutingFlag": True, "KnownAgentWorkerSid": worker_sid})
            )
        if is_new:
            await conversations(sid).webhooks.create_async(
                target="studio", configuration_flow_sid=seed.STUDIO_FLOW_SID
            )
    await conversations(sid).messages.create_async(author=identity, body=body)
    return PluginResult(sid)
