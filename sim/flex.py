"""Flex Interactions v1 (flex-api.twilio.com): an interaction ties a conversation to TaskRouter tasks.

Creating one attaches (or creates) the conversation, opens an interaction channel (UO) with an invite
(KG), and creates the task with the attributes Flex adds. When a worker accepts a reservation of
such a task, Flex adds the agent to the conversation as a chat participant with their Flex identity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sim.wire import TwilioError, absolute, bad_request, json_param, not_found, page, read_form
from sim.world import world_of

if TYPE_CHECKING:
    from sim.conversations import Participant
    from sim.taskrouter import Reservation, Task
    from sim.world import World

CHANNEL_TYPES = ("voice", "sms", "email", "web", "whatsapp", "chat", "messenger", "gbm")
INITIATORS = ("agent", "customer", "api")
MAX_PAGE_SIZE = 1000


def flex_identity(name: str) -> str:
    """The Flex chat identity of a worker: every byte that is not an ASCII letter or digit becomes `_XX`."""
    return "".join(
        char if char.isascii() and char.isalnum() else "".join(f"_{byte:02X}" for byte in char.encode())
        for char in name
    )


def flex_identity_decode(identity: str) -> str:
    """The inverse of flex_identity: alice_40example_2Ecom -> alice@example.com (every escape, not only the first)."""
    raw = bytearray()
    index = 0
    while index < len(identity):
        chunk = identity[index + 1 : index + 3]
        if identity[index] == "_" and len(chunk) == 2 and all(c in "0123456789abcdefABCDEF" for c in chunk):
            raw.append(int(chunk, 16))
            index += 3
        else:
            raw.extend(identity[index].encode())
            index += 1
    return raw.decode(errors="replace")


@dataclass
class Invite:
    sid: str
    interaction_sid: str
    channel_sid: str
    task_sid: str
    routing: dict[str, Any]  # {"reservation": None, "properties": <the task as created>}


@dataclass
class ChannelParticipant:
    sid: str
    interaction_sid: str
    channel_sid: str
    type: str  # agent | customer
    routing_properties: dict[str, str] | None
    conversation_participant_sid: str | None
    status: str = "joined"


@dataclass
class InteractionChannel:
    sid: str
    interaction_sid: str
    type: str
    conversation_sid: str
    initiated_by: str
    status: str = "active"
    error_code: int | None = None
    error_message: str | None = None
    invites: list[Invite] = field(default_factory=list)
    participants: list[ChannelParticipant] = field(default_factory=list)


@dataclass
class Interaction:
    sid: str
    channel: InteractionChannel
    routing: dict[str, Any]
    interaction_context_sid: str | None = None
    webhook_ttid: str | None = None


class FlexDomain:
    def __init__(self, world: World) -> None:
        self.world = world
        self.interactions: dict[str, Interaction] = {}
        self.channels: dict[str, InteractionChannel] = {}
        world.taskrouter.reservation_accepted.append(self._on_reservation_accepted)

    # ------------------------------------------------------------------ interactions

    def create_interaction(
        self, channel: Any, routing: Any, *, interaction_context_sid: str | None = None,
        webhook_ttid: str | None = None,
    ) -> Interaction:
        if not isinstance(channel, dict):
            raise bad_request("Channel must be a JSON object", code=20001)
        kind = channel.get("type")
        if kind not in CHANNEL_TYPES:
            raise bad_request(f"Channel type '{kind}' is not one of {', '.join(CHANNEL_TYPES)}", code=20001)
        initiated_by = channel.get("initiated_by", "api")
        if initiated_by not in INITIATORS:
            raise bad_request(f"Channel initiated_by '{initiated_by}' is not one of agent, customer, api", code=20001)
        properties = self._routing_properties(routing)
        conversation_sid, customer = self._conversation(kind, channel)
        interaction_sid = self.world.sid("KD")
        interaction_channel = InteractionChannel(
            self.world.sid("UO"), interaction_sid, kind, conversation_sid, initiated_by
        )
        interaction_channel.participants.append(ChannelParticipant(
            self.world.sid("UT"), interaction_sid, interaction_channel.sid, "customer", None,
            customer.sid if customer is not None else None,
        ))
        invite = self._invite(interaction_channel, properties, customer.address if customer is not None else None)
        interaction = Interaction(
            interaction_sid, interaction_channel, invite.routing, interaction_context_sid, webhook_ttid
        )
        self.interactions[interaction.sid] = interaction
        self.channels[interaction_channel.sid] = interaction_channel
        self.world.taskrouter.dispatch()
        return interaction

    def invite(self, channel: InteractionChannel, routing: Any) -> Invite:
        """A further task on an existing channel (transfer to another agent or queue)."""
        properties = self._routing_properties(routing)
        customer = self.world.conversations.conversation(channel.conversation_sid).customer
        invite = self._invite(channel, properties, customer.address if customer is not None else None)
        self.world.taskrouter.dispatch()
        return invite

    def _routing_properties(self, routing: Any) -> dict[str, Any]:
        properties = routing.get("properties") if isinstance(routing, dict) else None
        if not isinstance(properties, dict):
            raise bad_request("Routing must be a JSON object with 'properties'", code=20001)
        taskrouter = self.world.taskrouter
        workspace = properties.get("workspace_sid", taskrouter.workspace_sid)
        if workspace != taskrouter.workspace_sid:
            raise TwilioError(404, 20404, f"The requested resource Workspace {workspace} was not found")
        # Checked before anything is created, so a bad routing leaves no conversation behind.
        workflow_sid = properties.get("workflow_sid") or next(iter(taskrouter.workflows))
        if workflow_sid not in taskrouter.workflows:
            raise bad_request(f"Workflow {workflow_sid} does not exist in Workspace {workspace}", code=20001)
        for key, known in (("worker_sid", taskrouter.workers), ("queue_sid", taskrouter.queues)):
            if properties.get(key) is not None and properties[key] not in known:
                raise bad_request(f"Routing properties.{key} {properties[key]} does not exist", code=20001)
        channel = taskrouter.channel(
            properties.get("task_channel_unique_name") or properties.get("task_channel_sid") or "chat"
        )
        attributes = properties.get("attributes") or {}
        if isinstance(attributes, str):
            try:
                attributes = json.loads(attributes)
            except ValueError:
                raise bad_request("Routing properties.attributes is not valid JSON", code=20001) from None
        if not isinstance(attributes, dict):
            raise bad_request("Routing properties.attributes must be a JSON object", code=20001)
        try:
            priority, timeout = int(properties.get("priority", 0)), int(properties.get("timeout", 86400))
        except (TypeError, ValueError):
            raise bad_request("Routing properties.priority and timeout must be integers", code=20001) from None
        return {**properties, "workflow_sid": workflow_sid, "task_channel": channel.unique_name,
                "attributes": attributes, "priority": priority, "timeout": timeout}

    def _conversation(self, kind: str, channel: dict[str, Any]) -> tuple[str, Participant | None]:
        """The conversation the interaction is about (attached or created here) and its customer participant."""
        properties = channel.get("properties") or {}
        conversations = self.world.conversations
        if properties.get("media_channel_sid"):
            conversation = conversations.conversation(properties["media_channel_sid"])
            return conversation.sid, conversation.customer
        participants = channel.get("participants") or properties.get("participants")
        if not participants:
            raise bad_request("No participants found: give properties.media_channel_sid or participants", code=45355)
        if not all(isinstance(p, dict) and p.get("address") and p.get("proxy_address") for p in participants):
            raise bad_request("Each participant needs an address and a proxy_address", code=45367)
        conversation = conversations.create_conversation()
        customer: Participant | None = None
        for participant in participants:
            address, proxy = (_channel_address(kind, participant[k]) for k in ("address", "proxy_address"))
            try:
                added = conversations.add_participant(conversation.sid, address=address, proxy_address=proxy)
            except TwilioError as error:
                conversations.close(conversation.sid)  # never leave an orphaned active conversation behind
                # Flex reports the Conversations failure inside its own error (45361: failed to add participant).
                raise TwilioError(409 if error.code == 50416 else 400, 45361,
                                  f"Failed to add participant to the conversation: {error.message}") from None
            customer = customer or added
        return conversation.sid, customer

    def _invite(self, channel: InteractionChannel, properties: dict[str, Any], customer_address: str | None) -> Invite:
        invite_sid = self.world.sid("KG")
        given = properties["attributes"]
        attributes = {**given}
        for key, value in {
            "channelType": channel.type,
            "customerAddress": customer_address,
            "customerName": customer_address,
            "initiatedBy": channel.initiated_by,
            "direction": "inbound" if channel.initiated_by == "customer" else "outbound",
        }.items():
            attributes.setdefault(key, value)
        attributes.update(
            conversationSid=channel.conversation_sid,
            flexInteractionSid=channel.interaction_sid,
            flexInteractionChannelSid=channel.sid,
            flexChannelInviteSid=invite_sid,
        )
        conversations = dict(given.get("conversations") or {})
        conversations.setdefault("conversation_id", channel.interaction_sid)
        conversations.setdefault("initiated_by", channel.initiated_by)
        conversations.setdefault("media", [{"type": "ChatTranscript", "sid": channel.conversation_sid}])
        attributes["conversations"] = conversations
        taskrouter = self.world.taskrouter
        task = taskrouter.create_task(
            attributes,
            workflow_sid=properties["workflow_sid"],
            task_channel=properties["task_channel"],
            worker_sid=properties.get("worker_sid"),
            queue_sid=properties.get("queue_sid"),
            priority=properties["priority"],
            timeout=properties["timeout"],
            route=False,  # Flex answers with the task as created; routing happens right after
        )
        invite = Invite(invite_sid, channel.interaction_sid, channel.sid, task.sid,
                        {"reservation": None, "properties": self.task_properties(task)})
        channel.invites.append(invite)
        return invite

    def task_properties(self, task: Task) -> dict[str, Any]:
        """A task as Flex shows it in `routing.properties`: epoch-second dates, attributes as a JSON string."""
        now = self.world.now()
        queue = task.queue
        return {
            "account_sid": self.world.config.account_sid,
            "workspace_sid": self.world.taskrouter.workspace_sid,
            "sid": task.sid,
            "date_created": int(task.created),
            "date_updated": int(task.updated),
            "attributes": task.attributes_text,
            "assignment_status": task.assignment_status,
            "workflow_sid": task.workflow.sid,
            "workflow_name": task.workflow.friendly_name,
            "queue_sid": queue.sid if queue else None,
            "queue_name": queue.friendly_name if queue else None,
            "priority": task.priority,
            "age": int(now - task.created),
            "reason": task.reason or "",
            "timeout": task.timeout,
            "assignmentCounter": 0,
            "task_channel_sid": task.channel.sid,
            "task_channel_unique_name": task.channel.unique_name,
            "routing_target": task.routing_target,
            "task_queue_entered_date": int(task.queue_entered) if task.queue_entered is not None else None,
            "age_in_queue": int(now - task.queue_entered) if task.queue_entered is not None else 0,
            "addons": "{}",
        }

    def channel_tasks(self, channel: InteractionChannel) -> list[Task]:
        tasks = self.world.taskrouter.tasks
        return [tasks[i.task_sid] for i in channel.invites if i.task_sid in tasks]

    # ------------------------------------------------------------------ channel and participant updates

    def update_channel(self, channel: InteractionChannel, status: str, routing: Any = None) -> None:
        if status not in ("closed", "inactive"):
            raise bad_request("Status must be closed or inactive", code=20001)
        routing_status = routing.get("status") if isinstance(routing, dict) else None
        if routing is not None and routing_status != "closed":
            raise bad_request('Routing must be {"status": "closed"}', code=20001)
        if status == "inactive" and routing_status is None:
            raise bad_request("Routing status is required when the channel becomes inactive", code=20001)
        # Routing {"status": "closed"} completes the channel's tasks; without it they go to wrapping.
        target = "completed" if routing_status == "closed" else "wrapping"
        for task in self.channel_tasks(channel):
            self._finish(task, target, "Interaction channel closed")
        channel.status = status
        if status == "closed":
            conversation = self.world.conversations.conversation(channel.conversation_sid)
            if conversation.state != "closed":
                self.world.conversations.close(channel.conversation_sid)

    def update_participant(self, participant: ChannelParticipant, status: str) -> None:
        if status not in ("closed", "wrapup"):
            raise bad_request("Status must be closed or wrapup", code=20001)
        if participant.type != "agent" or participant.routing_properties is None:
            raise bad_request("Only an agent participant can be closed or wrapped up", code=45367)
        task = self.world.taskrouter.tasks.get(participant.routing_properties["task_sid"])
        if task is not None:
            self._finish(task, "wrapping" if status == "wrapup" else "completed", "Agent left the interaction")
        if status == "closed" and participant.conversation_participant_sid is not None:
            try:  # the agent leaves the conversation too
                self.world.conversations.remove_participant(self.channels[participant.channel_sid].conversation_sid,
                                                            participant.conversation_participant_sid)
            except TwilioError:
                pass  # already gone
            participant.conversation_participant_sid = None
        participant.status = status

    def _finish(self, task: Task, target: str, reason: str) -> None:
        taskrouter = self.world.taskrouter
        if task.assignment_status in ("pending", "reserved"):
            taskrouter.update_task(task, assignment_status="canceled", reason=reason)
        elif task.assignment_status == "assigned" or (task.assignment_status == "wrapping" and target == "completed"):
            taskrouter.update_task(task, assignment_status=target, reason=reason)

    def _on_reservation_accepted(self, reservation: Reservation) -> None:
        task = reservation.task
        channel = self.channels.get(task.attributes.get("flexInteractionChannelSid", ""))
        if channel is None:
            return  # not an interaction's task
        try:
            added = self.world.conversations.add_participant(
                channel.conversation_sid, identity=flex_identity(reservation.worker.friendly_name)
            )
            participant_sid = added.sid
        except TwilioError:
            participant_sid = None  # already in the conversation (an earlier task), or it is closed
        channel.participants.append(ChannelParticipant(
            self.world.sid("UT"), channel.interaction_sid, channel.sid, "agent",
            {"task_sid": task.sid, "worker_sid": reservation.worker.sid, "reservation_sid": reservation.sid},
            participant_sid,
        ))


def _channel_address(kind: str, address: str) -> str:
    return f"whatsapp:{address}" if kind == "whatsapp" and not address.startswith("whatsapp:") else address


# ---------------------------------------------------------------------- REST


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


async def create_interaction(request: web.Request) -> web.Response:
    form = await read_form(request)
    if "Channel" not in form:
        raise bad_request("Missing required parameter Channel", code=20001)
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
    if "Status" not in form:
        raise bad_request("Missing required parameter Status", code=20001)
    _flex(request).update_channel(channel, form["Status"], json_param(form, "Routing"))
    return web.json_response(_channel_json(channel))


async def list_invites(request: web.Request) -> web.Response:
    records = [_invite_json(i) for i in _channel(request).invites]
    return page(request, "invites", records, max_page_size=MAX_PAGE_SIZE)


async def create_invite(request: web.Request) -> web.Response:
    channel = _channel(request)
    form = await read_form(request)
    if "Routing" not in form:
        raise bad_request("Missing required parameter Routing", code=20001)
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
    if "Status" not in form:
        raise bad_request("Missing required parameter Status", code=20001)
    _flex(request).update_participant(participant, form["Status"])
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
