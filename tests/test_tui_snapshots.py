"""SVG snapshots of the panel's states at 80×24 (one at 120×40): reviewed as pictures before committing.

Stable by construction: cursor blink off (settings.toml default), no clock on screen, the app's own
simulator on a manual clock with fixed SIDs, no animation. The timeline's times come from that clock and
are shown in UTC here; a snapshot is taken only once the timeline shows a known last line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from textual.pilot import Pilot

from sim import seed
from tests.live import advance_until
from tests.outbound_fixtures import project_settings
from tests.test_tui_workspace import chat_with_jane, rows, status, until_in_transcript
from tests.tui_fixtures import SimBackend, settle, sim_of, type_draft, type_text, until, until_shown
from tui.app import OutboundPanelApp

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

Steps = Callable[[Pilot], Awaitable[None]]


@pytest.fixture(autouse=True)
def _no_animation_and_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def _app(tmp_path: Path, **groups: dict[str, Any]) -> tuple[OutboundPanelApp, SimBackend]:
    backend = SimBackend(project_settings(tmp_path, **groups))
    return backend.app(), backend


def _typing(number: str, body: str = "") -> Steps:
    async def steps(pilot: Pilot) -> None:
        await settle(pilot)
        await type_text(pilot, number)
        if body:
            await pilot.press("tab", "tab")
            await type_text(pilot, body)

    return steps


def test_initial_panel(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    assert snap_compare(app, run_before=settle)


def test_invalid_number(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    assert snap_compare(app, run_before=_typing("+1415555", "Hello"))


def test_sms_body_with_segment_count(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    body = "Your appointment is confirmed for Monday at 10:00. Reply YES to keep it or NO to cancel. " * 2
    assert snap_compare(app, run_before=_typing("4155550100", body.strip()))


def test_whatsapp_chosen(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("shift+tab", "shift+tab", "right", "enter", "tab")
        await type_text(pilot, "4155550100")
        await pilot.press("tab", "tab", "tab")  # past the canned and template choosers
        await type_text(pilot, "Hola!")

    assert snap_compare(app, run_before=steps)


def test_sending(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _typing("4155550100", "On its way")(pilot)
        assert backend.simulator is not None
        # held past the picture, however slow the machine: the simulator ends it when it stops
        backend.simulator.fault(r"/v1/Conversations/[^/]+/Messages", method="POST", kind="timeout", hang=60.0)
        await pilot.press("ctrl+r")
        await pilot.pause()

    assert snap_compare(app, run_before=steps)


def test_sent(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _typing("4155550100", "Hello Jane")(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by you")

    assert snap_compare(app, run_before=steps)


def test_refusal(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path, ui={"keep_draft_after_send": True})

    async def steps(pilot: Pilot) -> None:
        await _typing("4155550100", "Hello Jane")(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by you")
        await type_text(pilot, "!")  # changed: the same draft would not go twice anyway
        await pilot.press("ctrl+o")
        await settle(pilot)

    assert snap_compare(app, run_before=steps)


def test_offline_agent(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path, agent={"identity": "dave@example.com"})
    assert snap_compare(app, run_before=settle)


def test_help(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")

    assert snap_compare(app, run_before=steps)


def test_large_terminal(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    assert snap_compare(app, run_before=_typing("4155550100", "Hello Jane"), terminal_size=(120, 40))


def test_status_of_a_send_reply_routed_to_me(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _typing("4155550100", "Your order is ready")(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await until_shown(pilot, backend, "Task offered to you")
        pilot.app.clear_notifications()
        await pilot.press("f8")
        await settle(pilot)
        await until_shown(pilot, backend, "Task accepted by you")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, run_before=steps)


HOSTILE = [
    "[bold red]not bold[/] [link=https://evil.example]click[/link]",
    "\x1b[31mred\x1b[0m \x1b]0;new title\x07 \x1b[2J",
    "emoji 👋🏽 👨‍👩‍👧 🇺🇦 ok",
    "مرحبا بالعالم \u202eevil\u202c שלום",
    "bell\x07 cr\r nul\x00 end",
]


def test_hostile_replies(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _typing("5005550014", "Hello")(pilot)  # a customer who never replies on their own
        await pilot.press("ctrl+t")
        await settle(pilot)
        await until_shown(pilot, backend, "Delivered")
        world = sim_of(backend).world
        conversation = [c.sid for c in world.conversations.conversations.values() if c.state == "active"][-1]
        long = world.customers.say(conversation, "placeholder")
        long.body = "long " * 2000  # 10,000 characters, past the simulator's 1,600 limit
        for body in HOSTILE:
            world.customers.say(conversation, body)
        await until_shown(pilot, backend, "nul\\x00 end")
        await until_shown(pilot, backend, "Offered to you:")  # the first reply made a task: nothing more comes
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, run_before=steps)


def test_my_outbound_list(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await settle(pilot)
        for number, key in (("4155550100", "ctrl+o"), ("5005550004", "ctrl+r"), ("4155550102", "ctrl+t")):
            await type_draft(pilot, number, "Hello")
            await pilot.press(key)
            await settle(pilot)
        await until_shown(pilot, backend, "Task offered to Bob Martinez")  # Alice has the chat she opened
        pilot.app.clear_notifications()
        await pilot.press("f4")
        await pilot.press("down")
        await until_shown(pilot, backend, "Failed", "#sends-timeline")

    assert snap_compare(app, run_before=steps)


async def _whatsapp_to_omar(pilot: Pilot) -> None:
    """WhatsApp to a customer whose 24-hour window closed 6 hours ago (the seeded history says so)."""
    await settle(pilot)
    await pilot.press("shift+tab", "shift+tab", "right", "enter", "tab")
    await type_text(pilot, "4155550101")
    for _ in range(50):
        await settle(pilot)
        if pilot.app.query_one("#customer").display:
            return
    raise AssertionError("the window was never shown")


def test_closed_whatsapp_window(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    assert snap_compare(app, run_before=_whatsapp_to_omar)


def test_template_chooser(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _whatsapp_to_omar(pilot)
        await pilot.press("tab", "tab", "enter")

    assert snap_compare(app, run_before=steps)


def test_template_variables_with_preview(snap_compare: Any, tmp_path: Path) -> None:
    app, _ = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _whatsapp_to_omar(pilot)
        await pilot.press("tab", "tab", "enter", "down", "down", "down", "enter")
        await pilot.press("tab", "ctrl+u")
        await type_text(pilot, "Omar")
        await pilot.press("tab", "ctrl+u")
        await type_text(pilot, "A-1042")
        await settle(pilot)

    assert snap_compare(app, run_before=steps)


async def _chat_with_jane(pilot: Pilot, backend: SimBackend) -> None:
    """F6 with an accepted open chat to Jane who has answered, opened with Enter."""
    await chat_with_jane(pilot, backend)
    await until_in_transcript(pilot, backend, "Yes, I can talk now.")
    await type_text(pilot, "Your parcel arrives on Tuesday")


def test_a_chat_in_the_workspace(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)
    assert snap_compare(app, run_before=lambda pilot: _chat_with_jane(pilot, backend))


def test_a_chat_in_wrap_up(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _chat_with_jane(pilot, backend)
        await pilot.press("f7")
        await until(pilot, lambda: "wrap-up" in rows(pilot)[0])

    assert snap_compare(app, run_before=steps)


def test_the_workspace_list(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await chat_with_jane(pilot, backend)
        jane = pilot.app.screen.open.conversation_sid  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.app.session.send({"destination": seed.CUSTOMERS[2].address,  # type: ignore[attr-defined]
                                      "callerId": seed.SMS_SENDERS[0], "body": "Hello Mei", "openChat": True})
        await pilot.press("f6")
        await advance_until(sim_of(backend), lambda: len(rows(pilot)) == 2 and "talking" in rows(pilot)[1],
                            then=lambda: settle(pilot))
        sim_of(backend).world.customers.say(jane, "Are you still there?")
        await advance_until(sim_of(backend), lambda: "1 unread" in rows(pilot)[0], then=lambda: settle(pilot))
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, run_before=steps)


def test_a_read_only_chat(snap_compare: Any, tmp_path: Path) -> None:
    app, backend = _app(tmp_path)

    async def steps(pilot: Pilot) -> None:
        await _chat_with_jane(pilot, backend)
        sim_of(backend).world.conversations.close(pilot.app.screen.open.conversation_sid)  # type: ignore[attr-defined]
        await pilot.press("f5")
        await until(pilot, lambda: status(pilot).startswith("The conversation was closed"))

    assert snap_compare(app, run_before=steps)
