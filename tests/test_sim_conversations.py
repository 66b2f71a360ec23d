"""The simulator's Conversations v1, through the real twilio SDK over HTTP: resources, rules, errors, paging.

Every exchange is also validated against Twilio's OpenAPI spec by the `sim` fixture. The few requests
that are off-spec on purpose (to see the simulator refuse them) are made inside `off_spec(sim)`.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Iterator

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from sim import seed
from sim.server import Simulator

JANE, OMAR, MEI = (c.address for c in seed.CUSTOMERS[:3])
SMS_SENDER, SMS_SENDER_2 = seed.SMS_SENDERS
WA_SENDER = seed.WHATSAPP_SENDERS[0]
HOST = "https://conversations.twilio.com"
CH = re.compile(r"\bCH[a-zA-Z0-9]{32}\b")
CONVERSATION_KEYS = {"sid", "account_sid", "chat_service_sid", "messaging_service_sid", "friendly_name",
                     "unique_name", "attributes", "state", "timers", "bindings", "date_created", "date_updated",
                     "url", "links"}
PARTICIPANT_KEYS = {"sid", "account_sid", "conversation_sid", "identity", "attributes", "messaging_binding",
                    "role_sid", "date_created", "date_updated", "url", "last_read_message_index",
                    "last_read_timestamp"}
MESSAGE_KEYS = {"sid", "account_sid", "conversation_sid", "index", "author", "body", "media", "attributes",
                "participant_sid", "content_sid", "delivery", "date_created", "date_updated", "url", "links"}


def last_body(sim: Simulator) -> Any:
    return json.loads(sim.world.log[-1].response_body)


@contextmanager
def off_spec(sim: Simulator) -> Iterator[None]:
    """Requests the spec itself forbids, sent on purpose: left out of the fixture's contract check."""
    before = len(sim.world.log)
    yield
    del sim.world.log[before:]


async def raises(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        await call
    return caught.value


async def new_conversation(client: Client, address: str | None = None, proxy: str = SMS_SENDER, **kwargs: Any) -> str:
    conversation = await client.conversations.v1.conversations.create_async(**kwargs)
    if address is not None:
        await client.conversations.v1.conversations(conversation.sid).participants.create_async(
            messaging_binding_address=address, messaging_binding_proxy_address=proxy
        )
    return conversation.sid


def metas(sim: Simulator, path: str) -> list[dict[str, Any]]:
    return [json.loads(e.response_body)["meta"] for e in sim.world.log if e.path == path and e.method == "GET"]


# -- conversations ---------------------------------------------------------------------------


async def test_create_conversation_answers_201_with_every_contract_field(sim: Simulator, client: Client) -> None:
    created = await client.conversations.v1.conversations.create_async(
        friendly_name="Jane", attributes='{"topic":"billing"}', x_twilio_webhook_enabled="true"
    )
    assert sim.world.log[-1].status == 201
    body = last_body(sim)
    assert set(body) == CONVERSATION_KEYS
    assert re.fullmatch(r"CH[0-9a-f]{32}", created.sid)
    assert body["account_sid"] == seed.ACCOUNT_SID
    assert body["chat_service_sid"] == seed.CHAT_SERVICE_SID
    assert (body["state"], body["attributes"], body["timers"], body["bindings"]) == (
        "active", '{"topic":"billing"}', {}, {})
    assert body["url"] == f"{HOST}/v1/Conversations/{created.sid}"
    assert body["links"] == {name.lower(): f"{HOST}/v1/Conversations/{created.sid}/{name}"
                             for name in ("Participants", "Messages", "Webhooks", "Export")}
    assert body["attributes"] == '{"topic":"billing"}'


async def test_unset_attributes_read_back_as_an_empty_json_object(client: Client) -> None:
    created = await client.conversations.v1.conversations.create_async()
    assert created.attributes == "{}"
    assert created.unique_name is None and created.friendly_name is None


async def test_fetch_by_unique_name_update_and_delete(sim: Simulator, client: Client) -> None:
    conversations = client.conversations.v1.conversations
    created = await conversations.create_async(unique_name="jane-billing")
    assert (await conversations("jane-billing").fetch_async()).sid == created.sid
    updated = await conversations("jane-billing").update_async(friendly_name="Jane", attributes='{"a":1}')
    assert (updated.sid, updated.friendly_name, updated.attributes) == (created.sid, "Jane", '{"a":1}')
    assert await conversations(created.sid).delete_async() is True
    assert sim.world.log[-1].status == 204
    missing = await raises(conversations(created.sid).fetch_async())
    assert (missing.status, missing.code) == (404, 20404)


async def test_duplicate_unique_name_is_409_50353(client: Client) -> None:
    await client.conversations.v1.conversations.create_async(unique_name="only-one")
    error = await raises(client.conversations.v1.conversations.create_async(unique_name="only-one"))
    assert (error.status, error.code) == (409, 50353)


async def test_attributes_that_are_not_json_are_400_50304(client: Client) -> None:
    conversations = client.conversations.v1.conversations
    error = await raises(conversations.create_async(attributes="{not json"))
    assert (error.status, error.code) == (400, 50304)
    sid = await new_conversation(client)
    for call in (conversations(sid).update_async(attributes="nope"),
                 conversations(sid).participants.create_async(identity="a", attributes="{"),
                 conversations(sid).messages.create_async(body="hi", attributes="[1,")):
        error = await raises(call)
        assert (error.status, error.code) == (400, 50304)


async def test_closed_is_final_every_update_is_50377(client: Client) -> None:
    conversations = client.conversations.v1.conversations
    sid = await new_conversation(client)
    closed = await conversations(sid).update_async(state="closed")
    assert closed.state == "closed"
    for call in (conversations(sid).update_async(state="active"),
                 conversations(sid).update_async(friendly_name="again"),
                 conversations(sid).participants.create_async(identity="alice"),
                 conversations(sid).messages.create_async(body="hello?"),
                 conversations(sid).webhooks.create_async(target="studio", configuration_flow_sid=seed.STUDIO_FLOW_SID)):
        error = await raises(call)
        assert (error.status, error.code) == (400, 50377)
    assert await conversations(sid).delete_async() is True  # deleting a closed conversation is allowed


async def test_timer_rules_on_create(client: Client) -> None:
    conversations = client.conversations.v1.conversations
    cases = [
        ({"timers_inactive": "PT5M"}, 50382),  # timers without State
        ({"state": "active", "timers_inactive": "5 minutes"}, 50379),
        ({"state": "active", "timers_closed": "P1Y"}, 50380),
        ({"state": "active", "timers_inactive": "PT30S"}, 50375),
        ({"state": "active", "timers_closed": "PT9M"}, 50376),
    ]
    for kwargs, code in cases:
        error = await raises(conversations.create_async(**kwargs))
        assert (error.status, error.code) == (400, code), kwargs
    created = await conversations.create_async(state="active", timers_inactive="PT5M", timers_closed="P1DT2H")
    assert set(created.timers) == {"date_inactive", "date_closed"}
    disabled = await conversations(created.sid).update_async(timers_inactive="PT0S", timers_closed="PT0S")
    assert disabled.timers == {}  # PT0S switches a timer off


async def test_timers_move_a_quiet_conversation_to_inactive_then_closed(sim: Simulator, client: Client) -> None:
    conversations = client.conversations.v1.conversations
    created = await conversations.create_async(state="active", timers_inactive="PT5M", timers_closed="PT1H")
    start = sim.world.now()
    assert created.timers["date_inactive"] == datetime.fromtimestamp(start + 300, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sim.world.clock.advance(299)
    assert (await conversations(created.sid).fetch_async()).state == "active"
    sim.world.clock.advance(2)
    assert (await conversations(created.sid).fetch_async()).state == "inactive"
    # A new message wakes it up and pushes both timers back.
    await conversations(created.sid).messages.create_async(body="still there?")
    assert (await conversations(created.sid).fetch_async()).state == "active"
    sim.world.clock.advance(3599 - 301)
    assert (await conversations(created.sid).fetch_async()).state == "inactive"  # 5 quiet minutes again
    sim.world.clock.advance(302)
    assert (await conversations(created.sid).fetch_async()).state == "closed"  # an hour after the last message


async def test_timers_can_be_set_by_update(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client, JANE)
    await client.conversations.v1.conversations(sid).update_async(timers_closed="PT10M")
    sim.world.clock.advance(601)
    assert (await client.conversations.v1.conversations(sid).fetch_async()).state == "closed"
    # The timer freed the binding.
    assert await new_conversation(client, JANE)


async def test_list_conversations_filters_by_state_and_dates_and_pages(sim: Simulator, client: Client) -> None:
    conversations = client.conversations.v1.conversations
    early = [await new_conversation(client) for _ in range(5)]
    day = datetime.fromtimestamp(sim.world.now(), UTC).date()
    sim.world.clock.advance(3 * 86400)
    late = [await new_conversation(client) for _ in range(3)]
    for sid in early[:2]:
        await conversations(sid).update_async(state="closed")

    everything = await conversations.list_async(page_size=3)
    assert [c.sid for c in everything] == [*seed.HISTORY_SIDS, *early, *late]  # the seeded past first
    closed = await conversations.list_async(state="closed", page_size=1)
    assert {c.sid for c in closed} == set(early[:2]) | set(seed.HISTORY_SIDS)
    later_day = datetime.fromtimestamp(sim.world.now(), UTC).date()
    assert [c.sid for c in await conversations.list_async(start_date=later_day.isoformat())] == late
    assert [c.sid for c in await conversations.list_async(end_date=day.isoformat())] == [*seed.HISTORY_SIDS, *early]
    state_pages = [m for m in metas(sim, "/v1/Conversations") if "State=closed" in m["url"]]
    assert state_pages[0]["next_page_url"].startswith(f"{HOST}/v1/Conversations?State=closed&PageSize=1&Page=1")


async def test_list_error_is_the_sdks_plain_page_exception(client: Client) -> None:
    with pytest.raises(TwilioException, match="Unable to fetch page") as caught:
        await client.conversations.v1.conversations.list_async(start_date="not-a-date")
    assert json.loads(caught.value.args[1].text)["status"] == 400


# -- ConversationWithParticipants ------------------------------------------------------------


async def test_conversation_with_participants_creates_everything_in_one_call(sim: Simulator, client: Client) -> None:
    created = await client.conversations.v1.conversation_with_participants.create_async(
        friendly_name="Jane on WhatsApp",
        attributes='{"KnownAgentRoutingFlag":false}',
        participant=[
            json.dumps({"messaging_binding": {"address": f"whatsapp:{JANE}", "proxy_address": f"whatsapp:{WA_SENDER}"}}),
            json.dumps({"identity": "alice@example.com", "attributes": '{"role":"agent"}'}),
        ],
    )
    assert sim.world.log[-1].status == 201
    assert set(last_body(sim)) == CONVERSATION_KEYS
    assert (created.state, created.friendly_name) == ("active", "Jane on WhatsApp")
    participants = await client.conversations.v1.conversations(created.sid).participants.list_async()
    assert [(p.identity, p.messaging_binding and p.messaging_binding["type"]) for p in participants] == [
        (None, "whatsapp"), ("alice@example.com", None)]
    assert participants[1].attributes == '{"role":"agent"}'


async def test_conversation_with_participants_refuses_a_taken_binding_and_creates_nothing(
    sim: Simulator, client: Client
) -> None:
    existing = await new_conversation(client, JANE)
    error = await raises(client.conversations.v1.conversation_with_participants.create_async(
        participant=[json.dumps({"identity": "alice@example.com"}),
                     json.dumps({"messaging_binding": {"address": JANE, "proxy_address": SMS_SENDER}})],
    ))
    assert (error.status, error.code) == (409, 50425)
    assert CH.findall(error.msg) == [existing]
    assert list(sim.world.conversations.conversations) == [*seed.HISTORY_SIDS, existing]


async def test_conversation_with_participants_rejects_participant_that_is_not_json(client: Client) -> None:
    for participant in ("{oops", '["alice"]', '{"messaging_binding": "+14155550100"}', '{"identity": 5}'):
        error = await raises(client.conversations.v1.conversation_with_participants.create_async(
            participant=[participant]))
        assert (error.status, error.code) == (400, 50424), participant


async def test_conversation_with_participants_refuses_the_same_participant_twice(sim: Simulator, client: Client) -> None:
    jane = json.dumps({"messaging_binding": {"address": JANE, "proxy_address": SMS_SENDER}})
    twice = await raises(client.conversations.v1.conversation_with_participants.create_async(participant=[jane, jane]))
    assert (twice.status, twice.code) == (409, 50437)
    alice = json.dumps({"identity": "alice"})
    twice = await raises(client.conversations.v1.conversation_with_participants.create_async(participant=[alice, alice]))
    assert (twice.status, twice.code) == (409, 50433)
    assert list(sim.world.conversations.conversations) == list(seed.HISTORY_SIDS)


async def test_conversation_with_participants_timers_need_state(client: Client) -> None:
    error = await raises(client.conversations.v1.conversation_with_participants.create_async(timers_closed="PT1H"))
    assert (error.status, error.code) == (400, 50382)


# -- participants ----------------------------------------------------------------------------


async def test_sms_whatsapp_and_chat_participants_answer_the_contract_shape(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client)
    participants = client.conversations.v1.conversations(sid).participants
    sms = await participants.create_async(messaging_binding_address=JANE, messaging_binding_proxy_address=SMS_SENDER)
    assert sim.world.log[-1].status == 201
    body = last_body(sim)
    assert set(body) == PARTICIPANT_KEYS
    assert body["url"] == f"{HOST}/v1/Conversations/{sid}/Participants/{sms.sid}"
    assert (sms.identity, sms.messaging_binding) == (None, {"type": "sms", "address": JANE, "proxy_address": SMS_SENDER})
    whatsapp = await participants.create_async(messaging_binding_address=f"whatsapp:{JANE}",
                                               messaging_binding_proxy_address=f"whatsapp:{WA_SENDER}")
    assert whatsapp.messaging_binding["type"] == "whatsapp"
    agent = await participants.create_async(identity="alice@example.com")
    assert (agent.identity, agent.messaging_binding) == ("alice@example.com", None)
    assert re.fullmatch(r"MB[0-9a-f]{32}", agent.sid)


async def test_binding_held_by_another_conversation_is_409_50416_naming_it(client: Client) -> None:
    first = await new_conversation(client, JANE)
    second = await new_conversation(client)
    error = await raises(client.conversations.v1.conversations(second).participants.create_async(
        messaging_binding_address=JANE, messaging_binding_proxy_address=SMS_SENDER))
    assert (error.status, error.code) == (409, 50416)
    assert error.msg == ("Unable to create record: A binding for this participant and proxy address already "
                         f"exists in Conversation {first}")
    # Another sender, or the WhatsApp channel, is another binding.
    await client.conversations.v1.conversations(second).participants.create_async(
        messaging_binding_address=JANE, messaging_binding_proxy_address=SMS_SENDER_2)


async def test_an_inactive_conversation_still_holds_its_binding(client: Client) -> None:
    first = await new_conversation(client, JANE)
    await client.conversations.v1.conversations(first).update_async(state="inactive")
    error = await raises(client.conversations.v1.conversations(await new_conversation(client)).participants.create_async(
        messaging_binding_address=JANE, messaging_binding_proxy_address=SMS_SENDER))
    assert error.code == 50416


@pytest.mark.parametrize("release", ["close", "delete", "remove participant"])
async def test_closing_deleting_or_leaving_frees_the_binding(sim: Simulator, client: Client, release: str) -> None:
    conversations = client.conversations.v1.conversations
    first = await new_conversation(client, JANE)
    if release == "close":
        await conversations(first).update_async(state="closed")
    elif release == "delete":
        await conversations(first).delete_async()
    else:
        [participant] = await conversations(first).participants.list_async()
        assert await conversations(first).participants(participant.sid).delete_async() is True
    assert sim.world.conversations.active_conversation_for(JANE, SMS_SENDER) is None
    second = await new_conversation(client)
    added = await conversations(second).participants.create_async(
        messaging_binding_address=JANE, messaging_binding_proxy_address=SMS_SENDER)
    assert added.conversation_sid == second
    assert sim.world.conversations.active_conversation_for(JANE, SMS_SENDER).sid == second


async def test_participant_rule_errors(client: Client) -> None:
    sid = await new_conversation(client, JANE)
    await client.conversations.v1.conversations(sid).participants.create_async(identity="alice@example.com")
    participants = client.conversations.v1.conversations(sid).participants
    cases = [
        ({"messaging_binding_address": SMS_SENDER, "messaging_binding_proxy_address": SMS_SENDER}, 400, 50409),
        ({"messaging_binding_address": OMAR}, 400, 50412),
        ({"messaging_binding_address": "not-a-number", "messaging_binding_proxy_address": SMS_SENDER}, 400, 50407),
        ({"messaging_binding_address": f"whatsapp:{OMAR}", "messaging_binding_proxy_address": SMS_SENDER}, 400, 50408),
        ({"identity": "alice@example.com"}, 409, 50433),
        ({"messaging_binding_address": JANE, "messaging_binding_proxy_address": SMS_SENDER}, 409, 50437),
        ({"identity": "bob", "messaging_binding_address": OMAR, "messaging_binding_proxy_address": SMS_SENDER},
         400, 50211),
        ({"attributes": "{}"}, 400, 50204),
    ]
    for kwargs, status, code in cases:
        error = await raises(participants.create_async(**kwargs))
        assert (error.status, error.code) == (status, code), kwargs


async def test_participants_fetch_update_delete_and_page(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client)
    participants = client.conversations.v1.conversations(sid).participants
    created = [await participants.create_async(identity=f"agent{n}") for n in range(5)]
    assert [p.sid for p in await participants.list_async(page_size=2)] == [p.sid for p in created]
    assert (await participants("agent3").fetch_async()).sid == created[3].sid  # by identity too
    updated = await participants(created[0].sid).update_async(attributes='{"x":1}', last_read_message_index=0)
    assert (updated.attributes, updated.last_read_message_index) == ('{"x":1}', 0)
    assert await participants(created[0].sid).delete_async() is True
    error = await raises(participants(created[0].sid).fetch_async())
    assert (error.status, error.code) == (404, 20404)
    meta = metas(sim, f"/v1/Conversations/{sid}/Participants")[0]
    assert meta["next_page_url"].startswith(f"{HOST}/v1/Conversations/{sid}/Participants?PageSize=2&Page=1&PageToken=")


async def test_changing_a_proxy_address_respects_the_binding_rule(client: Client) -> None:
    first = await new_conversation(client, JANE, SMS_SENDER)
    second = await new_conversation(client, JANE, SMS_SENDER_2)
    [participant] = await client.conversations.v1.conversations(second).participants.list_async()
    error = await raises(client.conversations.v1.conversations(second).participants(participant.sid).update_async(
        messaging_binding_proxy_address=SMS_SENDER))
    assert (error.code, CH.findall(error.msg)) == (50416, [first])


# -- messages --------------------------------------------------------------------------------


async def test_message_fields_author_index_and_participant(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client, JANE)
    messages = client.conversations.v1.conversations(sid).messages
    system = await messages.create_async(body="Welcome", x_twilio_webhook_enabled="false")
    assert sim.world.log[-1].status == 201
    body = last_body(sim)
    assert set(body) == MESSAGE_KEYS
    assert (system.author, system.index, system.participant_sid, system.delivery, system.media) == (
        "system", 0, None, None, None)
    url = f"{HOST}/v1/Conversations/{sid}/Messages/{system.sid}"
    assert body["links"] == {"delivery_receipts": f"{url}/Receipts", "channel_metadata": f"{url}/ChannelMetadata"}
    agent = await client.conversations.v1.conversations(sid).participants.create_async(identity="alice@example.com")
    from_agent = await messages.create_async(author="alice@example.com", body="Hi Jane")
    assert (from_agent.index, from_agent.participant_sid) == (1, agent.sid)
    from_somebody = await messages.create_async(author="not-a-participant", body="?")
    assert (from_somebody.index, from_somebody.participant_sid) == (2, None)


async def test_message_body_rules(client: Client) -> None:
    messages = client.conversations.v1.conversations(await new_conversation(client)).messages
    assert len((await messages.create_async(body="x" * 1600)).body) == 1600
    too_long = await raises(messages.create_async(body="x" * 1601))
    assert (too_long.status, too_long.code) == (400, 50504)
    empty = await raises(messages.create_async(author="alice"))
    assert (empty.status, empty.code) == (400, 50503)
    media = await messages.create_async(media_sid="ME" + "1" * 32)
    assert (media.body, [item["sid"] for item in media.media]) == (None, ["ME" + "1" * 32])


async def test_content_template_is_rendered_with_its_variables(client: Client) -> None:
    messages = client.conversations.v1.conversations(await new_conversation(client)).messages
    order_update = seed.TEMPLATES[1]
    sent = await messages.create_async(content_sid=order_update.sid, body="ignored",
                                       content_variables='{"first_name":"Jane","order_id":"A-17"}')
    assert (sent.content_sid, sent.body) == (order_update.sid, "Hello Jane, your order A-17 has shipped.")
    defaults = await messages.create_async(content_sid=order_update.sid)
    assert defaults.body == "Hello there, your order 0000 has shipped."


async def test_content_errors(client: Client) -> None:
    messages = client.conversations.v1.conversations(await new_conversation(client)).messages
    unknown = await raises(messages.create_async(content_sid="HX" + "f" * 32))
    assert (unknown.status, unknown.code) == (404, 20404)
    for variables in ('{"1": ', '["Jane"]', '{"1": 5}'):
        malformed = await raises(messages.create_async(content_sid=seed.TEMPLATES[0].sid, content_variables=variables))
        assert (malformed.status, malformed.code) == (400, 21656), variables


async def test_messages_list_order_paging_update_delete(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client)
    messages = client.conversations.v1.conversations(sid).messages
    sent = [await messages.create_async(body=f"m{n}") for n in range(5)]
    assert [m.body for m in await messages.list_async(page_size=2)] == [f"m{n}" for n in range(5)]
    assert [m.body for m in await messages.list_async(order="desc", page_size=2)] == [f"m{n}" for n in reversed(range(5))]
    desc_pages = [m for m in metas(sim, f"/v1/Conversations/{sid}/Messages") if "Order=desc" in m["url"]]
    assert len(desc_pages) == 3 and desc_pages[-1]["next_page_url"] is None
    assert desc_pages[0]["next_page_url"].startswith(f"{HOST}/v1/Conversations/{sid}/Messages?Order=desc&PageSize=2")
    edited = await messages(sent[0].sid).update_async(body="m0, edited", author="alice")
    assert (edited.body, edited.author, edited.index) == ("m0, edited", "alice", 0)
    assert await messages(sent[4].sid).delete_async() is True
    error = await raises(messages(sent[4].sid).fetch_async())
    assert (error.status, error.code) == (404, 20404)
    assert (await messages.create_async(body="after")).index == 5  # indexes are never reused


# -- conversation-scoped webhooks ------------------------------------------------------------


async def test_studio_webhook_crud(sim: Simulator, client: Client) -> None:
    sid = await new_conversation(client)
    webhooks = client.conversations.v1.conversations(sid).webhooks
    studio = await webhooks.create_async(target="studio", configuration_flow_sid=seed.STUDIO_FLOW_SID)
    assert sim.world.log[-1].status == 201
    assert (studio.target, studio.configuration) == ("studio", {"flow_sid": seed.STUDIO_FLOW_SID})
    assert studio.url == f"{HOST}/v1/Conversations/{sid}/Webhooks/{studio.sid}"
    assert [w.sid for w in await webhooks.list_async()] == [studio.sid]
    assert (await webhooks(studio.sid).fetch_async()).configuration == {"flow_sid": seed.STUDIO_FLOW_SID}
    updated = await webhooks(studio.sid).update_async(configuration_flow_sid="FW" + "2" * 32)
    assert updated.configuration == {"flow_sid": "FW" + "2" * 32}
    assert await webhooks(studio.sid).delete_async() is True
    assert await webhooks.list_async() == []


async def test_webhook_configuration_echoes_only_what_was_given(client: Client) -> None:
    webhooks = client.conversations.v1.conversations(await new_conversation(client)).webhooks
    plain = await webhooks.create_async(target="webhook", configuration_url="https://example.com/hook",
                                        configuration_method="post", configuration_filters=["onMessageAdded", "onParticipantAdded"])
    assert plain.configuration == {"url": "https://example.com/hook", "method": "post",
                                   "filters": ["onMessageAdded", "onParticipantAdded"]}
    trigger = await webhooks.create_async(target="trigger", configuration_url="https://example.com/t",
                                          configuration_triggers=["help", "agent"], configuration_replay_after=0)
    assert trigger.configuration == {"url": "https://example.com/t", "triggers": ["help", "agent"], "replay_after": 0}


async def test_webhook_errors(sim: Simulator, client: Client) -> None:
    webhooks = client.conversations.v1.conversations(await new_conversation(client)).webhooks
    cases = [
        ({"target": "studio"}, 50367),
        ({"target": "webhook", "configuration_method": "post"}, 50369),
        ({"target": "trigger", "configuration_url": "https://example.com"}, 50371),
        ({"target": "trigger", "configuration_url": "https://example.com",
          "configuration_triggers": ["a", "b", "c", "d", "e", "f"]}, 50362),
    ]
    for kwargs, code in cases:
        error = await raises(webhooks.create_async(**kwargs))
        assert (error.status, error.code) == (400, code), kwargs
    with off_spec(sim):  # Target is an enum in the spec
        error = await raises(webhooks.create_async(target="slack", configuration_url="https://example.com"))
    assert (error.status, error.code) == (400, 50364)


async def test_a_sixth_webhook_is_refused_with_50361(client: Client) -> None:
    webhooks = client.conversations.v1.conversations(await new_conversation(client)).webhooks
    for n in range(5):
        await webhooks.create_async(target="webhook", configuration_url=f"https://example.com/{n}")
    error = await raises(webhooks.create_async(target="studio", configuration_flow_sid=seed.STUDIO_FLOW_SID))
    assert (error.status, error.code) == (400, 50361)
    assert len(await webhooks.list_async()) == 5


# -- ParticipantConversations ----------------------------------------------------------------


async def test_participant_conversations_finds_every_conversation_of_an_address(sim: Simulator, client: Client) -> None:
    closed = []
    for _ in range(6):
        sid = await new_conversation(client, JANE)
        await client.conversations.v1.conversations(sid).update_async(state="closed")
        closed.append(sid)
    current = await new_conversation(client, JANE)
    await new_conversation(client, OMAR)  # someone else

    found = await client.conversations.v1.participant_conversations.list_async(address=JANE, page_size=3)
    assert [r.conversation_sid for r in found] == closed + [current]
    assert [r.conversation_state for r in found] == ["closed"] * 6 + ["active"]
    record = found[-1]
    assert record.participant_messaging_binding == {"address": JANE, "proxy_address": SMS_SENDER, "type": "sms",
                                                    "level": None, "name": None, "projected_address": None}
    assert record.links["conversation"] == f"{HOST}/v1/Conversations/{current}"
    pages = metas(sim, "/v1/ParticipantConversations")
    assert len(pages) == 3
    for meta in pages:
        for key in ("url", "first_page_url"):
            assert meta[key].startswith(f"{HOST}/v1/ParticipantConversations?Address=%2B14155550100&PageSize=3")
    assert pages[0]["next_page_url"].startswith(f"{HOST}/v1/ParticipantConversations?Address=%2B14155550100")


async def test_participant_conversations_by_identity(client: Client) -> None:
    sid = await new_conversation(client, JANE)
    await client.conversations.v1.conversations(sid).participants.create_async(identity="alice@example.com")
    [record] = await client.conversations.v1.participant_conversations.list_async(identity="alice@example.com")
    assert (record.conversation_sid, record.participant_identity, record.participant_messaging_binding) == (
        sid, "alice@example.com", None)


async def test_participant_conversations_needs_exactly_one_filter(client: Client) -> None:
    for kwargs in ({}, {"address": JANE, "identity": "alice"}):
        with pytest.raises(TwilioException, match="Unable to fetch page") as caught:
            await client.conversations.v1.participant_conversations.list_async(**kwargs)
        assert json.loads(caught.value.args[1].text)["status"] == 400
