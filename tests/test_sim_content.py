"""The simulator's Content API: the seeded templates, their WhatsApp approvals, paging and rendering.

Every exchange is also checked against Twilio's OpenAPI spec by the `sim` fixture."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sim import seed
from sim.server import Simulator

REMINDER, ORDER, FOLLOW_UP, SEGUIMIENTO, PROMO = seed.TEMPLATES


async def test_content_list_returns_every_seeded_template(sim: Simulator, client: Client) -> None:
    contents = await client.content.v1.contents.list_async()
    assert [c.sid for c in contents] == [t.sid for t in seed.TEMPLATES]
    order = next(c for c in contents if c.sid == ORDER.sid)
    assert order.friendly_name == "order_update"
    assert order.language == "en"
    assert order.variables == {"first_name": "there", "order_id": "0000"}
    assert order.types == {"twilio/text": {"body": ORDER.body}}
    assert order.url == f"https://content.twilio.com/v1/Content/{ORDER.sid}"
    assert order.links == {
        "approval_create": f"https://content.twilio.com/v1/Content/{ORDER.sid}/ApprovalRequests/whatsapp",
        "approval_fetch": f"https://content.twilio.com/v1/Content/{ORDER.sid}/ApprovalRequests",
    }
    assert order.account_sid == seed.ACCOUNT_SID


async def test_content_list_pages_with_absolute_urls(sim: Simulator, client: Client) -> None:
    first = await client.content.v1.contents.page_async(page_size=2)
    assert [c.sid for c in first] == [REMINDER.sid, ORDER.sid]
    next_url = first._payload["meta"]["next_page_url"]
    assert next_url.startswith("https://content.twilio.com/v1/Content?")
    assert parse_qs(urlsplit(next_url).query)["PageSize"] == ["2"]
    every = await client.content.v1.contents.list_async(page_size=2)
    assert [c.sid for c in every] == [t.sid for t in seed.TEMPLATES]
    assert len(sim.world.log.matching("GET", "/v1/Content")) == 1 + 3  # one page, then all three pages


async def test_content_pages_may_hold_up_to_1000(sim: Simulator, client: Client) -> None:
    page = await client.content.v1.contents.page_async(page_size=1000)
    assert len(list(page)) == len(seed.TEMPLATES)
    assert page._payload["meta"]["page_size"] == 1000


async def test_content_fetch_and_unknown_sid(sim: Simulator, client: Client) -> None:
    content = await client.content.v1.contents(SEGUIMIENTO.sid).fetch_async()
    assert (content.friendly_name, content.language) == ("seguimiento", "es")
    missing = seed.fixed_sid("HX", 99)
    with pytest.raises(TwilioRestException) as raised:
        await client.content.v1.contents(missing).fetch_async()
    assert (raised.value.status, raised.value.code) == (404, 20404)


async def test_content_and_approvals_carry_each_whatsapp_status(sim: Simulator, client: Client) -> None:
    contents = await client.content.v1.content_and_approvals.list_async()
    statuses = {c.sid: c.approval_requests["status"] for c in contents}
    assert statuses == {t.sid: t.approval for t in seed.TEMPLATES}
    promo = next(c for c in contents if c.sid == PROMO.sid)
    assert promo.approval_requests["name"] == "promo_winter"
    assert promo.approval_requests["content_type"] == "twilio/text"
    assert promo.approval_requests["rejection_reason"]  # a rejected template says why
    reminder = next(c for c in contents if c.sid == REMINDER.sid)
    assert reminder.approval_requests["rejection_reason"] == ""
    assert reminder.types == {"twilio/text": {"body": REMINDER.body}}


async def test_approval_requests_of_one_template(sim: Simulator, client: Client) -> None:
    approval = await client.content.v1.contents(SEGUIMIENTO.sid).approval_fetch().fetch_async()
    assert approval.sid == SEGUIMIENTO.sid
    assert approval.whatsapp["type"] == "whatsapp"
    assert approval.whatsapp["status"] == "pending"
    assert approval.url == f"https://content.twilio.com/v1/Content/{SEGUIMIENTO.sid}/ApprovalRequests"
    with pytest.raises(TwilioRestException) as raised:
        await client.content.v1.contents(seed.fixed_sid("HX", 99)).approval_fetch().fetch_async()
    assert raised.value.code == 20404


def test_template_body_fills_variables_and_falls_back_to_defaults(sim: Simulator) -> None:
    content = sim.world.content
    assert content.get(REMINDER.sid).body({"1": "Ana", "2": "Tuesday"}) == (
        "Hi Ana, this is a reminder of your appointment on Tuesday. Reply YES to confirm."
    )
    assert content.get(REMINDER.sid).body({"1": "Ana"}).endswith("appointment on Monday. Reply YES to confirm.")
    assert content.get(ORDER.sid).body({}) == "Hello there, your order 0000 has shipped."
    assert content.get(FOLLOW_UP.sid).body({"1": "ignored"}) == FOLLOW_UP.body
    assert content.get(seed.fixed_sid("HX", 99)) is None
