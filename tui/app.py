"""The Textual application: wires the session (core) to the panel and the keys. It does not decide."""

from __future__ import annotations

import contextlib
import gc
from datetime import datetime
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from core.actions import TOGGLE_OUTBOUND_MESSAGE_PANEL, ActionVetoed, TogglePanelPayload
from core.errors import LocalFileError, OutboundError, RateLimited, SendFailed, TwilioUnavailable
from core.events import CustomerReplied, MessageStatusChanged, StatusEvent, TaskStatusChanged
from core.history import SendRecord
from core.links import Prefill
from core.models import SendMode
from core.settings import Settings
from tui.commands import SENT, sent_sentence
from tui.key_gate import OneKeyAtATime
from tui.screens.help import HelpScreen
from tui.screens.sends import SendsScreen
from tui.screens.workspace import WorkspaceScreen
from tui.text import literal
from tui.widgets.agent_bar import AgentBar
from tui.widgets.panel import MODE_LABELS, OutboundPanel
from tui.widgets.template_form import TemplateForm
from tui.widgets.timeline import Timeline

if TYPE_CHECKING:
    from core.journal import Settled
    from core.session import Session  # imports twilio: only once connecting, after the first frame

Connect = Callable[[], AbstractAsyncContextManager[tuple["Session", str]]]

@dataclass
class ChatUpdated(Message):
    """A new status event of one of the agent's chats (posted from the session's chat listener)."""

    event: StatusEvent


@dataclass
class SendUpdated(Message):
    """A new status event of one of the agent's sends (posted from the session's listener)."""

    record: SendRecord
    event: StatusEvent


class OutboundPanelApp(OneKeyAtATime, App[None]):
    """Bindings (ids remappable under [ui.keys]): ctrl+s send in the chosen mode, ctrl+o send and open chat,
    ctrl+r send and route the reply to me, ctrl+t send and route it to any agent, f2 toggle the panel,
    f3 become available, f4 my outbound messages, f5 read the templates again, f6 my chats, f8 / f9 accept / reject a
    task offered to me,
    f1 / ? help, ctrl+p command palette, ctrl+q quit."""

    TITLE = "outbound-panel"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", id="send", tooltip="Send in the mode chosen in the panel"),
        Binding("ctrl+o", "send('open_chat')", "Chat", id="send_open_chat", tooltip="Send and open chat"),
        Binding("ctrl+r", "send('wait_me')", "To me", id="send_wait_me", tooltip="Send, route reply to me"),
        Binding("ctrl+t", "send('wait_any')", "To any", id="send_wait_any", tooltip="Send, route reply to any agent"),
        Binding("f2", "toggle_panel", "Panel", id="toggle_panel", show=False, tooltip="Show or hide the panel"),
        Binding("f3", "become_available", "Available", id="become_available", show=False,
                tooltip="Become Available (TaskRouter activity)"),
        Binding("f4", "show_sends", "Sent", id="show_sends", tooltip="My outbound messages and their status"),
        # priority: the message box (TextArea) binds f6 to "select line" for itself
        Binding("f6", "workspace", "Chats", id="workspace", priority=True,
                tooltip="My chats: continue, end and complete them"),
        Binding("f5", "load_templates(True)", "Templates", id="refresh_templates", show=False,
                tooltip="Read the WhatsApp content templates from Twilio again"),
        Binding("f8", "answer_offer(True)", "Accept", id="accept_task", tooltip="Accept the task offered to you"),
        Binding("f9", "answer_offer(False)", "Reject", id="reject_task", tooltip="Reject the task offered to you"),
        Binding("f1,question_mark", "help", "Help", id="help", tooltip="This help"),
        Binding("ctrl+q", "quit", "Quit", id="quit", show=False),
        # priority: focus moves as the key arrives, not after it has bubbled up from the field it leaves, so keys
        # typed right behind a Tab land in the next field even when they all come at once (a busy moment, a paste
        # of keystrokes): Textual's own tab binding is the screen's, reached after the field had the next key too
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]
    AGENT_REFRESH_SECONDS = 15.0

    def __init__(self, settings: Settings, connect: Connect, where: str, warnings: Sequence[str] = (),
                 prefill: Prefill | None = None) -> None:
        super().__init__()
        self.prefill = prefill  # the draft a click-to-message link opens the panel with
        self.startup_warnings = list(warnings)  # e.g. others can read the settings file's secret: shown at start
        self.settings = settings
        self.connect = connect  # opens the session (and the embedded simulator, in demo mode)
        self.where = where  # what the agent is connecting to, until the session says it exactly
        self.not_connected = f"Still connecting to {where}"  # why a send cannot go yet, until connected
        self.connect_retry = 5.0  # seconds before connecting again after Twilio was unreachable (then doubling)
        self.agent_read_at: datetime | None = None  # when the agent's activity was last read from TaskRouter
        self.agent_stale = False  # the last read of it failed
        self.answering = False  # an accept or reject of a task offered is on its way
        self.session: "Session | None" = None
        self.activity_names: list[str] = []
        self.current: str | None = None  # the send shown under the panel (message SID)
        self._exit_stack = contextlib.AsyncExitStack()
        self.collect_after_first_frame = False  # the garbage collector was held for start-up (tui.cli._run_app)

    def get_default_screen(self) -> Screen[None]:
        screen: Screen[None] = Screen(id="_default")
        screen.AUTO_FOCUS = "#destination"  # the first key typed goes to the number, even before the app has mounted
        return screen

    def compose(self) -> ComposeResult:
        yield AgentBar()
        panel = OutboundPanel(self.settings, self.prefill)
        panel.border_title = "Outbound message"
        yield panel
        yield Timeline(id="current")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p is in the help

    async def on_mount(self) -> None:
        self.set_keymap(dict(self.settings.ui.keys))
        for control in self.query("Input, TextArea"):
            control.cursor_blink = self.settings.ui.cursor_blink  # type: ignore[attr-defined]
        self.query_one(AgentBar).connecting(self.where)  # typing may start at once: the draft waits for no connection
        form = self.query_one(TemplateForm)
        form.hint = f"Choose an approved template above ({self.key_names()['refresh_templates']} reads them again)."
        form.refresh_preview()
        for warning in self.startup_warnings:
            self.notify(warning, title="Warning", severity="warning", markup=False, timeout=20)
        self.call_after_refresh(self._connect)  # the first frame goes out before twilio is imported

    def on_ready(self) -> None:
        """The first frame is out: what start-up made is kept out of future collections, which may run again."""
        if self.collect_after_first_frame:
            gc.freeze()
            gc.enable()

    async def on_unmount(self) -> None:
        await self._exit_stack.aclose()

    # -- session -------------------------------------------------------------------------------------

    @work(exclusive=True, group="connect")
    async def _connect(self) -> None:
        panel = self.query_one(OutboundPanel)
        try:
            self.session, self.where = await self._exit_stack.enter_async_context(self.connect())
        except (OutboundError, OSError) as error:  # OSError: the embedded simulator's port is taken
            self.not_connected = str(error) if isinstance(error, LocalFileError) else \
                f"Could not connect to {self.where}: {error}"
            if isinstance(error, (TwilioUnavailable, RateLimited)):  # passing trouble: tried again, later each time
                self.not_connected += f" Trying again in {self.connect_retry:g} s."
                self.set_timer(self.connect_retry, self._connect)
                self.connect_retry = min(self.connect_retry * 2, 60.0)
            panel.show_status(self.not_connected, "error")
            return
        self.session.bus.register(TOGGLE_OUTBOUND_MESSAGE_PANEL, TogglePanelPayload, self._toggle_panel)
        for settled in self.session.recovered:  # sends a crash had left unfinished, settled at start
            self.notify(settled, title="After the last stop", severity="warning", markup=False, timeout=30)
        self.session.subscribe_settled(self._settled)  # sends Twilio left unanswered, settled later
        self.session.watcher.on_pause(self._status_delayed)  # a 429: said, not silence
        self._follow_sends(self.session)
        if self.session.push is not None:
            self.session.push.on_live(self._pushed)
        with contextlib.suppress(OutboundError):  # the palette then offers only "Become Available"
            self.activity_names = await self.session.activity_names()
        panel.border_subtitle = f"via {self.where}"  # set once: assigning it redraws the panel
        panel.agent_name, panel.now = self.session.agent.full_name, self.session.watcher.wall
        self.action_load_templates()
        self._show_agent()
        panel.recheck_customer()  # a number typed while connecting: its customer is looked up now
        self.set_interval(self.AGENT_REFRESH_SECONDS, self._refresh_agent)

    def _pushed(self, live: bool) -> None:
        """Said when status starts coming from the relay, and when it falls back to polling (and why)."""
        push = self.session.push if self.session else None
        if live:
            self.notify("Status is pushed by the relay.", markup=False)
        elif push is not None and push.problem:
            self.notify(f"The relay cannot be used ({push.problem}): status is polled meanwhile.",
                        severity="warning", markup=False)

    def _status_delayed(self, seconds: float) -> None:
        bar = self.query_one(AgentBar)
        bar.set_delayed(True)
        self.set_timer(seconds, lambda: bar.set_delayed(False))

    def _settled(self, settled: Settled) -> None:
        self.notify(settled.sentence, title="Checked with Twilio", severity="warning", markup=False, timeout=30)
        panel = self.query_one(OutboundPanel)
        if settled.result is None and settled.send_id == panel.unknown_send_id:  # it did not go: it may go again
            panel.sent_version = panel.unknown_send_id = None
            panel.show_status(f"{settled.sentence} The draft can be sent again.", "info")

    def _show_agent(self, stale: bool = False) -> None:
        """The agent's activity as last read; `stale`: TaskRouter did not answer the last read (shown as such)."""
        assert self.session is not None
        agent = self.session.agent
        if not stale:
            self.agent_read_at = self.session.watcher.wall()
        as_of = self.agent_read_at.astimezone().strftime("%H:%M") if stale and self.agent_read_at else None
        self.query_one(AgentBar).show(f"{agent.full_name} ({agent.friendly_name})", agent.activity_name,
                                      agent.available, as_of)
        self.query_one(OutboundPanel).set_offline(None if agent.available else agent.activity_name,
                                                  self.key_names()["become_available"])

    @work(exclusive=True, group="agent")
    async def _refresh_agent(self) -> None:
        if self.session is None or not self.session.agent_due():
            return
        try:
            await self.session.refresh_agent()
        except OutboundError as error:  # retried at the next tick; meanwhile the bar says it may be out of date
            if not self.agent_stale:
                self.notify(f"Your activity could not be read ({error}); the top line shows it as last read.",
                            severity="warning", markup=False)
            self.agent_stale = True
        else:
            self.agent_stale = False
        self._show_agent(stale=self.agent_stale)

    # -- status of the sends ---------------------------------------------------------------------------

    def _follow_sends(self, session: "Session") -> None:
        """Shows the newest send and listens to the session for what happens to every send."""
        self.query_one("#current", Timeline).agent_sid = session.agent.sid
        newest = session.history.sends(limit=1)
        self.current = newest[0].message_sid if newest else None
        self._show_current()
        self.refresh_bindings()
        session.subscribe(lambda record, event: self.post_message(SendUpdated(record, event)))
        session.subscribe_chats(lambda event: self.post_message(ChatUpdated(event)))

    @on(SendUpdated)
    def _send_updated(self, update: SendUpdated) -> None:
        assert self.session is not None
        event = update.event
        if self.session.offered_to_me(event) and event.task_sid in self.session.offers:  # type: ignore[union-attr]
            self.notify(f"A task for {update.record.customer_label} is offered to you: {self._offer_keys()}.",
                        title="Task offered", markup=False, timeout=10)
        elif isinstance(event, MessageStatusChanged) and event.sentence:  # failed or undelivered
            self.notify(event.sentence, title=f"Not delivered to {update.record.customer_label}", severity="error",
                        markup=False, timeout=10)
        self.refresh_bindings()
        if update.record.message_sid == self.current:
            self._show_current()
        if isinstance(self.screen, SendsScreen):
            self.screen.update(update.record)


    @on(ChatUpdated)
    def _chat_updated(self, update: ChatUpdated) -> None:
        event = update.event
        if isinstance(self.screen, WorkspaceScreen):
            self.screen.chat_event(event)
            if self.screen.open is not None and self.screen.open.conversation_sid == event.conversation_sid:
                return  # on screen already
        if isinstance(event, CustomerReplied):
            self.notify(f"{literal(event.body[:80]).plain} ({self.key_names()['workspace']}: your chats)",
                        title="New message in a chat", markup=False, timeout=10)

    def _show_current(self) -> None:
        assert self.session is not None
        history = self.session.history
        record = history.get(self.current) if self.current else None
        offered = record is not None and self.session.offer(record.conversation_sid) is not None
        hint = f"Offered to you: {self._offer_keys()}" if offered else None
        self.query_one("#current", Timeline).show(record, history.timeline(record.message_sid) if record else [], hint)

    def _offer_keys(self) -> str:
        keys = self.key_names()
        return f"{keys['accept_task']} accept, {keys['reject_task']} reject"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer_offer":
            return self.session is not None and bool(self.session.offers)  # shown only while a task is offered
        if action == "send":
            return not isinstance(self.screen, (SendsScreen, WorkspaceScreen))  # the draft is not on screen there
        if action == "workspace":
            return not isinstance(self.screen, WorkspaceScreen)  # there f6 goes back
        return True

    def action_answer_offer(self, accept: bool) -> None:
        """Answers the offer of the send shown (else the newest offer). One answer at a time: a key pressed again
        while one is on its way does nothing (it would answer the next offer, one the agent has not seen)."""
        if self.session is None or self.answering:
            return
        record = self.session.history.get(self.current) if self.current else None
        offer = (record and self.session.offer(record.conversation_sid)) or self.session.offer()
        if offer is not None:
            self.answering = True
            self._answer(offer, accept)

    @work(group="offer")
    async def _answer(self, offer: TaskStatusChanged, accept: bool) -> None:
        assert self.session is not None
        try:
            await self.session.answer_offer(offer, accept)
        except OutboundError as error:
            self.notify(str(error), severity="error", markup=False)
        else:
            self.notify("Task accepted: it is yours." if accept else "Task rejected: it goes back to the queue.",
                        markup=False)
        finally:
            self.answering = False
        self.refresh_bindings()
        self._show_current()

    def action_workspace(self) -> None:
        if self.session is None or isinstance(self.screen, WorkspaceScreen):
            return
        self.push_screen(WorkspaceScreen(self.session, self.settings.ui.cursor_blink))

    def action_show_sends(self) -> None:
        if self.session is None or isinstance(self.screen, SendsScreen):
            return
        history = self.session.history
        self.push_screen(SendsScreen(history.sends(), history.timeline, self.session.agent.sid), self._chosen)

    def _chosen(self, message_sid: str | None) -> None:
        if message_sid is not None:
            self.current = message_sid
            self._show_current()

    # -- what Twilio knows of the customer, and the templates ------------------------------------------

    @on(OutboundPanel.CustomerChosen)
    @work(exclusive=True, group="customer")
    async def _check_customer(self, chosen: OutboundPanel.CustomerChosen) -> None:
        if self.session is None:
            return
        try:
            status = await self.session.customer_status(chosen.channel, chosen.destination, chosen.sender)
        except OutboundError as error:  # the send still works; Twilio's own error would say why
            self.notify(f"Could not check this customer's history: {error}", severity="warning", markup=False)
            return
        self.query_one(OutboundPanel).set_customer((chosen.channel, chosen.destination, chosen.sender), status)

    @work(exclusive=True, group="templates")
    async def action_load_templates(self, refresh: bool = False) -> None:
        if self.session is None:
            return
        try:
            templates = await self.session.templates(refresh=refresh)
        except OutboundError as error:
            self.notify(f"Could not read the content templates: {error}", severity="warning", markup=False)
            return
        self.query_one(OutboundPanel).set_templates(templates)
        if refresh:
            self.notify(f"{len(templates)} content templates read from Twilio.", markup=False)

    # -- actions -------------------------------------------------------------------------------------

    def action_send(self, mode: str | None = None) -> None:
        panel = self.query_one(OutboundPanel)
        self._send(SendMode(mode) if mode else panel.mode)

    @on(OutboundPanel.SendRequested)
    def _send_requested(self, event: OutboundPanel.SendRequested) -> None:
        self._send(event.mode)

    def _send(self, mode: SendMode) -> None:
        panel = self.query_one(OutboundPanel)
        if panel.sending or panel.disabled:
            return  # a second press while a send runs sends nothing
        if self.session is None:
            panel.show_status(f"{self.not_connected}. The draft is kept.", "error")
            return
        if panel.offline_as is not None:
            panel.refuse_offline(self.key_names()["become_available"])
            return
        problem = panel.problem()
        if problem is not None:
            panel.refuse(problem)
            return
        if panel.already_sent:
            panel.refuse("This message may have gone out already; Twilio is being asked: change it to send it "
                         "again now." if panel.unknown_send_id else
                         "This message went out already: change it (or the number) to send again.")
            return
        panel.set_sending(True)
        panel.show_status(f"Sending ({MODE_LABELS[mode].lower()})…", "progress")
        self._run_send(mode, panel.draft_version)

    @work(group="send")
    async def _run_send(self, mode: SendMode, version: int) -> None:
        assert self.session is not None
        panel = self.query_one(OutboundPanel)
        payload = panel.payload(mode)
        try:
            result = await self.session.send(payload)
        except ActionVetoed as veto:
            panel.show_status(f"Not sent: {veto.reason}", "error")
        except OutboundError as error:
            panel.show_status(str(error), "error")
            self.notify(str(error), severity="error", markup=False)
            if isinstance(error, SendFailed) and error.reached_customer is None:  # it may have gone:
                panel.sent_version, panel.unknown_send_id = version, error.send_id  # not again until known
        else:
            sentence = sent_sentence(result)  # the number as the send parsed it, once
            panel.show_status(sentence, "success")
            self.notify(sentence, markup=False)
            self.current = result.message_sid
            self._show_current()
            panel.sent_version = version  # sent at most once until it is changed, whatever the setting
            if not self.settings.ui.keep_draft_after_send:
                panel.clear_draft()
        finally:
            panel.set_sending(False)

    async def action_toggle_panel(self) -> None:
        if self.session is not None:
            await self.session.bus.invoke(TOGGLE_OUTBOUND_MESSAGE_PANEL, {})
        else:
            await self._toggle_panel(TogglePanelPayload())

    async def _toggle_panel(self, payload: TogglePanelPayload) -> bool:
        panel = self.query_one(OutboundPanel)
        visible = (not panel.display) if payload.open is None else payload.open
        panel.display = visible
        return visible

    @work(exclusive=True, group="agent")
    async def action_become_available(self) -> None:
        await self._set_activity(None)

    async def _set_activity(self, name: str | None) -> None:
        if self.session is None:
            return
        try:
            if name is None:
                await self.session.become_available()
            else:
                await self.session.set_activity(name)
        except OutboundError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._show_agent()

    def action_help(self) -> None:
        keys = [(self.get_key_display(b), b.tooltip or b.description, b.id or "") for b in self._bindings_with_ids()]
        self.push_screen(HelpScreen(keys))

    def key_names(self, screen: Screen | None = None) -> dict[str, str]:
        """Binding id -> the key shown for it, as [ui.keys] remapped it: `screen`'s (default: the current one)
        and the app's. Text on screen that names a key takes it from here."""
        return {b.id or "": self.get_key_display(b) for b in self._bindings_with_ids(screen)}

    def _bindings_with_ids(self, screen: Screen | None = None) -> list[Binding]:
        """The screen's bindings (my chats has its own), then the app's: one per id, with the keys [ui.keys] gave
        them (BINDINGS keep the defaults)."""
        found: dict[str, Binding] = {}
        for item in (item for bindings in ((screen or self.screen)._bindings, self._bindings)
                     for items in bindings.key_to_bindings.values() for item in items):
            if item.id and item.id not in found:
                found[item.id] = replace(item, key=self.settings.ui.keys.get(item.id, item.key))
        return list(found.values())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        keys = self.key_names()
        yield SystemCommand("Toggle the message panel", f"Show or hide the outbound panel ({keys['toggle_panel']})",
                            self.action_toggle_panel)
        for mode, label in MODE_LABELS.items():
            yield SystemCommand(label, f"Send the draft: {SENT[mode]}", lambda m=mode: self.action_send(m.value))
        yield SystemCommand("Become Available",
                            f"Set your TaskRouter activity to Available ({keys['become_available']})",
                            self.action_become_available)
        for name in self.activity_names:
            yield SystemCommand(f"Change activity: {name}", f"Set your TaskRouter activity to {name}",
                                lambda n=name: self.run_worker(self._set_activity(n), group="agent", exclusive=True))
        yield SystemCommand("Refresh templates",
                            f"Read the WhatsApp content templates from Twilio again ({keys['refresh_templates']})",
                            lambda: self.action_load_templates(True))
        yield SystemCommand("Help", f"Keys and what they do ({keys['help']})", self.action_help)
        yield SystemCommand("Quit", f"Quit outbound-panel ({keys['quit']})", self.exit)

