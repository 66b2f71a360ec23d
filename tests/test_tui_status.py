"""Live status on screen, keys only: the current send's timeline, a task offered to me accepted or
rejected, my outbound list (F4) and the list after a restart — against a simulator over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from sim.server import Simulator
from sim.world import SimConfig
from tests.live import advance_until
from tests.outbound_fixtures import SMS_SENDER, project_settings
from tests.tui_fixtures import (SimBackend, backend, settle, shown_in, sim_of, text_of,  # noqa: F401 (fixture)
                               type_draft, type_keys, until_shown)
from tui.screens.sends import SendsScreen
from tui.widgets.agent_bar import AgentBar
from tui.widgets.timeline import Timeline

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

SIZE = (80, 24)


async def send(pilot: Pilot, number: str, body: str, key: str) -> None:
    await type_draft(pilot, number, body)
    await pilot.press(key)
    await settle(pilot)


async def test_the_timeline_shows_a_send_live_and_f8_accepts_the_task_offered_to_me(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "No send yet" in shown_in(app.query_one("#current", Timeline))
        await send(pilot, "4155550100", "Hello Jane", "ctrl+r")
        await until_shown(pilot, backend, "Task offered to you")
        shown = shown_in(app.query_one("#current", Timeline))
        assert shown.startswith("+1 415-555-0100 · SMS · reply to me")
        for line in ("Conversation created", "Message queued", "Delivered to the customer's phone",
                     "Customer replied: Hi, this is Jane Doe", "Offered to you: f8 accept, f9 reject"):
            assert line in shown, line
        assert shown.index("Delivered") < shown.index("Customer replied") < shown.index("Task offered to you")
        assert any("offered to you" in n.message for n in app._notifications)
        assert app.check_action("answer_offer", (True,))

        await pilot.press("f8")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by you")
        assert shown_in(app.query_one("#current", Timeline)).endswith("task with you")
        assert app.session is not None and app.session.offers == {}
        assert not app.check_action("answer_offer", (True,))  # the keys leave the footer


async def test_f9_rejects_and_the_task_goes_to_a_colleague(tmp_path: Path) -> None:
    config = SimConfig(manual_clock=True, random_seed=1234, clock_start=1_780_000_000.0, customer_reply_delay=2.0,
                       delivery_delay=0.5, colleague_accept_delay=3.0, humans=frozenset({"alice@example.com"}))
    backend = SimBackend(project_settings(tmp_path), config)
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "4155550102", "Hello Mei", "ctrl+t")
        await until_shown(pilot, backend, "Task offered to you")
        await pilot.press("f9")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by Bob Martinez")
        assert "task with Bob Martinez" in shown_in(app.query_one("#current", Timeline))


async def test_a_failed_send_says_why_in_the_timeline(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "5005550004", "Hello", "ctrl+r")  # Twilio's magic number: opted out (21610)
        await until_shown(pilot, backend, "Failed:")
        shown = shown_in(app.query_one("#current", Timeline))
        assert "opted out" in shown and shown.endswith("failed (21610)")
        await pilot.pause()
        assert any(n.title == "Not delivered to +1 500-555-0004" and "opted out" in n.message and n.severity == "error"
                   for n in app._notifications)


async def test_f4_lists_every_send_and_shows_the_highlighted_ones_timeline(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "4155550100", "First", "ctrl+o")
        await send(pilot, "4155550102", "Second", "ctrl+t")
        await pilot.press("f4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SendsScreen)
        listing = screen.query_one(OptionList)
        rows = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        assert len(rows) == 2
        assert "+1 415-555-0102  SMS to any" in rows[0]  # newest first
        assert "+1 415-555-0100  SMS chat" in rows[1]
        assert "+1 415-555-0102" in shown_in(screen.query_one(Timeline))

        await pilot.press("down")
        await pilot.pause()
        assert "+1 415-555-0100 · SMS · chat opened" in shown_in(screen.query_one(Timeline))
        await until_shown(pilot, backend, "Task accepted by you", "#sends-timeline")  # it lives on this screen too
        assert "task with you" in str(listing.get_option_at_index(1).prompt)  # my own chat, accepted for me

        await pilot.press("enter")  # back, showing the chosen send under the panel
        await pilot.pause()
        assert not isinstance(app.screen, SendsScreen)
        assert shown_in(app.query_one("#current", Timeline)).startswith("+1 415-555-0100 · SMS · chat opened")


async def test_the_list_survives_a_restart_and_following_resumes(sim: Simulator, tmp_path: Path) -> None:
    backend = SimBackend(project_settings(tmp_path), simulator=sim)
    async with backend.app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "4155550100", "Before the restart", "ctrl+t")
        await until_shown(pilot, backend, "Delivered")

    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = shown_in(app.query_one("#current", Timeline))
        assert shown.startswith("+1 415-555-0100 · SMS · reply to any agent") and "Delivered" in shown
        await until_shown(pilot, backend, "Customer replied")  # followed again after the restart
        assert shown_in(app.query_one("#current", Timeline)).count("Delivered") == 1
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.query_one(OptionList).option_count == 1


HOSTILE = [
    "[bold red]not bold[/]",
    "\x1b[31mred\x1b[0m and \x1b]8;;https://evil.example\x07a link\x1b]8;;\x07 and \x1b]0;new title\x07",
    "emoji 👋🏽 👨‍👩‍👧 🇺🇦 done",
    "مرحبا بالعالم \u202eevil\u202c שלום",
    "bell\x07 cr\r backspace\x08 nul\x00 del\x7f",
]


async def test_hostile_replies_are_shown_as_written_without_styling_or_escapes(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel_before = app.query_one("#panel").region
        await send(pilot, "5005550014", "Hello", "ctrl+t")  # a customer who never replies on their own
        await until_shown(pilot, backend, "Delivered")
        conversation = [c.sid for c in sim_of(backend).world.conversations.conversations.values()
                        if c.state == "active"][-1]  # the newest active one: the seeded past is closed
        for body in HOSTILE:
            sim_of(backend).world.customers.say(conversation, body)
        long = sim_of(backend).world.customers.say(conversation, "placeholder")
        long.body = "x" * 10_000  # over Twilio's 1,600: put in place behind the simulator's back
        await until_shown(pilot, backend, "(10,000 characters)")

        timeline = app.query_one("#current", Timeline)
        static = timeline.query_one(Static)
        strips = static.render_lines(static.region.reset_offset)
        text = "\n".join(strip.text for strip in strips)
        assert "[bold red]not bold[/]" in text  # markup shown, not applied
        assert "\\x1b[31mred\\x1b[0m" in text and "\\x1b]0;new title\\x07" in text  # escapes made visible
        assert "\\u202eevil\\u202c" in text and "مرحبا" in text and "👋🏽" in text
        assert "\\x07 cr\\x0d backspace\\x08 nul\\x00 del\\x7f" in text
        segments = [segment for strip in strips for segment in strip]
        assert not any(c in segment.text for segment in segments for c in "\x1b\x07\x00\r\u202e")
        replies = {segment.style for segment in segments if "Customer replied" in segment.text}
        assert len(replies) == 1  # every reply line in one and the same style: the markup styled nothing
        squashed = "".join(line.strip() for line in text.split("\n"))  # the wrapped lines joined again
        assert re.search(r"[^x]x{1600}… \(10,000 ?characters\)", squashed)  # all Twilio could send, the length said
        assert app.query_one("#panel").region == panel_before  # the layout held
        assert timeline.region.right == SIZE[0] and timeline.region.bottom == SIZE[1] - 1


@pytest.mark.parametrize("focus", ["#destination", "#body", "#mode", "#current"])
async def test_the_accept_key_works_from_every_field_and_can_be_remapped(tmp_path: Path, focus: str) -> None:
    # an open chat I start is accepted for me by default: here it waits for the (remapped) key
    backend = SimBackend(project_settings(tmp_path, ui={"keys": {"accept_task": "ctrl+g"}, "auto_accept_own_chats": False}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "4155550100", "Hello Jane", "ctrl+o")
        await until_shown(pilot, backend, "Offered to you: ^g accept, f9 reject")
        app.query_one(focus).focus()
        await pilot.press("ctrl+g")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by you")


async def test_a_taskrouter_outage_shows_the_activity_as_last_read_not_as_current(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.query_one("#agent-bar", Static)
        assert str(bar.render()).endswith("● Available")
        read_at = app.agent_read_at.astimezone().strftime("%H:%M")  # type: ignore[attr-defined]
        sim_of(backend).fault(r"/v1/Workspaces/WS[0-9a-f]+/Workers(/WK[0-9a-f]+)?", method="GET", status=503,
                              times=None)
        app._refresh_agent()  # type: ignore[attr-defined]  # as the 15 s tick does
        await settle(pilot)
        assert str(bar.render()).endswith(f"● Available? (as of {read_at})")
        assert any(n.message.startswith("Your activity could not be read") for n in app._notifications)
        sim_of(backend).world.faults.clear()
        app._refresh_agent()  # type: ignore[attr-defined]
        await settle(pilot)
        assert str(bar.render()).endswith("● Available")


async def test_f8_pressed_three_times_with_two_offers_accepts_only_the_one_shown(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        session = app.session
        assert session is not None
        for number in ("+14155550102", "+14155550100"):  # sent as ctrl+r does; both customers answer
            await session.send({"destination": number, "callerId": SMS_SENDER, "body": "Hello", "routeToMe": True})
        await advance_until(sim_of(backend), lambda: len(session.offers) == 2, then=pilot.pause)
        sim_of(backend).world.config.latency = 0.3
        await type_keys(pilot, "f8", "f8", "f8")
        await settle(pilot)
        accepted = [e for e in sim_of(backend).world.log.matching("POST", r".*/Reservations/WR[0-9a-f]+")
                    if e.param("ReservationStatus") == "accepted"]
        assert len(accepted) == 1
        assert len(session.offers) == 1  # the other is still offered: nobody looked at it


async def test_twilio_asking_to_slow_down_is_said_not_silence(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim_of(backend).fault(r"/v1/Conversations/CH[0-9a-f]{32}/Messages", method="GET", status=429, code=20429,
                              retry_after=30, times=1)
        await send(pilot, "4155550100", "Hello Jane", "ctrl+r")
        await advance_until(sim_of(backend), lambda: "status delayed" in text_of(app, "#agent-bar"),
                            then=pilot.pause)
        assert text_of(app, "#agent-bar").endswith("● Available  status delayed")
        app.query_one(AgentBar).set_delayed(False)  # the pause is over (the app's timer, in real seconds)
        assert "delayed" not in text_of(app, "#agent-bar")
