"""The action bus (core/actions.py): Flex-style register / invoke / listeners / replace."""

import logging

import pytest
from pydantic import BaseModel, ValidationError

from core.actions import (
    SEND_OUTBOUND_MESSAGE,
    TOGGLE_OUTBOUND_MESSAGE_PANEL,
    ActionBus,
    ActionVetoed,
    SendOutboundMessagePayload,
    TogglePanelPayload,
    UnknownAction,
)

SEND = {"destination": "+1 555 0100", "caller_id": "+15550199", "body": "Hello"}


class Recorder:
    """A handler that records the payloads it was called with and returns a fixed result."""

    def __init__(self, result: str = "sent") -> None:
        self.calls: list[BaseModel] = []
        self.result = result

    async def __call__(self, payload: BaseModel) -> str:
        self.calls.append(payload)
        return self.result


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
def bus(handler: Recorder) -> ActionBus:
    bus = ActionBus()
    bus.register(SEND_OUTBOUND_MESSAGE, SendOutboundMessagePayload, handler)
    return bus


async def test_invoke_validates_a_mapping_into_the_payload_model(bus: ActionBus, handler: Recorder) -> None:
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND) == "sent"
    [payload] = handler.calls
    assert isinstance(payload, SendOutboundMessagePayload)
    assert (payload.destination, payload.caller_id, payload.body, payload.channel) == (
        "+1 555 0100",
        "+15550199",
        "Hello",
        "sms",
    )


async def test_invoke_accepts_a_payload_model(bus: ActionBus, handler: Recorder) -> None:
    payload = SendOutboundMessagePayload(**SEND, channel="whatsapp")
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, payload) == "sent"
    assert handler.calls == [payload]


async def test_toggle_panel_payload_defaults_to_toggle() -> None:
    bus = ActionBus()
    seen = Recorder()
    bus.register(TOGGLE_OUTBOUND_MESSAGE_PANEL, TogglePanelPayload, seen)
    await bus.invoke(TOGGLE_OUTBOUND_MESSAGE_PANEL, {})
    await bus.invoke(TOGGLE_OUTBOUND_MESSAGE_PANEL, {"open": True})
    assert [p.open for p in seen.calls] == [None, True]  # type: ignore[attr-defined]


def test_registering_a_name_twice_is_refused(bus: ActionBus) -> None:
    with pytest.raises(ValueError, match=SEND_OUTBOUND_MESSAGE):
        bus.register(SEND_OUTBOUND_MESSAGE, SendOutboundMessagePayload, Recorder())


def test_seed_plugin_camel_case_payload_is_accepted() -> None:
    payload = SendOutboundMessagePayload.model_validate(
        {
            "destination": "+15550100",
            "callerId": "+15550199",
            "contentTemplateSid": "HX" + "0" * 32,
            "contentVariables": {"1": "Ana"},
            "openChat": True,
            "routeToMe": True,
        }
    )
    assert payload.caller_id == "+15550199"
    assert payload.content_template_sid == "HX" + "0" * 32
    assert payload.content_variables == {"1": "Ana"}
    assert payload.open_chat and payload.route_to_me


async def test_extra_keys_are_rejected_with_a_validation_error(bus: ActionBus, handler: Recorder) -> None:
    with pytest.raises(ValidationError, match="subject"):
        await bus.invoke(SEND_OUTBOUND_MESSAGE, {**SEND, "subject": "hi"})
    assert handler.calls == []


def test_payload_is_frozen() -> None:
    payload = SendOutboundMessagePayload(**SEND)
    with pytest.raises(ValidationError):
        payload.body = "changed"  # type: ignore[misc]


async def test_unknown_action_raises_unknown_action_a_key_error(bus: ActionBus) -> None:
    with pytest.raises(UnknownAction) as raised:
        await bus.invoke("SendCarrierPigeon", {})
    assert isinstance(raised.value, KeyError)
    with pytest.raises(UnknownAction):
        bus.add_listener("before", "SendCarrierPigeon", Recorder())
    with pytest.raises(UnknownAction):
        bus.replace("SendCarrierPigeon", Recorder())


async def test_before_listener_can_modify_the_payload(bus: ActionBus, handler: Recorder) -> None:
    async def sign(payload: SendOutboundMessagePayload) -> SendOutboundMessagePayload:
        return payload.model_copy(update={"body": f"{payload.body} -- Ana"})

    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, sign)
    await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert handler.calls[0].body == "Hello -- Ana"  # type: ignore[attr-defined]


async def test_before_listener_modified_payload_is_validated_again(bus: ActionBus, handler: Recorder) -> None:
    async def break_it(payload: SendOutboundMessagePayload) -> SendOutboundMessagePayload:
        # model_copy skips validation; the bus must not
        return payload.model_copy(update={"channel": "fax"})

    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, break_it)
    with pytest.raises(ValidationError, match="channel"):
        await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert handler.calls == []


async def test_before_listener_veto_stops_the_handler_and_reaches_the_caller(
    bus: ActionBus, handler: Recorder
) -> None:
    after_calls: list[object] = []

    async def veto(payload: SendOutboundMessagePayload) -> None:
        raise ActionVetoed("You are Offline; go Available to send messages.")

    async def after(payload: SendOutboundMessagePayload, result: object) -> None:
        after_calls.append(result)

    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, veto)
    bus.add_listener("after", SEND_OUTBOUND_MESSAGE, after)
    with pytest.raises(ActionVetoed) as raised:
        await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert raised.value.reason == "You are Offline; go Available to send messages."
    assert handler.calls == [] and after_calls == []


async def test_listeners_run_in_the_order_added(bus: ActionBus) -> None:
    order: list[str] = []

    def before(tag: str):
        async def listener(payload: SendOutboundMessagePayload) -> None:
            order.append(tag)

        return listener

    for tag in ("first", "second", "third"):
        bus.add_listener("before", SEND_OUTBOUND_MESSAGE, before(tag))
    await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert order == ["first", "second", "third"]


async def test_after_listener_sees_the_payload_and_result(bus: ActionBus) -> None:
    seen: list[tuple[str | None, object]] = []

    async def after(payload: SendOutboundMessagePayload, result: object) -> None:
        seen.append((payload.body, result))

    bus.add_listener("after", SEND_OUTBOUND_MESSAGE, after)
    await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert seen == [("Hello", "sent")]


async def test_after_listeners_do_not_run_when_the_handler_fails() -> None:
    bus = ActionBus()
    seen: list[object] = []

    async def failing(payload: TogglePanelPayload) -> None:
        raise RuntimeError("boom")

    async def after(payload: TogglePanelPayload, result: object) -> None:
        seen.append(result)

    bus.register(TOGGLE_OUTBOUND_MESSAGE_PANEL, TogglePanelPayload, failing)
    bus.add_listener("after", TOGGLE_OUTBOUND_MESSAGE_PANEL, after)
    with pytest.raises(RuntimeError, match="boom"):
        await bus.invoke(TOGGLE_OUTBOUND_MESSAGE_PANEL, {})
    assert seen == []


async def test_failing_after_listener_is_logged_and_keeps_the_result(
    bus: ActionBus, caplog: pytest.LogCaptureFixture
) -> None:
    later: list[object] = []

    async def broken(payload: SendOutboundMessagePayload, result: object) -> None:
        raise RuntimeError("analytics down")

    async def still_runs(payload: SendOutboundMessagePayload, result: object) -> None:
        later.append(result)

    bus.add_listener("after", SEND_OUTBOUND_MESSAGE, broken)
    bus.add_listener("after", SEND_OUTBOUND_MESSAGE, still_runs)
    with caplog.at_level(logging.ERROR, logger="outbound_panel.actions"):
        assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND) == "sent"
    assert later == ["sent"]
    [record] = [r for r in caplog.records if r.name == "outbound_panel.actions"]
    assert record.levelno == logging.ERROR
    assert SEND_OUTBOUND_MESSAGE in record.getMessage()
    assert record.exc_info and "analytics down" in str(record.exc_info[1])


async def test_replace_wraps_the_original_and_can_modify_the_payload(bus: ActionBus, handler: Recorder) -> None:
    async def whatsapp_only(payload: SendOutboundMessagePayload, original) -> str:
        result = await original(payload.model_copy(update={"channel": "whatsapp"}))
        return f"wrapped {result}"

    bus.replace(SEND_OUTBOUND_MESSAGE, whatsapp_only)
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND) == "wrapped sent"
    assert handler.calls[0].channel == "whatsapp"  # type: ignore[attr-defined]


async def test_replace_payload_passed_to_the_original_is_validated(bus: ActionBus, handler: Recorder) -> None:
    async def break_it(payload: SendOutboundMessagePayload, original) -> object:
        return await original(payload.model_copy(update={"channel": "fax"}))

    bus.replace(SEND_OUTBOUND_MESSAGE, break_it)
    with pytest.raises(ValidationError, match="channel"):
        await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert handler.calls == []


async def test_replace_can_skip_the_original(bus: ActionBus, handler: Recorder) -> None:
    async def dry_run(payload: SendOutboundMessagePayload, original) -> str:
        return "dry run"

    bus.replace(SEND_OUTBOUND_MESSAGE, dry_run)
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND) == "dry run"
    assert handler.calls == []


async def test_stacked_replacements_run_last_added_outermost(bus: ActionBus) -> None:
    order: list[str] = []

    def wrapper(tag: str):
        async def wrap(payload: SendOutboundMessagePayload, original) -> object:
            order.append(f"{tag} in")
            result = await original(payload)
            order.append(f"{tag} out")
            return result

        return wrap

    bus.replace(SEND_OUTBOUND_MESSAGE, wrapper("first"))
    bus.replace(SEND_OUTBOUND_MESSAGE, wrapper("second"))
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND) == "sent"
    assert order == ["second in", "first in", "first out", "second out"]


async def test_unsubscribe_removes_only_that_listener(bus: ActionBus) -> None:
    calls: list[str] = []

    async def before(payload: SendOutboundMessagePayload) -> None:
        calls.append("before")

    async def after(payload: SendOutboundMessagePayload, result: object) -> None:
        calls.append("after")

    unsubscribe_first = bus.add_listener("before", SEND_OUTBOUND_MESSAGE, before)
    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, before)  # same function, second subscription
    unsubscribe_after = bus.add_listener("after", SEND_OUTBOUND_MESSAGE, after)
    unsubscribe_first()
    unsubscribe_first()  # a second call is harmless
    unsubscribe_after()
    await bus.invoke(SEND_OUTBOUND_MESSAGE, SEND)
    assert calls == ["before"]


@pytest.mark.parametrize(
    ("open_chat", "route_to_me", "mode"),
    [
        (False, False, "wait_any"),
        (False, True, "wait_me"),
        (True, False, "open_chat"),
        (True, True, "open_chat"),  # opening the chat wins
    ],
)
def test_mode_follows_open_chat_then_route_to_me(open_chat: bool, route_to_me: bool, mode: str) -> None:
    payload = SendOutboundMessagePayload(**SEND, open_chat=open_chat, route_to_me=route_to_me)
    assert payload.mode == mode
