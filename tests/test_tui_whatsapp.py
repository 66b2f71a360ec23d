"""WhatsApp done right, keys only: the 24-hour window and opt-outs known before writing, approved content
templates with their variables and a preview of exactly what arrives — against the app's simulator."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select

from sim import seed
from tests.tui_fixtures import (SimBackend, backend, paste, sim_of, text_of, type_keys, type_text,  # noqa: F401
                                 until, until_shown)

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

SIZE = (80, 24)
OMAR, JANE, SAM = "4155550101", "4155550100", "4155550103"  # window closed, window open, replied STOP


async def whatsapp_to(pilot: Pilot, number: str) -> None:
    """From the start (destination focused): channel WhatsApp, then the number; waits for the customer check."""
    await until(pilot, lambda: not pilot.app.query_one("#panel").disabled)
    await pilot.press("shift+tab", "shift+tab", "right", "enter", "tab")
    await type_text(pilot, number)
    await until(pilot, lambda: pilot.app.query_one("#customer").display)


def requests(backend: SimBackend) -> int:
    return len(sim_of(backend).world.log)


async def test_a_closed_window_leads_to_an_approved_template_with_keys_only_and_it_arrives(
        backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await whatsapp_to(pilot, OMAR)
        assert text_of(app, "#customer") == "WhatsApp window closed — choose an approved template"
        assert not app.query_one("#body-box").display and app.query_one("#template-form").display
        assert text_of(app, "#problem") == ("Send unavailable: The WhatsApp 24-hour window is closed: "
                                            "choose an approved template.")
        before = requests(backend)
        await pilot.press("ctrl+r")  # free text outside the window: refused without a request
        await until(pilot, lambda: "window is closed" in text_of(app, "#status"))
        assert requests(backend) == before

        await pilot.press("tab", "tab", "enter")  # past canned, into the template chooser
        options = [str(o.prompt) for o in app.query_one("#template").query_one("SelectOverlay").options]  # type: ignore[attr-defined]
        assert options[1:4] == ["appointment_reminder (en) · approved", "follow_up (en) · approved",
                                "order_update (en) · approved"]
        await type_keys(pilot, "down", "down", "down", "enter", "tab", "ctrl+u")  # order_update's {{first_name}}
        await type_text(pilot, 'Omar "O\'Neil"')
        await type_keys(pilot, "tab", "ctrl+u")  # {{order_id}}
        await type_text(pilot, "A-1042")
        await until(pilot, lambda: text_of(app, "#preview") == 'Preview: Hello Omar "O\'Neil", your order A-1042 '
                                                              "has shipped.")
        name, order = 'Omar "O\'Neil" حداد 👋', "A-1042\nB"  # what keys cannot type, set as the field's value
        fields = {field.name: field for field in app.query(Input) if field.name}
        fields["first_name"].value, fields["order_id"].value = name, order
        await pilot.pause()
        assert text_of(app, "#preview") == f"Preview: Hello {name}, your order {order} has shipped."
        assert not app.query_one("#send", Button).disabled

        await pilot.press("ctrl+r")
        await until_shown(pilot, backend, "Delivered")
        conversation = next(c for c in sim_of(backend).world.conversations.conversations.values()
                            if c.state == "active")
        sent = [m for m in conversation.messages if m.content_sid]
        assert [m.body for m in sent] == [f"Hello {name}, your order {order} has shipped."]
        assert sent[0].content_sid == seed.TEMPLATES[1].sid


async def test_an_open_window_says_when_it_closes_and_free_text_goes(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await whatsapp_to(pilot, JANE)
        assert text_of(app, "#customer") == "WhatsApp window open — closes in 22 h"  # she wrote 2 h before start
        assert app.query_one("#body-box").display and not app.query_one("#template-form").display
        await pilot.press("tab", "tab", "tab")
        await type_text(pilot, "Hola Jane")
        await pilot.press("ctrl+r")
        await until_shown(pilot, backend, "Delivered")


async def test_a_template_waiting_for_approval_cannot_go_outside_the_window(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await whatsapp_to(pilot, OMAR)
        await pilot.press("tab", "tab", "enter", *["down"] * 5, "enter")  # seguimiento (es), pending
        await until(pilot, lambda: "seguimiento" in text_of(app, "#problem"))
        assert text_of(app, "#problem") == ("Send unavailable: seguimiento is pending WhatsApp approval: outside "
                                            "the 24-hour window only approved templates can be sent.")
        assert app.query_one("#send", Button).disabled


async def test_a_customer_who_replied_stop_is_named_before_writing(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.query_one("#panel").disabled)
        await type_text(pilot, SAM)
        await until(pilot, lambda: app.query_one("#customer").display)
        assert text_of(app, "#customer") == "Opted out: this customer replied STOP"
        assert "opted out" in text_of(app, "#problem")  # before a word is written
        await pilot.press("tab", "tab")
        await type_text(pilot, "Hello Sam")
        assert "opted out of messages from +1 501-712-2661 (they replied STOP)" in text_of(app, "#problem")
        before = requests(backend)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "opted out" in text_of(app, "#status"))
        assert requests(backend) == before

        await pilot.press("shift+tab", "shift+tab", "shift+tab", "enter", "down", "enter")  # the other sender
        await until(pilot, lambda: app.query_one("#sender", Select).value == "+15017122662")
        await until(pilot, lambda: not app.query_one("#customer").display)  # STOP was to the first number only
        assert text_of(app, "#problem") == ""


async def test_f5_reads_the_templates_again(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.query_one("#panel").disabled)

        def reads() -> int:
            return sum(1 for e in sim_of(backend).world.log if e.path == "/v1/ContentAndApprovals")

        assert reads() == 1  # once per session
        await pilot.press("f5")
        await until(pilot, lambda: reads() == 2)
        await until(pilot, lambda: any("5 content templates" in n.message for n in app._notifications))


async def test_a_value_pasted_over_several_lines_is_kept_whole_on_one_line(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await whatsapp_to(pilot, OMAR)
        await pilot.press("tab", "tab", "enter", "down", "down", "down", "enter")  # order_update
        await pilot.press("tab", "ctrl+u")
        await paste(pilot, "Omar\r\nHaddad\n")
        assert {f.name: f.value for f in app.query(Input) if f.name}["first_name"] == "Omar Haddad"
        assert [n.message for n in app._notifications][-1] == ("Pasted 2 lines into {{first_name}} as one: a template "
                                                               "value is one line.")
