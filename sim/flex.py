"""Flex Interactions v1 (flex-api.twilio.com): an interaction ties a conversation to TaskRouter tasks.

Creating one attaches (or creates) the conversation, opens an interaction channel (UO) with an invite
(KG), and creates the task with the attributes Flex adds. When a worker accepts a reservation of
such a task, Flex adds the agent to the conversation as a chat participant with their Flex identity.
The HTTP side is sim/flex_api.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.delivery import WHATSAPP_PREFIX
from sim.taskrouter_models import DEFAULT_TASK_TIMEOUT, Reservation, Task
from sim.wire import TwilioError, bad_request, invalid, not_found

if TYPE_CHECKING:
    from sim.conversations_models import Participant
    from sim.world import World

CHANNEL_TYPES = ("voice", "sms", "email", "web", "whatsapp", "chat", "messenger", "gbm")
INITIATORS = ("agent", "customer", "api")


def flex_identity(name: str) -> str:
    """The Flex chat identity of a worker: every byte that is not an ASCII letter or digit becomes `_XX`."""
    return "".join(
        char if char.isascii() and char.isalnum() else "".join(f"_{byte:02X}" for byte in char.encode())
        for char in name
    )


def flex_worker_attributes(full_name: str, email: str) -> str:
    """A worker's attributes as Flex sets them up: its name, email, chat address and agent role."""
    return json.dumps({
        "full_name": full_name,
        "email": email,
        "contact_uri": f"client:{flex_identity(email)}",
        "roles": ["agent"],
        "routing": {"skills": [], "levels": {}},
    })


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
            raise invalid("Channel must be a JSON object")
        kind = channel.get("type")
        if kind not in CHANNEL_TYPES:
            raise invalid(f"Channel type '{kind}' is not one of {', '.join(CHANNEL_TYPES)}")
        initiated_by = channel.get("initiated_by", "api")
        if initiated_by not in INITIATORS:
            raise invalid(f"Channel initiated_by '{initiated_by}' is not one of agent, customer, api")
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
            raise invalid("Routing must be a JSON object with 'properties'")
        taskrouter = self.world.taskrouter
        workspace = properties.get("workspace_sid", taskrouter.workspace_sid)
        if workspace != taskrouter.workspace_sid:
            raise not_found(f"Workspace {workspace}")
        # Checked before anything is created, so a bad routing leaves no conversation behind.
        workflow_sid = properties.get("workflow_sid") or next(iter(taskrouter.workflows))
        if workflow_sid not in taskrouter.workflows:
            raise invalid(f"Workflow {workflow_sid} does not exist in Workspace {workspace}")
        for key, known in (("worker_sid", taskrouter.workers), ("queue_sid", taskrouter.queues)):
            if properties.get(key) is not None and properties[key] not in known:
                raise invalid(f"Routing properties.{key} {properties[key]} does not exist")
        channel = taskrouter.channel(
            properties.get("task_channel_unique_name") or properties.get("task_channel_sid") or "chat"
        )
        attributes = properties.get("attributes") or {}
        if isinstance(attributes, str):
            try:
                attributes = json.loads(attributes)
            except ValueError:
                raise invalid("Routing properties.attributes is not valid JSON") from None
        if not isinstance(attributes, dict):
            raise invalid("Routing properties.attributes must be a JSON object")
        try:
            priority, timeout = int(properties.get("priority", 0)), int(properties.get("timeout", DEFAULT_TASK_TIMEOUT))
        except (TypeError, ValueError):
            raise invalid("Routing properties.priority and timeout must be integers") from None
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
            raise invalid("Status must be closed or inactive")
        routing_status = routing.get("status") if isinstance(routing, dict) else None
        if routing is not None and routing_status != "closed":
            raise invalid('Routing must be {"status": "closed"}')
        if status == "inactive" and routing_status is None:
            raise invalid("Routing status is required when the channel becomes inactive")
        # Routing {"status": "closed"} completes the channel's tasks; without it they go to wrapping.
        target = "completed" if routing_status == "closed" else "wrapping"
        for task in self.channel_tasks(channel):
            self._finish(task, target, "Interaction channel closed")
        channel.status = status
        if status == "closed":
            self.world.conversations.close(channel.conversation_sid)

    def update_participant(self, participant: ChannelParticipant, status: str) -> None:
        if status not in ("closed", "wrapup"):
            raise invalid("Status must be closed or wrapup")
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
    return WHATSAPP_PREFIX + address if kind == "whatsapp" and not address.startswith(WHATSAPP_PREFIX) else address
