"""The action bus: Flex's Actions framework (register, invoke, before/after listeners, replace), async.

Widgets, "click to message" and scripts all go through `ActionBus.invoke`, so a listener or a
replacement added once applies to every way an action is started.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from core.models import SendMode

logger = logging.getLogger("outbound_panel.actions")

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R")

Handler = Callable[[P], Awaitable[R]]
Wrapper = Callable[[P, Callable[[P], Awaitable[R]]], Awaitable[R]]
BeforeListener = Callable[[P], Awaitable[P | None]]
AfterListener = Callable[[P, R], Awaitable[None]]

TOGGLE_OUTBOUND_MESSAGE_PANEL = "ToggleOutboundMessagePanel"
SEND_OUTBOUND_MESSAGE = "SendOutboundMessage"


class ActionVetoed(Exception):
    """Raised by a before listener to stop an action; `reason` is a sentence for the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownAction(KeyError):
    """No action is registered under this name."""


class TogglePanelPayload(BaseModel):
    """Open (True), close (False) or toggle (None) the outbound message panel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open: bool | None = None


class SendOutboundMessagePayload(BaseModel):
    """The seed plugin's SendOutboundMessage payload; its camelCase names are accepted as aliases.

    `mode` is `send_mode` when given (this app's callers), else OPEN_CHAT when `open_chat` is set (even together
    with `route_to_me`: opening the chat wins), else WAIT_ME when `route_to_me`, else WAIT_ANY.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    # kept as typed: core.rules parses and formats the phone number (and says when there is none)
    destination: str
    caller_id: str
    channel: Literal["sms", "whatsapp"] = "sms"
    body: str | None = None
    content_template_sid: str | None = None
    content_variables: dict[str, str] = {}
    open_chat: bool = False
    route_to_me: bool = False
    send_mode: SendMode | None = None  # this app's callers name the mode itself; it wins over the two flags

    @property
    def mode(self) -> SendMode:
        if self.send_mode is not None:
            return self.send_mode
        if self.open_chat:
            return SendMode.OPEN_CHAT
        return SendMode.WAIT_ME if self.route_to_me else SendMode.WAIT_ANY


@dataclass
class _Action:
    payload_type: type[BaseModel]
    handler: Callable[[Any], Awaitable[Any]]
    # keyed by a fresh token so unsubscribing removes exactly the entry it added
    before: dict[object, Callable[[Any], Awaitable[Any]]] = field(default_factory=dict)
    after: dict[object, Callable[[Any, Any], Awaitable[None]]] = field(default_factory=dict)

    def validate(self, payload: BaseModel | Mapping[str, Any]) -> Any:
        # re-validate instances too: model_copy(update=...) skips validation
        if isinstance(payload, self.payload_type):
            payload = payload.model_dump(by_alias=True)
        return self.payload_type.model_validate(payload)


class ActionBus:
    """Named async actions with validated payloads, replaceable handlers and before/after listeners."""

    def __init__(self) -> None:
        self._actions: dict[str, _Action] = {}

    def _action(self, name: str) -> _Action:
        try:
            return self._actions[name]
        except KeyError:
            raise UnknownAction(name) from None

    def register(self, name: str, payload_type: type[P], handler: Handler[P, R]) -> None:
        """Register `handler` for `name`; a name can be registered once."""
        if name in self._actions:
            raise ValueError(f"action {name!r} is already registered")
        self._actions[name] = _Action(payload_type, handler)

    def replace(self, name: str, wrapper: Wrapper[P, R]) -> None:
        """Wrap the current handler; `wrapper(payload, original)` may change the payload or skip `original`."""
        action = self._action(name)
        inner = action.handler

        async def original(payload: Any) -> Any:
            return await inner(action.validate(payload))

        async def replaced(payload: Any) -> Any:
            return await wrapper(payload, original)

        action.handler = replaced

    def add_listener(
        self, when: Literal["before", "after"], name: str, listener: BeforeListener[P] | AfterListener[P, R]
    ) -> Callable[[], None]:
        """Add a listener (run in the order added); returns a function that removes it."""
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        listeners: dict[object, Any] = getattr(self._action(name), when)
        token = object()
        listeners[token] = listener

        def unsubscribe() -> None:
            listeners.pop(token, None)

        return unsubscribe

    async def invoke(self, name: str, payload: BaseModel | Mapping[str, Any]) -> Any:
        """Validate `payload`, run before listeners, the handler, then after listeners; return the result.

        Raises `UnknownAction`, pydantic's `ValidationError`, or `ActionVetoed` from a before listener.
        """
        action = self._action(name)
        validated = action.validate(payload)
        for before in list(action.before.values()):
            changed = await before(validated)
            if changed is not None:
                validated = action.validate(changed)
        result = await action.handler(validated)
        for after in list(action.after.values()):
            try:
                await after(validated, result)
            except Exception:
                # an observer must not turn a completed action into a failure
                logger.exception("after listener %r of %s failed", after, name)
        return result
