"""The panel driven with keys only, against the app's own simulator over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.command import CommandList
from textual.widgets import Button, Input, RadioButton, Select, TextArea

from core.actions import TOGGLE_OUTBOUND_MESSAGE_PANEL
from core.links import message_link
from sim import seed
from tests.outbound_fixtures import project_settings
from tests.tui_fixtures import (SimBackend, backend, burst, paste, settle, sim_of, text_of,  # noqa: F401 (fixture)
                                 type_draft, type_keys, type_text, until)
from tui.screens.help import HelpScreen
from tui.widgets.panel import OutboundPanel

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

JANE = seed.CUSTOMERS[0]
SIZE = (80, 24)


def sent_bodies(backend: SimBackend, number: str) -> list[str]:
    world = sim_of(backend).world
    return [m.body for c in world.conversations.conversations.values()
            if c.customer and c.customer.address == number and c.sid not in seed.HISTORY_SIDS
            for m in c.messages if m.author != number]


async def test_startup_shows_the_agent_and_focuses_the_destination(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Alice Johnson (alice@example.com)" in text_of(app, "#agent-bar")
        assert "Available" in text_of(app, "#agent-bar")
        assert app.focused is app.query_one("#destination", Input)
        assert app.query_one("#send", Button).disabled  # nothing typed yet


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ctrl+o", "chat task opened for you"),
        ("ctrl+r", "the reply will be routed to you"),
        ("ctrl+t", "the reply will be routed to any agent"),
        ("ctrl+s", "the reply will be routed to you"),  # the default mode from settings.toml: wait_me
    ],
)
async def test_each_mode_is_one_key_away(backend: SimBackend, key: str, expected: str) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Hello Jane")
        await pilot.press(key)
        await settle(pilot)
        assert text_of(app, "#status") == f"Sent to +1 415-555-0100: {expected}."
        assert sent_bodies(backend, JANE.address) == ["Hello Jane"]
        assert app.query_one("#destination", Input).value == ""  # the panel resets after a send
        assert app.focused is app.query_one("#destination", Input)  # ready for the next number
        assert app.query_one("#body", TextArea).text == ""


async def test_mode_chooser_and_send_button_send_in_the_chosen_mode(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Via the button")
        await pilot.press("tab")  # the mode chooser
        assert app.focused is app.query_one("#mode", Select)
        await pilot.press("enter", "up", "enter")  # one up from the default (reply to me): open chat
        await pilot.press("tab", "enter")  # the Send button
        await settle(pilot)
        assert text_of(app, "#status") == "Sent to +1 415-555-0100: chat task opened for you."


async def test_invalid_number_blocks_send_with_the_reason_and_no_request(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = len(sim_of(backend).world.log)
        await type_draft(pilot, "+1415555", "Hello")
        assert text_of(app, "#destination-mark") == "✗ invalid: it is too short."
        assert "+1 415555 is not a valid phone number: it is too short." in text_of(app, "#problem")
        assert app.query_one("#send", Button).disabled
        assert "Send unavailable" in text_of(app, "#problem")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "not a valid phone number" in text_of(app, "#status")
        assert len(sim_of(backend).world.log) == before


async def test_letters_never_reach_the_destination(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "+1 415abc555-0100+")
        assert app.query_one("#destination", Input).value == "+14155550100"  # digits and a leading + only
        assert text_of(app, "#destination-mark") == "✓ +1 415-555-0100"


async def test_a_link_opens_the_panel_with_its_draft_and_the_cursor_at_the_end_of_the_message(
        backend: SimBackend) -> None:
    app = backend.app(message_link("whatsapp:+14155550100?body=Hi%20Jane"))  # her WhatsApp window is open
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.query_one("#whatsapp", RadioButton).value
        assert app.query_one("#destination", Input).value == "+14155550100"
        assert app.focused is app.query_one("#body", TextArea)
        await type_text(pilot, ", your order is ready")
        assert app.query_one("#body", TextArea).text == "Hi Jane, your order is ready"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: text_of(app, "#status").startswith("Sent to +1 415-555-0100"))
        sent = [m.body for c in sim_of(backend).world.conversations.conversations.values() for m in c.messages]
        assert sent.count("Hi Jane, your order is ready") == 1


async def test_a_link_without_a_number_waits_for_it_in_to(backend: SimBackend) -> None:
    app = backend.app(message_link("sms:?body=Your%20code%20is%20ready"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.query_one("#sms", RadioButton).value
        assert app.focused is app.query_one("#destination", Input)
        assert app.query_one("#body", TextArea).text == "Your code is ready"


async def test_empty_body_blocks_send(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "4155550100")
        assert text_of(app, "#problem") == "Send unavailable: Write a message before sending."
        before = len(sim_of(backend).world.log)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len(sim_of(backend).world.log) == before


async def test_sms_body_shows_characters_encoding_and_segments(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "x" * 10)
        assert text_of(app, "#counter") == "10/1600 characters · GSM-7 · 1 SMS segment"
        app.post_message(events.Paste("x" * 151))  # what a terminal sends for a paste
        await pilot.pause()
        assert text_of(app, "#counter") == "161/1600 characters · GSM-7 · 2 SMS segments"
        app.post_message(events.Paste("😀"))
        await pilot.pause()
        assert text_of(app, "#counter") == "162/1600 characters · UCS-2 · 3 SMS segments"


async def test_canned_message_fills_the_body_and_stays_editable(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "4155550100")
        await pilot.press("tab", "enter", "down", "enter")  # the canned chooser opens: one key at a time
        body = app.query_one("#body", TextArea)
        assert app.settings.canned.sms[0].startswith("Hi {customer_name}, this is {agent_first_name} from")
        filled = app.settings.canned.sms[0].replace("{agent_first_name}", "Alice")  # known: filled in
        assert body.text == filled
        assert text_of(app, "#problem") == "Send unavailable: Replace {customer_name} in the message before sending."
        before = len(sim_of(backend).world.log)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len(sim_of(backend).world.log) == before  # refused before any request
        # moving keys one at a time: a binding's action runs after the characters typed at the same moment
        await pilot.press("tab", "ctrl+home", *["right"] * 3, *["shift+right"] * len("{customer_name}"))
        await type_text(pilot, "Jane")
        await pilot.press("down", "down", "down", "end")  # to the end of the last visual line
        await type_text(pilot, " Thanks!")
        expected = filled.replace("{customer_name}", "Jane") + " Thanks!"
        assert body.text == expected
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert sent_bodies(backend, JANE.address) == [expected]
        assert body.text == ""  # the reset clears the chooser without writing into the body


async def test_whatsapp_hides_the_sender_with_one_number_and_drops_segments(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.query_one("#sender-row").display  # two SMS senders: the chooser is shown
        await pilot.press("shift+tab", "shift+tab", "right", "enter")  # channel: WhatsApp
        panel = app.query_one(OutboundPanel)
        assert panel.channel.value == "whatsapp"
        assert not app.query_one("#sender-row").display
        await pilot.press("tab")
        await type_text(pilot, "4155550100")
        await pilot.press("tab", "tab", "tab")  # past canned and template
        await type_text(pilot, "Hola")
        assert text_of(app, "#counter") == "4/1600 characters"
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert "Sent to +1 415-555-0100" in text_of(app, "#status")
        assert sent_bodies(backend, "whatsapp:" + JANE.address) == ["Hola"]


async def test_failure_keeps_the_draft_and_says_what_happened(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim_of(backend).fault(r"/v1/Conversations/[^/]+/Messages", method="POST", status=500)
        await type_draft(pilot, "4155550100", "Please keep me")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert text_of(app, "#status").startswith("The message was not sent:")
        assert text_of(app, "#status").endswith("Nothing reached the customer.")
        assert app.query_one("#destination", Input).value == "4155550100"
        assert app.query_one("#body", TextArea).text == "Please keep me"


async def test_existing_conversation_refusal_names_who_holds_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "First")
        await pilot.press("ctrl+o")
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Second")  # focus is back on the destination after a send
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert text_of(app, "#status") == (
            "There is an open outbound conversation with +1 415-555-0100, assigned to you.")
        assert app.query_one("#body", TextArea).text == "Second"


async def test_double_press_sends_once(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim_of(backend).world.config.latency = 0.05
        await type_draft(pilot, "4155550100", "Only once")
        await pilot.press("ctrl+r", "ctrl+r", "ctrl+s")
        await settle(pilot)
        assert sent_bodies(backend, JANE.address) == ["Only once"]


async def test_offline_agent_is_told_and_becomes_available_with_f3(tmp_path: Path) -> None:
    backend = SimBackend(project_settings(tmp_path, agent={"identity": "dave@example.com"}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text_of(app, "#offline") == "You are Offline: sending is off. Press f3 to become Available."
        await type_draft(pilot, "4155550100", "Written while Offline")  # the draft can be written meanwhile
        before = len(sim_of(backend).world.log)
        await pilot.press("ctrl+r")  # a send key while Offline sends nothing and says why
        await settle(pilot)
        assert text_of(app, "#status") == "You are Offline: press f3 to become Available, then send."
        assert len(sim_of(backend).world.log) == before
        await pilot.press("f3")
        await settle(pilot)
        assert not app.query_one("#offline").display
        assert text_of(app, "#status") == "You are Available: send when ready."  # the refusal is not left behind
        assert app.query_one("#body", TextArea).text == "Written while Offline"
        worker = next(w for w in sim_of(backend).world.taskrouter.workers.values()
                      if w.friendly_name == "dave@example.com")
        assert worker.activity.friendly_name == "Available"


async def test_help_opens_with_f1_and_question_mark_and_lists_binding_ids(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = {binding_id for _, _, binding_id in app.screen.keys}
        assert {"send", "send_open_chat", "send_wait_me", "send_wait_any", "toggle_panel", "help"} <= keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("shift+tab", "shift+tab", "question_mark")  # from the channel chooser, not a text field
        assert isinstance(app.screen, HelpScreen)


async def test_toggle_panel_key_and_action_hide_and_show_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.query_one(OutboundPanel)
        await pilot.press("f2")
        assert not panel.display
        assert app.session is not None
        assert await app.session.bus.invoke(TOGGLE_OUTBOUND_MESSAGE_PANEL, {"open": True}) is True
        assert panel.display


async def test_keys_are_remapped_from_settings(tmp_path: Path) -> None:
    backend = SimBackend(project_settings(tmp_path, ui={"keys": {"send_wait_any": "ctrl+g"}}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Remapped")
        await pilot.press("ctrl+t")  # no longer bound
        await settle(pilot)
        assert sent_bodies(backend, JANE.address) == []
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert text_of(app, "#status") == "Sent to +1 415-555-0100: the reply will be routed to any agent."
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert {key for key, _, binding_id in app.screen.keys if binding_id == "send_wait_any"} == {"^g"}


async def test_keep_draft_setting_keeps_it_after_a_send(tmp_path: Path) -> None:
    backend = SimBackend(project_settings(tmp_path, ui={"keep_draft_after_send": True}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Kept")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.query_one("#body", TextArea).text == "Kept"


@pytest.mark.parametrize("keep", [True, False])
async def test_a_draft_goes_once_until_it_is_changed_whatever_the_setting(tmp_path: Path, keep: bool) -> None:
    backend = SimBackend(project_settings(tmp_path, ui={"keep_draft_after_send": keep}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "Once")
        for key in ("ctrl+t", "ctrl+t", "ctrl+r"):  # again after it went, in any mode
            await pilot.press(key)
            await settle(pilot)
        assert sent_bodies(backend, JANE.address) == ["Once"]
        if keep:
            assert text_of(app, "#status") == "This message went out already: change it (or the number) to send again."
            await pilot.press("end", "!")  # changed: it may go
            await pilot.press("ctrl+t")
            await settle(pilot)
            assert sent_bodies(backend, JANE.address) == ["Once", "Once!"]


async def test_hostile_error_text_is_shown_literally(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim_of(backend).fault(r"/v1/ConversationWithParticipants", method="POST", status=400, code=21211,
                                 message="[bold red]boom[/] \x1b[31mred\x1b[0m")
        await type_draft(pilot, "4155550100", "Hi")
        await pilot.press("ctrl+r")
        await settle(pilot)
        shown = text_of(app, "#status")
        assert "[bold red]boom[/]" in shown
        assert "\x1b" not in shown and "\\x1b[31mred" in shown


async def test_command_palette_offers_the_send_modes(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_draft(pilot, "4155550100", "From the palette")
        await pilot.press("ctrl+p")
        await type_text(pilot, "open chat")
        await until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)  # the palette found it
        await pilot.press("enter")
        await settle(pilot)
        assert text_of(app, "#status") == "Sent to +1 415-555-0100: chat task opened for you."


async def test_agent_refresh_keeps_the_agents_choices(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("shift+tab", "enter", "down", "enter")  # the second SMS sender
        sender = app.query_one("#sender", Select)
        assert sender.value == seed.SMS_SENDERS[1]
        app._refresh_agent()
        await settle(pilot)
        assert sender.value == seed.SMS_SENDERS[1]


async def test_an_unchanged_agent_refresh_redraws_nothing(backend: SimBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        redraws: list[str] = []
        for widget in [app.query_one(OutboundPanel), *app.query_one(OutboundPanel).query("*"), app.query_one("#agent-bar")]:
            original = widget.refresh
            monkeypatch.setattr(widget, "refresh", lambda *a, w=widget, o=original, **k: (redraws.append(str(w)), o(*a, **k))[1])
        app._refresh_agent()
        await settle(pilot)
        assert redraws == []  # an idle terminal stays silent across the periodic refresh


@pytest.mark.parametrize(("pasted", "field", "told"), [
    ("+1 415 555 2028", "+14155552028", None),
    ("(415) 555-2030", "4155552030", None),
    ("4155552031 ", "4155552031", None),
    ("\u200e+1\u00a0415\u00a0555\u00a02033\u200f", "+14155552033", None),
    ("\uff14\uff11\uff15\uff15\uff15\uff15\uff12\uff10\uff13\uff14", "4155552034", None),
    ("Tel: 415-555-2035", "4155552035", "Pasted 4155552035 into To; left out 'Tel:' (not part of a phone number)."),
    ("call me", "", "Nothing to paste into To: 'call me' holds no digits."),
    ("+1 415 555 0100\r\n+1 415 555 0101", "", "Not pasted into To: the paste holds 2 numbers, one a line; paste one."),
])
async def test_a_pasted_number_lands_in_to_as_digits_and_says_what_it_left_out(
        backend: SimBackend, pasted: str, field: str, told: str | None) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await paste(pilot, pasted)
        assert app.query_one("#destination", Input).value == field
        assert [n.message for n in app._notifications] == ([told] if told else [])


async def test_a_whole_number_pasted_over_a_typed_one_replaces_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "+1")
        await paste(pilot, "415 555 0100")  # the rest of it: joined
        assert app.query_one("#destination", Input).value == "+14155550100"
        await paste(pilot, "+44 20 7946 0958")  # another whole number: it replaces
        assert app.query_one("#destination", Input).value == "+442079460958"


async def test_keys_typed_while_the_app_starts_all_land_in_their_fields(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:  # not settled: connecting while the keys arrive, all at once
        await type_keys(pilot, *"4155550102", "tab", "tab", *"Hello", "shift+tab", "shift+tab", "end", "backspace")
        await settle(pilot)
        assert app.query_one("#destination", Input).value == "415555010"
        assert app.query_one("#body", TextArea).text == "Hello"
        await type_keys(pilot, "2", "tab", "tab", *" there")  # connected: the same
        assert (app.query_one("#destination", Input).value, app.query_one("#body", TextArea).text) == \
            ("4155550102", "Hello there")


async def test_key_names_in_hints_and_the_palette_follow_the_keymap(tmp_path: Path) -> None:
    keys = {"refresh_templates": "f12", "toggle_panel": "f11", "become_available": "ctrl+b", "quit": "ctrl+x"}
    backend = SimBackend(project_settings(tmp_path, ui={"keys": keys}))
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text_of(app, "#preview") == "Choose an approved template above (f12 reads them again)."
        helps = [command.help for command in app.get_system_commands(app.screen)]
        for shown in ("(f12)", "(f11)", "(^b)", "(^x)"):
            assert any(help_text.endswith(shown) for help_text in helps), (shown, helps)
        assert not any("F2" in h or "F3" in h or "F5" in h or "ctrl+q" in h for h in helps)


async def test_a_refusal_goes_once_the_draft_changes(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert text_of(app, "#status") == "Type the customer's phone number."
        await type_text(pilot, "4")
        await settle(pilot)
        assert text_of(app, "#status") == ""  # no longer about this draft (the live line says what is missing)


async def test_choosing_whatsapp_while_keys_arrive_keeps_them_in_a_field_that_is_shown(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # from To, in one burst: back to Channel, WhatsApp, Tab and the number; Tab must wait for the change
        # (it hides From: one WhatsApp sender) and the digits for the Tab
        await type_keys(pilot, "shift+tab", "shift+tab", "right", "enter", "tab", *"4155550102")
        await settle(pilot)
        assert app.query_one("#panel").channel.value == "whatsapp"  # type: ignore[attr-defined]
        assert app.query_one("#destination", Input).value == "4155550102"


@pytest.mark.parametrize(("typed", "burst", "field"), [
    ("XYZ", ["backspace", "backspace", "a", "b"], "Xab"),  # letters: the message box
    ("415555", ["left", "1"], "4155515"),
    ("4155550100", ["home", "delete", "9"], "9155550100"),
])
async def test_editing_keys_in_a_burst_act_in_the_order_they_were_typed(
        backend: SimBackend, typed: str, burst: list[str], field: str) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        target = "#body" if typed.isalpha() else "#destination"
        if target == "#body":
            await pilot.press("tab", "tab")
        await type_text(pilot, typed)
        await type_keys(pilot, *burst)
        await settle(pilot)
        widget = app.query_one(target)
        assert (widget.text if isinstance(widget, TextArea) else widget.value) == field  # type: ignore[attr-defined]


async def test_a_paste_waits_for_the_keys_typed_before_it(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = [events.Key(key, char) for key, char in [("9", "9")] * 3 + [("backspace", None)] * 3]
        await burst(pilot, *keys, events.Paste("415-555-0102"))
        await settle(pilot)
        assert app.query_one("#destination", Input).value == "4155550102"


async def test_a_refusal_that_wraps_does_not_move_what_is_below_the_panel(backend: SimBackend) -> None:
    """Typing a number repaints a line or two, not the screen (bench/startup.py's bytes per key)."""
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.query_one(OutboundPanel)
        height, one_line = panel.outer_size.height, text_of(app, "#problem")
        await type_text(pilot, "+1415")
        assert text_of(app, "#problem") != one_line and len(text_of(app, "#problem")) > 62  # it wraps
        assert panel.outer_size.height == height
