"""Conversations v1, the HTTP side: form parameters in, Twilio's JSON out (twilio-contract.md §1).

Routes are the default-service short form (`/v1/Conversations/…`); the domain is sim/conversations.py,
the JSON sim/conversations_json.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from sim.conversations import ConversationsDomain
from sim.conversations_json import (
    conversation_json,
    message_json,
    participant_conversation_json,
    participant_json,
    receipt_json,
    webhook_json,
)
from sim.conversations_models import Conversation, Message
from sim.conversations_rules import check_state
from sim.wire import (TwilioError, absolute, bad_request, invalid, json_object, not_found, page, read_form, repeated,
                      respond)
from sim.world import account_of, world_of

_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
MAX_PARTICIPANTS_AT_CREATION = 10


# -- parameters ------------------------------------------------------------------------------


def duration(raw: str | None, code: int, name: str) -> float | None:
    """An ISO-8601 duration (PT5M, P1D, P1DT2H, PT0S) in seconds; years and months are not accepted."""
    if raw is None:
        return None
    match = _DURATION.fullmatch(raw)
    if match is None or not any(match.groups()):
        raise TwilioError(400, code, f"'{name}' parameter supports values which are ISO8601 durations, got '{raw}'")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds()


def date(raw: str | None, name: str, end_of_day: bool = False) -> float | None:
    """An ISO-8601 date or date-time in epoch seconds (UTC unless it says otherwise)."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} must be an ISO-8601 date, got '{raw}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(raw) == 10:
        moment += timedelta(days=1, microseconds=-1)
    return moment.timestamp()


def _given(form: MultiDictProxy[str], names: dict[str, str]) -> dict[str, Any]:
    return {key: form[name] for name, key in names.items() if name in form}


def _dates(form: MultiDictProxy[str]) -> dict[str, Any]:
    names = {"DateCreated": "date_created", "DateUpdated": "date_updated"}
    return {key: date(form[name], name) for name, key in names.items() if name in form}


def conversation_params(form: MultiDictProxy[str]) -> dict[str, Any]:
    params = _given(form, {"FriendlyName": "friendly_name", "UniqueName": "unique_name", "Attributes": "attributes",
                           "MessagingServiceSid": "messaging_service_sid", "State": "state"})
    timers = {
        "timers_inactive": duration(form.get("Timers.Inactive"), 50379, "TimeToInactive"),
        "timers_closed": duration(form.get("Timers.Closed"), 50380, "TimeToClosed"),
    }
    params.update({key: value for key, value in timers.items() if value is not None})
    params.update(_dates(form))
    if "Bindings.Email.Address" in form:
        params["bindings"] = {"email": {"address": form["Bindings.Email.Address"],
                                        "name": form.get("Bindings.Email.Name")}}
    return params


def creation_params(form: MultiDictProxy[str]) -> dict[str, Any]:
    params = conversation_params(form)
    if ("timers_inactive" in params or "timers_closed" in params) and "state" not in params:
        raise TwilioError(400, 50382, "Timer can't be set without state: add 'State' to create a conversation with timers")
    return params


def participant_params(form: MultiDictProxy[str]) -> dict[str, Any]:
    params = _given(form, {"MessagingBinding.Address": "address", "MessagingBinding.ProxyAddress": "proxy_address",
                           "MessagingBinding.ProjectedAddress": "projected_address", "Identity": "identity",
                           "Attributes": "attributes", "RoleSid": "role_sid",
                           "LastReadTimestamp": "last_read_timestamp"})
    if "LastReadMessageIndex" in form:
        try:
            params["last_read_message_index"] = int(form["LastReadMessageIndex"])
        except ValueError:
            raise invalid("LastReadMessageIndex must be an integer") from None
    params.update(_dates(form))
    return params


def participant_from_json(raw: str) -> dict[str, Any]:
    """One ConversationWithParticipants `Participant`: a JSON object in the Participant resource's snake_case."""
    value = json_object(raw)
    binding = value.get("messaging_binding") if value is not None else None
    if value is None or not isinstance(binding or {}, dict):
        raise TwilioError(400, 50424, "One of the JSON requests for participant creation is invalid.")
    binding = binding or {}
    fields = {"identity": value.get("identity"), "attributes": value.get("attributes"),
              "role_sid": value.get("role_sid"), "address": binding.get("address"),
              "proxy_address": binding.get("proxy_address"), "projected_address": binding.get("projected_address")}
    given = {key: item for key, item in fields.items() if item is not None}
    if not all(isinstance(item, str) for item in given.values()):
        raise TwilioError(400, 50424, "One of the JSON requests for participant creation is invalid.")
    return given


def webhook_configuration(form: MultiDictProxy[str]) -> dict[str, Any]:
    configuration: dict[str, Any] = _given(form, {"Configuration.Url": "url", "Configuration.FlowSid": "flow_sid"})
    if "Configuration.Method" in form:
        configuration["method"] = form["Configuration.Method"].lower()
    for name, key in (("Configuration.Filters", "filters"), ("Configuration.Triggers", "triggers")):
        if name in form:
            configuration[key] = repeated(form, name)
    if "Configuration.ReplayAfter" in form:
        try:
            configuration["replay_after"] = int(form["Configuration.ReplayAfter"])
        except ValueError:
            raise invalid("Configuration.ReplayAfter must be a message index") from None
    return configuration


def content_variables(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    value = json_object(raw)
    if value is None or not all(isinstance(v, str) for v in value.values()):
        raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid: a JSON object of strings")
    return value


# -- handlers --------------------------------------------------------------------------------


def _domain(request: web.Request) -> ConversationsDomain:
    return world_of(request).conversations


def _conversation(request: web.Request) -> Conversation:
    return _domain(request).conversation(request.match_info["sid"])


async def create_conversation(request: web.Request) -> web.Response:
    params = creation_params(await read_form(request))
    return respond(conversation_json(account_of(request), _domain(request).create_conversation(**params)), 201)


async def create_conversation_with_participants(request: web.Request) -> web.Response:
    form = await read_form(request)
    params = creation_params(form)
    participants = [participant_from_json(raw) for raw in repeated(form, "Participant")]
    if len(participants) > MAX_PARTICIPANTS_AT_CREATION:
        raise invalid(f"At most {MAX_PARTICIPANTS_AT_CREATION} Participant values are accepted")
    conversation = _domain(request).create_conversation(participants=participants, **params)
    return respond(conversation_json(account_of(request), conversation), 201)


async def list_conversations(request: web.Request) -> web.Response:
    query = request.query
    start = date(query.get("StartDate"), "StartDate")
    end = date(query.get("EndDate"), "EndDate", end_of_day=True)
    state = query.get("State")
    check_state(state)
    records = [
        conversation_json(account_of(request), c)
        for c in _domain(request).conversations.values()
        if (start is None or c.date_created >= start) and (end is None or c.date_created <= end)
        and (state is None or c.state == state)
    ]
    return page(request, "conversations", records, max_page_size=100)


async def fetch_conversation(request: web.Request) -> web.Response:
    return respond(conversation_json(account_of(request), _conversation(request)))


async def update_conversation(request: web.Request) -> web.Response:
    params = conversation_params(await read_form(request))
    conversation = _domain(request).update_conversation(request.match_info["sid"], **params)
    return respond(conversation_json(account_of(request), conversation))


async def delete_conversation(request: web.Request) -> web.Response:
    _domain(request).delete_conversation(request.match_info["sid"])
    return web.Response(status=204)


async def list_participant_conversations(request: web.Request) -> web.Response:
    address, identity = request.query.get("Address"), request.query.get("Identity")
    if (address is None) == (identity is None):
        raise invalid("Exactly one of Address or Identity must be given")
    pairs = _domain(request).participations(address=address, identity=identity)
    records = [participant_conversation_json(account_of(request), c, p) for c, p in pairs]
    return page(request, "conversations", records, max_page_size=50)


async def create_participant(request: web.Request) -> web.Response:
    params = participant_params(await read_form(request))
    for update_only in ("last_read_message_index", "last_read_timestamp"):
        params.pop(update_only, None)
    participant = _domain(request).add_participant(request.match_info["sid"], **params)
    return respond(participant_json(account_of(request), participant), 201)


async def list_participants(request: web.Request) -> web.Response:
    participants = _conversation(request).participants.values()
    return page(request, "participants", [participant_json(account_of(request), p) for p in participants],
                max_page_size=100)


async def fetch_participant(request: web.Request) -> web.Response:
    participant = _domain(request).participant(_conversation(request), request.match_info["participant"])
    return respond(participant_json(account_of(request), participant))


async def update_participant(request: web.Request) -> web.Response:
    params = participant_params(await read_form(request))
    params.pop("address", None)  # a binding's address cannot change
    participant = _domain(request).update_participant(
        request.match_info["sid"], request.match_info["participant"], **params
    )
    return respond(participant_json(account_of(request), participant))


async def delete_participant(request: web.Request) -> web.Response:
    _domain(request).remove_participant(request.match_info["sid"], request.match_info["participant"])
    return web.Response(status=204)


def _message(request: web.Request) -> Message:
    return _domain(request).message(_conversation(request), request.match_info["message"])


async def create_message(request: web.Request) -> web.Response:
    form = await read_form(request)
    params = _given(form, {"Author": "author", "Body": "body", "ContentSid": "content_sid",
                           "Attributes": "attributes", "MediaSid": "media_sid"})
    params["content_variables"] = content_variables(form.get("ContentVariables"))
    params.update(_dates(form))
    message = _domain(request).add_message(request.match_info["sid"], **params)
    return respond(message_json(account_of(request), message), 201)


async def list_messages(request: web.Request) -> web.Response:
    order = request.query.get("Order", "asc")
    if order not in ("asc", "desc"):
        raise invalid(f"Order must be asc or desc, got '{order}'")
    messages = _conversation(request).messages
    ordered = list(reversed(messages)) if order == "desc" else messages
    return page(request, "messages", [message_json(account_of(request), m) for m in ordered], max_page_size=100)


async def fetch_message(request: web.Request) -> web.Response:
    return respond(message_json(account_of(request), _message(request)))


async def update_message(request: web.Request) -> web.Response:
    form = await read_form(request)
    params = _given(form, {"Author": "author", "Body": "body", "Attributes": "attributes"})
    params.update(_dates(form))
    message = _domain(request).update_message(request.match_info["sid"], request.match_info["message"], **params)
    return respond(message_json(account_of(request), message))


async def delete_message(request: web.Request) -> web.Response:
    _domain(request).delete_message(request.match_info["sid"], request.match_info["message"])
    return web.Response(status=204)


async def list_receipts(request: web.Request) -> web.Response:
    receipts = [receipt_json(account_of(request), r) for r in _message(request).receipts]
    return page(request, "delivery_receipts", receipts, max_page_size=50)


async def fetch_receipt(request: web.Request) -> web.Response:
    receipt = next((r for r in _message(request).receipts if r.sid == request.match_info["receipt"]), None)
    if receipt is None:
        raise not_found(request.path)
    return respond(receipt_json(account_of(request), receipt))


async def create_webhook(request: web.Request) -> web.Response:
    form = await read_form(request)
    webhook = _domain(request).add_webhook(
        request.match_info["sid"], target=form.get("Target"), configuration=webhook_configuration(form)
    )
    return respond(webhook_json(account_of(request), webhook), 201)


async def list_webhooks(request: web.Request) -> web.Response:
    webhooks = [webhook_json(account_of(request), w) for w in _conversation(request).webhooks.values()]
    return page(request, "webhooks", webhooks, max_page_size=5, default_page_size=5)


async def fetch_webhook(request: web.Request) -> web.Response:
    webhook = _domain(request).webhook(_conversation(request), request.match_info["webhook"])
    return respond(webhook_json(account_of(request), webhook))


async def update_webhook(request: web.Request) -> web.Response:
    configuration = webhook_configuration(await read_form(request))
    webhook = _domain(request).update_webhook(request.match_info["sid"], request.match_info["webhook"], configuration)
    return respond(webhook_json(account_of(request), webhook))


async def delete_webhook(request: web.Request) -> web.Response:
    _domain(request).delete_webhook(request.match_info["sid"], request.match_info["webhook"])
    return web.Response(status=204)


async def customer_says(request: web.Request) -> web.Response:
    """Simulator control: the conversation's customer writes now (JSON {"body": "…"})."""
    try:
        body = (await request.json())["body"]
    except (ValueError, KeyError, TypeError):
        raise bad_request('Send a JSON object {"body": "…"}') from None
    message = world_of(request).customers.say(request.match_info["sid"], body)
    return respond({"sid": message.sid, "conversation_sid": message.conversation_sid, "index": message.index,
                    "author": message.author, "body": message.body}, 201)


_POST_EVENTS = ("onMessageAdded", "onMessageUpdated", "onMessageRemoved", "onConversationAdded",
                "onConversationUpdated", "onConversationRemoved", "onConversationStateUpdated", "onParticipantAdded",
                "onParticipantUpdated", "onParticipantRemoved", "onDeliveryUpdated", "onUserAdded", "onUserUpdated")


def _webhook_configuration(request: web.Request) -> dict[str, Any]:
    return {"account_sid": account_of(request), **world_of(request).conversations.webhooks,
            "url": absolute("/v1/Configuration/Webhooks")}


async def fetch_webhook_configuration(request: web.Request) -> web.Response:
    return respond(_webhook_configuration(request))


async def update_webhook_configuration(request: web.Request) -> web.Response:
    """The account's Conversations webhooks: PostWebhookUrl, PreWebhookUrl, Filters, Method, Target."""
    form = await read_form(request)
    webhooks = world_of(request).conversations.webhooks
    for name, key in (("PostWebhookUrl", "post_webhook_url"), ("PreWebhookUrl", "pre_webhook_url")):
        if name in form:
            url = form[name].strip()
            if url and not url.startswith(("http://", "https://")):
                raise invalid(f"{name} '{url}' is not a valid URL")
            webhooks[key] = url or None
    if "Filters" in form:
        filters = repeated(form, "Filters")
        if unknown := [f for f in filters if f not in _POST_EVENTS]:
            raise invalid(f"Filters: {', '.join(unknown)} is not a webhook event")
        webhooks["filters"] = filters
    if "Method" in form:
        if form["Method"].upper() not in ("GET", "POST"):
            raise invalid("Method must be GET or POST")
        webhooks["method"] = form["Method"].upper()
    if "Target" in form:
        webhooks["target"] = form["Target"]
    return respond(_webhook_configuration(request))


def add_routes(app: web.Application) -> None:
    conversation = "/v1/Conversations/{sid}"
    participant = conversation + "/Participants/{participant}"
    message = conversation + "/Messages/{message}"
    webhook = conversation + "/Webhooks/{webhook}"
    router = app.router
    router.add_get("/v1/Configuration/Webhooks", fetch_webhook_configuration)
    router.add_post("/v1/Configuration/Webhooks", update_webhook_configuration)
    router.add_post("/v1/Conversations", create_conversation)
    router.add_get("/v1/Conversations", list_conversations)
    router.add_get(conversation, fetch_conversation)
    router.add_post(conversation, update_conversation)
    router.add_delete(conversation, delete_conversation)
    router.add_post("/v1/ConversationWithParticipants", create_conversation_with_participants)
    router.add_get("/v1/ParticipantConversations", list_participant_conversations)
    router.add_post(conversation + "/Participants", create_participant)
    router.add_get(conversation + "/Participants", list_participants)
    router.add_get(participant, fetch_participant)
    router.add_post(participant, update_participant)
    router.add_delete(participant, delete_participant)
    router.add_post(conversation + "/Messages", create_message)
    router.add_get(conversation + "/Messages", list_messages)
    router.add_get(message, fetch_message)
    router.add_post(message, update_message)
    router.add_delete(message, delete_message)
    router.add_get(message + "/Receipts", list_receipts)
    router.add_get(message + "/Receipts/{receipt}", fetch_receipt)
    router.add_post(conversation + "/Webhooks", create_webhook)
    router.add_get(conversation + "/Webhooks", list_webhooks)
    router.add_get(webhook, fetch_webhook)
    router.add_post(webhook, update_webhook)
    router.add_delete(webhook, delete_webhook)
    router.add_post("/_sim/conversations/{sid}/customer-messages", customer_says)
