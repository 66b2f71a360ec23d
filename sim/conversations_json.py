"""Conversations v1, the JSON Twilio answers for each resource (twilio-contract.md §1)."""

from __future__ import annotations

from typing import Any

from sim import seed
from sim.conversations_models import Conversation, Message, Participant, Webhook, conversation_path
from sim.delivery import Receipt, summary
from sim.wire import absolute, iso


def _timers(conversation: Conversation) -> dict[str, str | None]:
    timers = conversation.timers
    if timers.date_inactive is None and timers.date_closed is None:
        return {}
    return {"date_inactive": iso(timers.date_inactive) if timers.date_inactive is not None else None,
            "date_closed": iso(timers.date_closed) if timers.date_closed is not None else None}


def conversation_json(account_sid: str, conversation: Conversation) -> dict[str, Any]:
    url = absolute(conversation_path(conversation.sid))
    return {
        "sid": conversation.sid,
        "account_sid": account_sid,
        "chat_service_sid": seed.CHAT_SERVICE_SID,
        "messaging_service_sid": conversation.messaging_service_sid,
        "friendly_name": conversation.friendly_name,
        "unique_name": conversation.unique_name,
        "attributes": conversation.attributes,
        "state": conversation.state,
        "timers": _timers(conversation),
        "bindings": conversation.bindings,
        "date_created": iso(conversation.date_created),
        "date_updated": iso(conversation.date_updated),
        "url": url,
        "links": {name: f"{url}/{name.capitalize()}" for name in ("participants", "messages", "webhooks", "export")},
    }


def _binding(participant: Participant) -> dict[str, Any] | None:
    if participant.channel is not None:
        return {"type": participant.channel, "address": participant.address,
                "proxy_address": participant.proxy_address}
    if participant.projected_address is not None:
        return {"type": "sms", "projected_address": participant.projected_address}
    return None


def participant_json(account_sid: str, participant: Participant) -> dict[str, Any]:
    return {
        "sid": participant.sid,
        "account_sid": account_sid,
        "conversation_sid": participant.conversation_sid,
        "identity": participant.identity,
        "attributes": participant.attributes,
        "messaging_binding": _binding(participant),
        "role_sid": participant.role_sid,
        "date_created": iso(participant.date_created),
        "date_updated": iso(participant.date_updated),
        "url": absolute(f"{conversation_path(participant.conversation_sid)}/Participants/{participant.sid}"),
        "last_read_message_index": participant.last_read_message_index,
        "last_read_timestamp": participant.last_read_timestamp,
    }


def participant_conversation_json(account_sid: str, conversation: Conversation,
                                  participant: Participant) -> dict[str, Any]:
    binding = _binding(participant)
    return {
        "account_sid": account_sid,
        "chat_service_sid": seed.CHAT_SERVICE_SID,
        "participant_sid": participant.sid,
        "participant_user_sid": None,
        "participant_identity": participant.identity,
        "participant_messaging_binding": None if binding is None else {
            "address": None, "proxy_address": None, "type": None, "level": None, "name": None,
            "projected_address": None, **binding,
        },
        "conversation_sid": conversation.sid,
        "conversation_unique_name": conversation.unique_name,
        "conversation_friendly_name": conversation.friendly_name,
        "conversation_attributes": conversation.attributes,
        "conversation_date_created": iso(conversation.date_created),
        "conversation_date_updated": iso(conversation.date_updated),
        "conversation_created_by": "system",
        "conversation_state": conversation.state,
        "conversation_timers": _timers(conversation),
        "links": {
            "participant": absolute(f"{conversation_path(conversation.sid)}/Participants/{participant.sid}"),
            "conversation": absolute(conversation_path(conversation.sid)),
        },
    }


def message_json(account_sid: str, message: Message) -> dict[str, Any]:
    url = absolute(f"{conversation_path(message.conversation_sid)}/Messages/{message.sid}")
    media = None
    if message.media_sid is not None:
        media = [{"sid": message.media_sid, "size": 0, "content_type": "application/octet-stream", "filename": None}]
    return {
        "sid": message.sid,
        "account_sid": account_sid,
        "conversation_sid": message.conversation_sid,
        "index": message.index,
        "author": message.author,
        "body": message.body,
        "media": media,
        "attributes": message.attributes,
        "participant_sid": message.participant_sid,
        "content_sid": message.content_sid,
        "delivery": summary(message),
        "date_created": iso(message.date_created),
        "date_updated": iso(message.date_updated),
        "url": url,
        "links": {"delivery_receipts": f"{url}/Receipts", "channel_metadata": f"{url}/ChannelMetadata"},
    }


def receipt_json(account_sid: str, receipt: Receipt) -> dict[str, Any]:
    return {
        "sid": receipt.sid,
        "account_sid": account_sid,
        "conversation_sid": receipt.conversation_sid,
        "message_sid": receipt.message_sid,
        "participant_sid": receipt.participant_sid,
        "channel_message_sid": receipt.channel_message_sid,
        "status": receipt.status,
        # The spec types error_code as a non-nullable integer: 0 when there is no error.
        "error_code": receipt.error_code or 0,
        "date_created": iso(receipt.date_created),
        "date_updated": iso(receipt.date_updated),
        "url": absolute(f"{conversation_path(receipt.conversation_sid)}/Messages/{receipt.message_sid}"
                        f"/Receipts/{receipt.sid}"),
    }


def webhook_json(account_sid: str, webhook: Webhook) -> dict[str, Any]:
    return {
        "sid": webhook.sid,
        "account_sid": account_sid,
        "conversation_sid": webhook.conversation_sid,
        "target": webhook.target,
        "configuration": dict(webhook.configuration),
        "date_created": iso(webhook.date_created),
        "date_updated": iso(webhook.date_updated),
        "url": absolute(f"{conversation_path(webhook.conversation_sid)}/Webhooks/{webhook.sid}"),
    }
