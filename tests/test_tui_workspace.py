"""F6, my chats, keys only, against the app's simulator: the list read from TaskRouter, a chat's transcript, a
reply and the customer's answer, ending and completing, accepting a chat a customer started, older messages, and
a failed reply that keeps its draft."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList, Select, Static, TextArea

from sim import seed
from tests.outbound_fixtures import project_settings
from tests.live import advance_until, asleep
from tests.tui_fixtures import SimBackend, backend, settle, sim_of, type_text, until  # noqa: F401 (fixture)
from tui.screens.workspace import WorkspaceScreen

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

SIZE = (80, 24)
JANE = seed.CUSTOMERS[0]
MESSAGES = r"/v1/Conversations/CH[0-9a-f]+/Messages$"


def transcript(pilot: Pilot) -> str:
    return " ".join(str(pilot.app.screen.query_one("#transcript-text", Static).render()).split())


def status(pilot: Pilot) -> str:
    return str(pilot.app.screen.query_one("#chat-status", Static).render())


def rows(pilot: Pilot) -> list[str]:
    listing = pilot.app.screen.query_one("#chats", OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def chat_with_jane(pilot: Pilot, backend: SimBackend) -> None:
    """An open chat to Jane, accepted, then F6 and Enter: the chat is open, the reply box focused."""
    await open_chat(pilot, {"destination": JANE.address, "callerId": seed.SMS_SENDERS[0], "body": "Hello Jane"},
                    "You: Hello Jane")


async def open_chat(pilot: Pilot, draft: dict[str, object], first: str) -> None:
    """An open chat with this draft, accepted, then F6 and Enter: the chat is open when `first` is shown."""
    await settle(pilot)
    session = pilot.app.session  # type: ignore[attr-defined]
    # sent and accepted as the panel's ctrl+o and F8 do (tests/test_tui_panel.py, tests/test_tui_status.py)
    sent = await session.send({**draft, "openChat": True})
    holder = await session.gateway.task_holder(sent.task_sid)
    await session.gateway.answer_reservation(sent.task_sid, holder.reservation_sid, accept=True)
    await pilot.press("f6")
    await until(pilot, lambda: bool(rows(pilot)) and "talking" in rows(pilot)[0])
    await pilot.press("enter")
    await until(pilot, lambda: first in transcript(pilot))


async def until_in_transcript(pilot: Pilot, backend: SimBackend, text: str) -> None:
    try:  # settled: the transcript is read again when the watcher sees the customer write
        await advance_until(sim_of(backend), lambda: text in transcript(pilot), then=lambda: settle(pilot))
    except AssertionError:
        raise AssertionError(f"not in the transcript: {text!r}\n{transcript(pilot)}") from None


async def test_f6_lists_my_chats_from_taskrouter_and_enter_opens_one(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        assert isinstance(app.screen, WorkspaceScreen)
        assert rows(pilot)[0].startswith("+1 415-555-0100") and "SMS" in rows(pilot)[0]
        assert app.focused is app.screen.query_one("#body", TextArea)
        assert "f7 ends the chat" in status(pilot)
        await pilot.press("f6")  # f6 again: back to the panel
        assert not isinstance(app.screen, WorkspaceScreen)


async def test_a_reply_goes_as_me_and_the_customers_answer_appears(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        await until_in_transcript(pilot, backend, "Yes, I can talk now.")
        await type_text(pilot, "Your parcel arrives Tuesday")
        await pilot.press("ctrl+s")
        await settle(pilot)
        conversation = app.screen.open.conversation_sid  # type: ignore[attr-defined]
        ours = [m for m in sim_of(backend).world.conversations.conversation(conversation).messages
                if m.body == "Your parcel arrives Tuesday"]
        assert [m.author for m in ours] == [app.session.agent.identity]  # type: ignore[union-attr]
        assert app.screen.query_one("#body", TextArea).text == ""
        await until_in_transcript(pilot, backend, "could you tell me a bit more?")
        assert transcript(pilot).index("You: Your parcel arrives Tuesday") < transcript(pilot).index("tell me a bit")


async def test_f7_ends_the_chat_and_f7_in_wrap_up_completes_the_task(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        task = app.screen.open.task_sid  # type: ignore[attr-defined]
        await pilot.press("f7")  # with the reply box focused: the chat's key, not the box's "select all"
        await until(pilot, lambda: "wrap-up" in rows(pilot)[0])
        assert sim_of(backend).world.taskrouter.tasks[task].assignment_status == "wrapping"
        assert "f7 completes the task" in status(pilot)
        await pilot.press("f7")
        await until(pilot, lambda: rows(pilot) == [])
        assert sim_of(backend).world.taskrouter.tasks[task].assignment_status == "completed"
        assert status(pilot) == "Task completed: you are free for the next chat."  # and a new chat may go:
        # tests/test_chats.py::test_end_puts_the_task_in_wrap_up_complete_frees_it_and_a_new_chat_goes


async def test_a_chat_a_customer_started_is_offered_and_f8_accepts_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim_of(backend).world.customers.write_in(JANE.address, seed.SMS_SENDERS[0], "Where is my order?")
        await pilot.press("f6")
        await until(pilot, lambda: bool(rows(pilot)) and "offered to you" in rows(pilot)[0])
        await pilot.press("enter")
        await until(pilot, lambda: "Where is my order?" in transcript(pilot))
        assert status(pilot) == "Offered to you: f8 accepts."
        await pilot.press("f8")
        await until(pilot, lambda: "talking" in rows(pilot)[0])
        assert app.focused is app.screen.query_one("#body", TextArea)  # accepted: straight to the reply
        await type_text(pilot, "On its way")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "You: On its way" in transcript(pilot))


async def test_f10_loads_older_messages_on_demand(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        conversation = app.screen.open.conversation_sid  # type: ignore[attr-defined]
        for n in range(60):
            sim_of(backend).world.customers.say(conversation, f"line {n:02}")
        await pilot.press("f5")
        await until(pilot, lambda: "line 59" in transcript(pilot))
        assert "You: Hello Jane" not in transcript(pilot)  # the newest 50 only
        await pilot.press("f10")
        await until(pilot, lambda: "You: Hello Jane" in transcript(pilot))
        assert transcript(pilot).index("You: Hello Jane") < transcript(pilot).index("line 00")


async def test_a_failed_reply_keeps_the_draft_and_says_nothing_reached_the_customer(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        sim_of(backend).fault(MESSAGES, method="POST", status=500)
        await type_text(pilot, "Keep me")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert status(pilot).endswith("Nothing reached the customer.")
        assert app.screen.query_one("#body", TextArea).text == "Keep me"


async def test_a_message_in_a_chat_not_open_is_unread_and_notified_and_appears_live_once_open(
        backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        started = sim_of(backend).world.customers.write_in(JANE.address, seed.SMS_SENDERS[0], "Where is my order?")
        await pilot.press("f6")
        await until(pilot, lambda: bool(rows(pilot)))
        clock = sim_of(backend).world.clock
        clock.advance(0.5)  # the watcher's first look at the chat: what is there now is its past
        await asleep(clock, 1)
        sim_of(backend).world.customers.say(started.conversation_sid, "Hello? Anyone?")
        await advance_until(sim_of(backend), lambda: "1 unread" in rows(pilot)[0], then=pilot.pause)
        assert any("Hello? Anyone?" in n.message for n in app._notifications)

        await pilot.press("enter")
        await until(pilot, lambda: "Hello? Anyone?" in transcript(pilot) and "unread" not in rows(pilot)[0])
        sim_of(backend).world.customers.say(started.conversation_sid, "Still there?")
        await until_in_transcript(pilot, backend, "Still there?")  # the open chat, live


async def test_f9_hands_the_chat_over_and_it_leaves_me_when_the_colleague_accepts(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        chat = app.screen.open  # type: ignore[attr-defined]
        await pilot.press("f9")
        for _ in range(200):  # not until(): the hand-over worker waits for this very choice
            if app.screen.id == "hand-over":
                break
            await pilot.pause()
        listing = app.screen.query_one("#colleagues", OptionList)
        assert str(listing.get_option_at_index(0).prompt) == "Bob Martinez"
        await pilot.press("enter")
        await until(pilot, lambda: status(pilot).startswith("Offered to Bob Martinez"))
        assert [r.split()[0] for r in rows(pilot)] == ["+1"]  # still mine meanwhile

        world = sim_of(backend).world
        [invited] = [t for t in world.taskrouter.tasks_for_conversation(chat.conversation_sid)
                     if t.sid != chat.task_sid]
        holder = await app.session.gateway.task_holder(invited.sid)  # type: ignore[union-attr]
        await app.session.gateway.answer_reservation(invited.sid, holder.reservation_sid, accept=True)  # Bob
        await advance_until(sim_of(backend), lambda: rows(pilot) == [], then=lambda: settle(pilot))
        assert status(pilot) == "Handed over: Bob Martinez has the chat with +1 415-555-0100."
        assert world.taskrouter.tasks[chat.task_sid].assignment_status == "completed"
        assert world.taskrouter.tasks[invited.sid].assignment_status == "assigned"


async def test_a_chat_whose_conversation_was_closed_is_read_only_and_f7_completes_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        chat = app.screen.open  # type: ignore[attr-defined]
        sim_of(backend).world.conversations.close(chat.conversation_sid)  # the customer or a supervisor
        await pilot.press("f5")
        await until(pilot, lambda: status(pilot).startswith("The conversation was closed"))
        assert app.screen.query_one("#body", TextArea).disabled
        await pilot.press("f7")
        await until(pilot, lambda: rows(pilot) == [])
        assert sim_of(backend).world.taskrouter.tasks[chat.task_sid].assignment_status == "completed"


async def test_a_chat_taken_away_says_where_it_went(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        chat = app.screen.open  # type: ignore[attr-defined]
        taskrouter = sim_of(backend).world.taskrouter
        taskrouter.update_task(taskrouter.tasks[chat.task_sid], assignment_status="completed",
                               reason="closed by a supervisor")
        await pilot.press("f5")
        await until(pilot, lambda: rows(pilot) == [])
        assert status(pilot) == ("The chat with +14155550100 is no longer yours: its task is completed "
                                 "(closed by a supervisor).")


async def test_a_reply_to_a_customer_who_opted_out_is_refused_without_a_request(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        sim_of(backend).world.customers.say(app.screen.open.conversation_sid, "STOP")  # type: ignore[attr-defined]
        await pilot.press("f5")
        await until(pilot, lambda: "STOP" in transcript(pilot))
        await type_text(pilot, "Are you sure?")
        posts = len(sim_of(backend).world.log.matching("POST", MESSAGES))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert status(pilot).endswith("they replied STOP): Twilio would not deliver it (error 21610).")
        assert len(sim_of(backend).world.log.matching("POST", MESSAGES)) == posts
        assert app.screen.query_one("#body", TextArea).text == "Are you sure?"
        assert "13/1600 characters · GSM-7 · 1 SMS segment" in str(app.screen.query_one("#counter", Static).render())


async def test_help_in_my_chats_lists_their_keys_first(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, WorkspaceScreen))
        await pilot.press("f1")
        await until(pilot, lambda: app.screen.id == "help")
        shown = [binding_id for _, _, binding_id in app.screen.keys]  # type: ignore[attr-defined]
        assert shown[:7] == ["close_workspace", "reply", "end_chat", "accept_chat", "refresh_chats", "hand_over",
                             "older_messages"]
        assert "send" in shown and "workspace" in shown  # the app's keys follow


async def test_the_hint_names_remapped_keys(tmp_path: Path) -> None:
    backend = SimBackend(project_settings(tmp_path, ui={"keys": {"end_chat": "f12"}}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        assert "f12 ends the chat" in status(pilot)
        await pilot.press("f12")
        await until(pilot, lambda: "wrap-up" in rows(pilot)[0])
        assert status(pilot) == "Wrap-up: f12 completes the task."


async def test_a_reply_pressed_three_times_goes_once(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        sim_of(backend).world.config.latency = 0.3  # each press lands while the reply is on its way
        await type_text(pilot, "Only once")
        await pilot.press("ctrl+s", "ctrl+s", "ctrl+s")
        await settle(pilot)
        conversation = sim_of(backend).world.conversations.conversation(app.screen.open.conversation_sid)  # type: ignore[attr-defined]
        assert [m.body for m in conversation.messages].count("Only once") == 1


async def test_a_closed_whatsapp_window_offers_approved_templates_instead_of_free_text(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        omar = seed.CUSTOMERS[1]  # last wrote on WhatsApp days ago: the window is closed
        await open_chat(pilot, {"destination": omar.address, "callerId": seed.WHATSAPP_SENDERS[0],
                                "channel": "whatsapp", "contentTemplateSid": seed.TEMPLATES[0].sid,
                                "contentVariables": {"1": "Omar", "2": "Monday"}}, "You:")
        await until(pilot, lambda: app.screen.query_one("#reply-template-row").display)
        assert not app.screen.query_one("#body-box").display
        assert app.focused is app.screen.query_one("#reply-template", Select)
        assert status(pilot) == "The WhatsApp window is closed: choose an approved template; ^s sends it · " \
                                "f7 ends the chat"
        posts = len(sim_of(backend).world.log.matching("POST", MESSAGES))
        await pilot.press("ctrl+s")  # nothing chosen: refused without a request
        await until(pilot, lambda: "window is closed" in status(pilot) and "choose an approved" in status(pilot))
        assert len(sim_of(backend).world.log.matching("POST", MESSAGES)) == posts

        await pilot.press("enter")
        options = [str(o.prompt) for o in app.screen.query_one("#reply-template").query_one("SelectOverlay").options]  # type: ignore[attr-defined]
        assert options[1:] == ["appointment_reminder (en)", "follow_up (en)", "order_update (en)"]  # approved only
        await pilot.press("down", "down", "down", "enter")  # order_update: {{first_name}}, {{order_id}}
        await pilot.press("tab", "ctrl+u")
        await type_text(pilot, "Omar")
        await pilot.press("tab", "ctrl+u")
        await pilot.press("ctrl+s")  # {{order_id}} empty: refused, nothing sent
        await until(pilot, lambda: status(pilot) == "Fill in {{order_id}}.")
        assert len(sim_of(backend).world.log.matching("POST", MESSAGES)) == posts
        await type_text(pilot, "A-1042")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "You: Hello Omar, your order A-1042 has shipped." in transcript(pilot))
        conversation = sim_of(backend).world.conversations.conversations[app.screen.open.conversation_sid]  # type: ignore[attr-defined]
        assert [m.content_sid for m in conversation.messages][-1] == seed.TEMPLATES[1].sid
        posts = len(sim_of(backend).world.log.matching("POST", MESSAGES))
        await pilot.press("ctrl+s")  # pressed again: the template went, nothing is chosen now
        await until(pilot, lambda: "choose an approved" in status(pilot))
        assert len(sim_of(backend).world.log.matching("POST", MESSAGES)) == posts


async def test_a_reply_a_crash_kept_from_going_is_back_in_the_reply_box(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        session = app.session  # type: ignore[attr-defined]
        session.drafts[app.screen.open.conversation_sid] = "Sorry, where were we?"  # type: ignore[attr-defined]
        await pilot.press("f5")  # as recovery at start leaves it (tests/test_crash_recovery.py), the chat read again
        await until(pilot, lambda: app.screen.query_one("#body", TextArea).text == "Sorry, where were we?")
        assert session.drafts == {}  # given back once


async def test_a_reply_of_unknown_outcome_is_looked_for_again_while_the_chat_is_open(
        backend: SimBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.screens.workspace.REPLY_LOOKUP_EVERY", 0.05)
    app = backend.app()

    async def shown(done: Callable[[], bool]) -> None:  # not until(): the look-up worker runs on meanwhile
        for _ in range(250):
            await pilot.pause(0.02)
            if done():
                return
        raise AssertionError(f"not shown; the status says: {status(pilot)}")

    async with app.run_test(size=SIZE) as pilot:
        await chat_with_jane(pilot, backend)
        sim = sim_of(backend)
        sim.fault(MESSAGES, method="POST", kind="drop")  # it lands; the answer is lost
        sim.fault(MESSAGES, method="GET", status=503, times=None)  # and it cannot be looked up for now
        await type_text(pilot, "Did this go?")
        await pilot.press("ctrl+s")
        await shown(lambda: status(pilot).startswith("The reply may have reached the customer"))
        sim.world.faults.clear()  # Twilio answers again: the next look-up finds it
        await shown(lambda: status(pilot) == "Your reply to +1 415-555-0100 had reached the conversation.")
        await shown(lambda: "You: Did this go?" in transcript(pilot))
        assert app.screen.query_one("#body", TextArea).text == ""  # it went: the draft goes too
        assert app.session.journal.unfinished_replies() == []  # type: ignore[attr-defined]
