"""What the agent sees before writing: the customer's WhatsApp 24-hour window and whether they opted out, read
from the customer's own messages in our conversations with the sender (one list, one page of messages).

The history is made here (our send, then the customer writing via the simulated customer) on numbers nobody
seeds, with the simulator's clock and the `now` of each check moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.customer import CustomerStatus, customer_status
from core.models import SendMode, SendResult
from core.outbound import OutboundService
from core.session import open_session
from sim import seed
from sim.server import Simulator
from sim.world import SimConfig
from tests.live import sim_watcher
from tests.outbound_fixtures import (  # noqa: F401 (fixtures)
    SMS_SENDER,
    WA_SENDER,
    calls,
    draft,
    make_service,
    service,
    settings_for,
    twilio_requests,
)

START = 1_800_000_000  # the simulated world's first second: whole seconds, as Conversations reports times
REPLIES = "+15005550006"  # delivered; the simulated customer replies after a while
NEVER_REPLIES = "+15005550014"  # delivered; never replies on its own
OPTED_OUT_NUMBER = "+15005550004"  # Twilio's test number that fails with 21610
INVALID_NUMBER = "+15005550001"  # fails with 21211
TEMPLATE = seed.TEMPLATES[0]  # appointment_reminder, approved: goes out on WhatsApp with the window closed
HOUR = 3600
CLOSED = "window closed — choose an approved template"


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5,
                     clock_start=float(START))


def at(seconds: float) -> datetime:
    """The time of day `seconds` after the world began."""
    return datetime.fromtimestamp(START + seconds, UTC)


def elapsed(sim: Simulator) -> float:
    return sim.world.now() - START


async def send(service: OutboundService, destination: str, channel: str = "whatsapp",
               sender: str = WA_SENDER) -> SendResult:
    """Our message to the customer: an approved template on WhatsApp (it goes out whatever the window)."""
    if channel == "whatsapp":
        request = draft(service, SendMode.WAIT_ME, channel=channel, destination=destination, sender=sender, body=None,
                        content_sid=TEMPLATE.sid, content_variables={"1": "Ana", "2": "Friday"})
    else:
        request = draft(service, SendMode.WAIT_ME, channel=channel, destination=destination, sender=sender)
    return await service.send(request)


async def status_of(service: OutboundService, destination: str, now: datetime, channel: str = "whatsapp",
                    sender: str = WA_SENDER) -> CustomerStatus:
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    return await customer_status(service.gateway, prefix + destination, prefix + sender, now)


async def counted(sim: Simulator, service: OutboundService, destination: str, now: datetime,
                  **where: str) -> tuple[CustomerStatus, list[str]]:
    """The status and the requests it took."""
    since = len(sim.world.log)
    status = await status_of(service, destination, now, **where)
    return status, calls(twilio_requests(sim, since))


# == the window ====================================================================================


async def test_window_is_open_for_24_hours_after_the_customer_wrote(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, NEVER_REPLIES)
    sim.world.clock.advance(60)
    sim.world.customers.say(result.conversation_sid, "hi")
    wrote = elapsed(sim)

    status = await status_of(service, NEVER_REPLIES, at(wrote + 23 * HOUR + 59 * 60))
    assert status.last_inbound == at(wrote)
    assert status.window_closes_at() == at(wrote + 24 * HOUR)
    assert status.window_open(at(wrote + 24 * HOUR - 1))
    assert status.window_sentence(at(wrote + 23 * HOUR + 59 * 60)) == "window open — closes in 1 min"
    assert not status.opted_out


async def test_window_closes_24_hours_after_the_customer_wrote(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, NEVER_REPLIES)
    sim.world.clock.advance(60)
    sim.world.customers.say(result.conversation_sid, "hi")
    wrote = elapsed(sim)
    sim.world.clock.advance(24 * HOUR + 1)

    status = await status_of(service, NEVER_REPLIES, at(elapsed(sim)))
    assert status.last_inbound == at(wrote)
    assert not status.window_open(at(wrote + 24 * HOUR + 1))
    assert not status.window_open(at(wrote + 24 * HOUR))  # it closes on the second
    assert status.window_sentence(at(wrote + 24 * HOUR + 1)) == CLOSED
    assert status.checked_at == at(wrote + 24 * HOUR + 1)


async def test_the_customers_newest_message_sets_the_window(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, REPLIES)
    sim.world.clock.advance(60)  # delivered; the simulated customer answered
    sim.world.clock.advance(5 * HOUR)
    sim.world.customers.say(result.conversation_sid, "one more thing")
    wrote = elapsed(sim)
    sim.world.clock.advance(3 * HOUR + 12 * 60 + 30)
    now = at(elapsed(sim))

    status = await status_of(service, REPLIES, now)
    assert status.last_inbound == at(wrote)
    assert status.window_sentence(now) == "window open — closes in 20 h 47 min"  # 20 h 47 min 30 s, rounded down


async def test_a_customer_who_never_wrote_has_a_closed_window_in_two_requests(
    sim: Simulator, service: OutboundService
) -> None:
    await send(service, NEVER_REPLIES)
    sim.world.clock.advance(60)
    status, sent = await counted(sim, service, NEVER_REPLIES, at(60))
    assert (status.last_inbound, status.opted_out, status.window_open(at(60))) == (None, False, False)
    assert status.window_sentence(at(60)) == CLOSED
    assert sent == ["GET /v1/ParticipantConversations", "GET /v1/Conversations/CH/Messages"]


async def test_a_customer_with_one_conversation_takes_exactly_two_requests(
    sim: Simulator, service: OutboundService
) -> None:
    result = await send(service, NEVER_REPLIES)
    sim.world.customers.say(result.conversation_sid, "hello")
    status, sent = await counted(sim, service, NEVER_REPLIES, at(elapsed(sim)))
    assert status.last_inbound is not None
    assert sent == ["GET /v1/ParticipantConversations", "GET /v1/Conversations/CH/Messages"]


async def test_a_number_we_never_wrote_to_takes_one_request(sim: Simulator, service: OutboundService) -> None:
    status, sent = await counted(sim, service, NEVER_REPLIES, at(0))
    assert (status.last_inbound, status.opted_out) == (None, False)
    assert sent == ["GET /v1/ParticipantConversations"]


async def test_only_this_sender_and_channel_count(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, NEVER_REPLIES, channel="sms", sender=SMS_SENDER)
    sim.world.customers.say(result.conversation_sid, "hi by SMS")
    now = at(elapsed(sim))
    assert (await status_of(service, NEVER_REPLIES, now, channel="sms", sender=SMS_SENDER)).last_inbound == now
    other_sms_sender = seed.SMS_SENDERS[1]
    assert (await status_of(service, NEVER_REPLIES, now, channel="sms", sender=other_sms_sender)).last_inbound is None
    assert (await status_of(service, NEVER_REPLIES, now)).last_inbound is None  # WhatsApp: never wrote there


async def test_an_older_conversation_is_read_only_when_the_newer_one_has_no_message_from_the_customer(
    sim: Simulator, service: OutboundService
) -> None:
    first = await send(service, NEVER_REPLIES)
    sim.world.customers.say(first.conversation_sid, "hi")
    wrote = elapsed(sim)
    sim.world.conversations.close(first.conversation_sid)
    sim.world.clock.advance(HOUR)
    second = await send(service, NEVER_REPLIES)
    assert second.conversation_sid != first.conversation_sid

    status, sent = await counted(sim, service, NEVER_REPLIES, at(elapsed(sim)))
    assert status.last_inbound == at(wrote)
    assert sent == ["GET /v1/ParticipantConversations"] + ["GET /v1/Conversations/CH/Messages"] * 2


async def test_older_conversations_are_not_read_once_the_customer_wrote_in_the_newest(
    sim: Simulator, service: OutboundService
) -> None:
    first = await send(service, NEVER_REPLIES)
    sim.world.customers.say(first.conversation_sid, "hi")
    sim.world.conversations.close(first.conversation_sid)
    sim.world.clock.advance(HOUR)
    second = await send(service, NEVER_REPLIES)
    sim.world.customers.say(second.conversation_sid, "hi again")
    wrote = elapsed(sim)

    status, sent = await counted(sim, service, NEVER_REPLIES, at(wrote))
    assert status.last_inbound == at(wrote)
    assert sent == ["GET /v1/ParticipantConversations", "GET /v1/Conversations/CH/Messages"]


async def test_at_most_three_conversations_are_read(sim: Simulator, service: OutboundService) -> None:
    oldest = await send(service, NEVER_REPLIES)
    sim.world.customers.say(oldest.conversation_sid, "hi")
    sim.world.conversations.close(oldest.conversation_sid)
    for _ in range(3):
        sim.world.clock.advance(HOUR)
        newer = await send(service, NEVER_REPLIES)
        sim.world.conversations.close(newer.conversation_sid)

    status, sent = await counted(sim, service, NEVER_REPLIES, at(elapsed(sim)))
    assert status.last_inbound is None  # conservative: looks closed, so the agent picks a template
    assert sent == ["GET /v1/ParticipantConversations"] + ["GET /v1/Conversations/CH/Messages"] * 3


@pytest.mark.parametrize(("left", "sentence"), [
    (timedelta(hours=3, minutes=12, seconds=59), "window open — closes in 3 h 12 min"),
    (timedelta(hours=24), "window open — closes in 24 h"),
    (timedelta(minutes=59, seconds=59), "window open — closes in 59 min"),
    (timedelta(minutes=1), "window open — closes in 1 min"),
    (timedelta(seconds=59), "window open — closes in less than a minute"),
    (timedelta(0), CLOSED),
    (timedelta(seconds=-1), CLOSED),
])
def test_window_sentence(left: timedelta, sentence: str) -> None:
    now = at(0)
    status = CustomerStatus(last_inbound=now + left - timedelta(hours=24), opted_out=False, checked_at=now)
    assert status.window_sentence(now) == sentence
    assert status.window_open(now) == (left > timedelta(0))


def test_window_sentence_for_a_customer_who_never_wrote() -> None:
    status = CustomerStatus(last_inbound=None, opted_out=False, checked_at=at(0))
    assert (status.window_closes_at(), status.window_open(at(0)), status.window_sentence(at(0))) == (None, False, CLOSED)


# == opting out ====================================================================================


@pytest.mark.parametrize(("text", "opted_out"), [
    ("stop ", True), (" STOP", True), ("Stop\n", True), ("stopall", True), ("Unsubscribe", True),
    ("cancel", True), ("END", True), ("quit", True),
    ("stop please", False), ("don't stop", False), ("hello", False),
])
async def test_an_opt_out_keyword_opts_the_customer_out(
    sim: Simulator, service: OutboundService, text: str, opted_out: bool
) -> None:
    result = await send(service, NEVER_REPLIES)
    sim.world.customers.say(result.conversation_sid, text)
    assert (await status_of(service, NEVER_REPLIES, at(elapsed(sim)))).opted_out is opted_out


async def test_opted_out_until_the_customer_sends_start(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, NEVER_REPLIES)
    say = sim.world.customers.say
    say(result.conversation_sid, "stop ")
    assert (await status_of(service, NEVER_REPLIES, at(elapsed(sim)))).opted_out
    say(result.conversation_sid, "why do I still get these?")  # any other text does not opt back in
    assert (await status_of(service, NEVER_REPLIES, at(elapsed(sim)))).opted_out
    say(result.conversation_sid, "START")
    status = await status_of(service, NEVER_REPLIES, at(elapsed(sim)))
    assert not status.opted_out and status.window_open(at(elapsed(sim)))


async def test_our_message_refused_with_21610_means_opted_out(sim: Simulator, service: OutboundService) -> None:
    await send(service, OPTED_OUT_NUMBER, channel="sms", sender=SMS_SENDER)
    status, sent = await counted(sim, service, OPTED_OUT_NUMBER, at(0), channel="sms", sender=SMS_SENDER)
    assert not status.opted_out and len(sent) == 2  # not failed yet: no receipt to read
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)

    status, sent = await counted(sim, service, OPTED_OUT_NUMBER, at(elapsed(sim)), channel="sms", sender=SMS_SENDER)
    assert status.opted_out and status.last_inbound is None
    assert sent == ["GET /v1/ParticipantConversations", "GET /v1/Conversations/CH/Messages",
                    "GET /v1/Conversations/CH/Messages/IM/Receipts"]


async def test_our_message_failing_for_another_reason_is_no_opt_out(sim: Simulator, service: OutboundService) -> None:
    await send(service, INVALID_NUMBER, channel="sms", sender=SMS_SENDER)
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)
    status, sent = await counted(sim, service, INVALID_NUMBER, at(elapsed(sim)), channel="sms", sender=SMS_SENDER)
    assert not status.opted_out
    assert len(sent) == 3  # the failure's receipt was read: 21211, not 21610


async def test_start_after_our_refused_message_opts_back_in(sim: Simulator, service: OutboundService) -> None:
    result = await send(service, OPTED_OUT_NUMBER, channel="sms", sender=SMS_SENDER)
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)
    sim.world.customers.say(result.conversation_sid, "Start")
    status, sent = await counted(sim, service, OPTED_OUT_NUMBER, at(elapsed(sim)), channel="sms", sender=SMS_SENDER)
    assert not status.opted_out
    assert len(sent) == 2  # opted back in since: the failed message's receipts are not read


# == through the session ===========================================================================


async def test_session_customer_status_adds_the_whatsapp_prefixes_and_uses_the_watchers_clock(
    sim: Simulator, service: OutboundService, tmp_path: Path
) -> None:
    result = await send(service, NEVER_REPLIES)
    sim.world.clock.advance(60)
    sim.world.customers.say(result.conversation_sid, "hi")
    wrote = elapsed(sim)
    sim.world.clock.advance(HOUR)
    async with open_session(settings_for(sim, tmp_path), watcher=sim_watcher(sim)) as session:
        since = len(sim.world.log)
        status = await session.customer_status("whatsapp", NEVER_REPLIES, WA_SENDER)
        [listed] = [e for e in twilio_requests(sim, since) if e.path == "/v1/ParticipantConversations"]
        sms = await session.customer_status("sms", NEVER_REPLIES, SMS_SENDER)
    assert listed.param("Address") == f"whatsapp:{NEVER_REPLIES}"
    assert (status.last_inbound, status.checked_at) == (at(wrote), at(wrote + HOUR))
    assert status.window_sentence(status.checked_at) == "window open — closes in 23 h"
    assert sms.last_inbound is None
