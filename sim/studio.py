"""The seed's Studio flow: on a customer message in a conversation with a Studio webhook, Send to Flex.

The flow's Send to Flex widget copies conversation attributes into the task, as the seed plugin's
README configures, e.g. {"KnownAgentRoutingFlag": "{{trigger.conversation.ChannelAttributes.KnownAgentRoutingFlag}}"}.
Liquid renders every value as a string, so the workflow's `KnownAgentRoutingFlag == "true"` sees "true".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim import seed
from sim.wire import TwilioError, json_object

if TYPE_CHECKING:
    from sim.world import World


@dataclass(frozen=True)
class FlowFailure:
    """A Studio execution that failed (the Console's debugger would show it); the message itself is kept."""

    conversation_sid: str
    code: int
    message: str


def liquid(value: Any) -> str:
    """How Liquid prints a value: booleans as true/false, nothing for a missing or null value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# The Send to Flex widget's attributes: the seed's two routing keys plus the two outbound-panel adds
# (README, "Connecting to a real Flex account").
COPIED_ATTRIBUTES = ("KnownAgentRoutingFlag", "KnownAgentWorkerSid", "customerName", "twilioNumber")


class Studio:
    def __init__(self, world: World) -> None:
        self.world = world
        self.flows = {seed.STUDIO_FLOW_SID: "Outbound replies to Flex"}
        self.failures: list[FlowFailure] = []

    def on_customer_message(self, conversation: Any, message: Any) -> None:
        webhook = next((w for w in conversation.webhooks.values() if w.target == "studio"), None)
        if webhook is None:
            return
        if webhook.configuration.get("flow_sid") not in self.flows:
            return  # no such flow in this account: Studio never runs
        taskrouter = self.world.taskrouter
        if any(task.live for task in taskrouter.tasks_for_conversation(conversation.sid)):
            return
        channel_attributes = json_object(conversation.attributes or "{}") or {}
        customer = conversation.customer
        channel_type = (customer.channel if customer is not None else None) or "sms"
        attributes = {key: liquid(channel_attributes.get(key)) for key in COPIED_ATTRIBUTES}
        if customer is not None:
            attributes["from"] = customer.address
        try:
            self.world.flex.create_interaction(
                {"type": channel_type, "initiated_by": "customer",
                 "properties": {"media_channel_sid": conversation.sid}},
                {"properties": {"workspace_sid": taskrouter.workspace_sid, "workflow_sid": seed.WORKFLOW_SID,
                                "task_channel_unique_name": "chat", "attributes": attributes}},
            )
        except TwilioError as error:
            self.failures.append(FlowFailure(conversation.sid, error.code, error.message))
            return
        # Once the conversation is handed to Flex, the Studio webhook is removed: later replies stay in the task.
        self.world.conversations.delete_webhook(conversation.sid, webhook.sid)
