"""A failing Twilio seen from the panel: whatever breaks, the screen says whether the customer got the
message, a draft that did not go out is intact, and nothing unhandled reaches the screen."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from tests.test_fault_matrix import record_deliveries
from tests.tui_fixtures import SimBackend, backend, settle, sim_of, text_of, type_draft  # noqa: F401 (fixture)

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic

SIZE = (80, 24)
MESSAGES = r"/v1/Conversations/CH[0-9a-f]+/Messages$"
CREATES = {"open_chat": "/v1/Interactions", "wait_me": "/v1/ConversationWithParticipants",
           "wait_any": "/v1/ConversationWithParticipants"}
KEYS = {"open_chat": "ctrl+o", "wait_me": "ctrl+r", "wait_any": "ctrl+t"}
FAULTS = {"reset": {"kind": "reset"}, "500": {"status": 500}, "drop": {"kind": "drop"}}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", ["create", "message"])
@pytest.mark.parametrize("mode", KEYS)
async def test_a_fault_at_any_step_keeps_the_draft_unless_it_was_sent(
        backend: SimBackend, mode: str, step: str, fault: str) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        reached = record_deliveries(sim_of(backend))
        sim_of(backend).fault(MESSAGES if step == "message" else CREATES[mode], method="POST", times=1,
                              **FAULTS[fault])  # type: ignore[arg-type]
        await type_draft(pilot, "4155550100", "Keep me safe")
        await pilot.press(KEYS[mode])
        await settle(pilot)

        status = text_of(app, "#status")
        if status.startswith("Sent to +1 415-555-0100"):  # drop: committed, answer lost, found by its send id
            assert [m.body for m in reached] == ["Keep me safe"]
            assert app.query_one("#body", TextArea).text == ""
        else:
            assert status.endswith("Nothing reached the customer."), status
            assert reached == []  # the screen tells the truth about the customer's phone
            assert (app.query_one("#destination", Input).value, app.query_one("#body", TextArea).text) == \
                ("4155550100", "Keep me safe")  # the draft is intact
    assert app.return_code in (None, 0)  # the app ended normally: nothing unhandled


async def test_an_unknown_outcome_is_said_as_such_and_its_settling_is_notified(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim = sim_of(backend)
        sim.fault(CREATES["wait_me"], method="POST", kind="drop")  # made, the answer lost
        sim.fault("/v1/ParticipantConversations", method="GET", status=503, times=None)  # the look-ups fail too
        await type_draft(pilot, "4155550100", "Did it go?")
        await pilot.press(KEYS["wait_me"])
        await settle(pilot)
        status = text_of(app, "#status")
        assert "It could not be checked what Twilio made" in status and "Nothing reached" not in status, status
        assert app.query_one("#body", TextArea).text == "Did it go?"  # the message was not posted: the draft stays

        sim.world.faults.clear()
        await pilot.press(KEYS["wait_me"])  # the next send settles it first, then goes
        await settle(pilot)
        assert text_of(app, "#status").startswith("Sent to +1 415-555-0100")
        assert any(n.title == "Checked with Twilio" and "the empty conversation it had opened was removed" in n.message
                   for n in app._notifications)


async def test_a_send_that_may_have_gone_is_held_until_the_look_up_says_it_did_not(backend: SimBackend) -> None:
    app = backend.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim = sim_of(backend)
        sim.fault(MESSAGES, method="POST", kind="reset")  # cut before Twilio did anything
        sim.fault(MESSAGES, method="GET", status=503, times=None)  # and it cannot be looked up
        await type_draft(pilot, "4155550100", "Maybe")
        await pilot.press(KEYS["wait_me"])
        await settle(pilot)
        assert "may have reached the customer" in text_of(app, "#status")
        await pilot.press(KEYS["wait_me"])  # pressed again at once: held, and why
        await settle(pilot)
        assert text_of(app, "#status").startswith("This message may have gone out already; Twilio is being asked")
        sim.world.faults.clear()
        assert app.session is not None
        await app.session.settle_unknown()  # the next look-up (every 15 s, and before the next send)
        await settle(pilot)
        assert text_of(app, "#status").endswith("The draft can be sent again.")
        await pilot.press(KEYS["wait_me"])
        await settle(pilot)
        assert text_of(app, "#status").startswith("Sent to +1 415-555-0100")
