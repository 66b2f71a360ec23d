"""F6: my chats — every chat task offered to or assigned to me, read from TaskRouter; the chosen one's transcript,
a reply box, and the keys that accept, end and complete it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.containers import Horizontal
from textual.widgets import Footer, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from core.rules import check_reply
from core.errors import OutboundError, SendFailed
from core.events import CustomerReplied, StatusEvent, TaskStatusChanged
from tui.screens.hand_over import HandOverScreen
from tui.text import literal
from tui.widgets.message_body import MessageBody
from tui.widgets.template_form import TemplateForm
from tui.widgets.transcript import Transcript, customer_label

if TYPE_CHECKING:
    from core.chats import Chat, ChatMessage, Colleague, HandOver
    from core.customer import CustomerStatus
    from core.session import Session
    from core.templates import ContentTemplate

REPLY_LOOKUPS, REPLY_LOOKUP_EVERY = 4, 15.0  # a reply of unknown outcome: looked for again every 15 s, for a minute
STATE_WORDS = {"offered": "offered to you", "talking": "talking", "wrap-up": "wrap-up"}
CHANNELS = {"sms": "SMS", "whatsapp": "WhatsApp"}


class WorkspaceScreen(Screen[None]):
    """Bindings (ids remappable under [ui.keys]): up/down choose a chat and enter opens it (the list's own),
    ctrl+s sends the reply, f7 ends the chat and, in wrap-up, completes the task, f8 accepts a chat offered to
    me, f9 hands the chat over to a colleague or a queue, f5 reads the chats again, f10 loads older messages,
    escape / f6 go back."""

    BINDINGS = [
        Binding("escape,f6", "dismiss(None)", "Back", id="close_workspace", priority=True,
                tooltip="Back to the panel"),
        Binding("ctrl+s", "reply", "Reply", id="reply", priority=True, tooltip="Send the reply, as you"),
        # priority: the reply box (TextArea) binds f7 to "select all" for itself
        Binding("f7", "end_or_complete", "End", id="end_chat", priority=True,
                tooltip="End the chat; in wrap-up, complete the task"),
        Binding("f8", "accept", "Accept", id="accept_chat", tooltip="Accept the chat offered to you"),
        Binding("f5", "refresh", "Refresh", id="refresh_chats", show=False, tooltip="Read my chats again"),
        Binding("f9", "hand_over", "Hand over", id="hand_over", tooltip="Hand the chat over to a colleague or a queue"),
        Binding("f10", "older", "Older", id="older_messages", show=False, tooltip="Older messages of the chat"),
    ]

    def __init__(self, session: Session, cursor_blink: bool = False) -> None:
        super().__init__(id="workspace")
        self.session = session
        self.desk = session.chats
        self.cursor_blink = cursor_blink
        self.chats: dict[str, Chat] = {}  # by task SID, in the list's order
        self.open: Chat | None = None
        self.messages: list[ChatMessage] = []
        self.handing: dict[str, HandOver] = {}  # chats offered to a colleague, by the invite's task SID
        self.acting = False  # a reply, end, accept or hand-over is on its way
        self.closed = False  # the open chat's conversation was closed (by the customer, a supervisor): read-only
        self.customer: CustomerStatus | None = None  # the open chat's customer: WhatsApp window, opt-out
        self.templates: list[ContentTemplate] = []  # approved ones, offered while the WhatsApp window is closed
        self._last_hint: tuple[str, str] = ("", "")  # the chat and the keys' hint last shown for it
        self.maybe_sent: tuple[str, str] | None = None  # (conversation, text) of a reply whose fate Twilio left open

    def compose(self) -> ComposeResult:
        yield Static("Reading your chats from TaskRouter…", id="workspace-title", markup=False)
        yield OptionList(id="chats")
        yield Transcript()
        yield MessageBody()  # the reply: the panel's box, with its character and SMS segment count
        with Horizontal(id="reply-template-row", classes="row"):  # instead of it while the WhatsApp window is closed
            yield Static("Template", classes="label")
            yield Select([], id="reply-template", prompt="Choose an approved template", compact=True)
        yield TemplateForm()
        yield Static(id="chat-status", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one(MessageBody)
        box.border_title = "Reply"
        reply = box.query_one("#body", TextArea)
        reply.cursor_blink = self.cursor_blink
        reply.placeholder = "Type the reply"
        self.query_one(OptionList).focus()
        self.action_refresh()

    # -- the list ----------------------------------------------------------------------------------------

    @work(exclusive=True, group="chats")
    async def action_refresh(self) -> None:
        try:
            chats = await self.desk.my_chats()
        except OutboundError as error:
            self._say(f"Could not read your chats: {error}", "error")
            return
        self.chats = {chat.task_sid: chat for chat in chats}
        self.session.follow_chats(chats)  # their customers' messages come as the status watcher sees them
        self._show_rows()
        keys = self._keys()
        self.query_one("#workspace-title", Static).update(
            f"My chats ({len(chats)}): Enter opens one · {keys['refresh_chats']} reads them again" if chats
            else f"No chats offered to you or assigned to you. {keys['close_workspace']} goes back to the panel.")
        if self.open is not None:
            gone, self.open = self.open, self.chats.get(self.open.task_sid)
            if self.open is None:
                self.messages = []
                self._show_transcript()
                await self._say_where_it_went(gone)
            else:
                self._load_transcript()

    async def _say_where_it_went(self, chat: Chat) -> None:
        try:
            self._say(await self.desk.where_it_went(chat), "")
        except OutboundError as error:
            self._say(f"The chat with {customer_label(chat)} is no longer yours ({error}).", "")

    def _show_rows(self) -> None:
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        listing.add_options([Option(_row(chat, self.session.unread.get(chat.conversation_sid, 0)), id=chat.task_sid)
                             for chat in self.chats.values()])
        if self.chats:
            listing.highlighted = min(highlighted or 0, len(self.chats) - 1)

    @on(OptionList.OptionSelected, "#chats")
    def _chosen(self, selected: OptionList.OptionSelected) -> None:
        self.open = self.chats.get(selected.option.id or "")
        self.messages = []
        self._load_transcript()
        if self.open is not None and self.open.state == "talking":
            self.query_one("#body", TextArea).focus()

    # -- the open chat -------------------------------------------------------------------------------------

    @work(exclusive=True, group="transcript")
    async def _load_transcript(self) -> None:
        chat = self.open
        if chat is None:
            return
        try:
            messages, closed, customer = await asyncio.gather(self.desk.transcript(chat), self.desk.is_closed(chat),
                                                              self.desk.customer(chat, self.session.watcher.wall()))
        except OutboundError as error:
            self._say(f"Could not read the conversation: {error}", "error")
            return
        if self.open is not chat:
            return  # another chat was opened meanwhile, or this one left the list
        self.messages, self.closed, self.customer = messages, closed, customer
        box = self.query_one("#body", TextArea)
        box.disabled = closed
        if chat.conversation_sid in self.session.drafts and not box.text:
            box.text = self.session.drafts.pop(chat.conversation_sid)  # a reply a crash kept from going
        await self._offer_templates(chat.channel == "whatsapp" and customer is not None
                                    and not customer.window_open(self.session.watcher.wall()))
        self.query_one(MessageBody).set_channel_sms(chat.channel == "sms")
        if self.session.unread.pop(chat.conversation_sid, 0):
            self._show_rows()
        self._show_transcript()
        hint = (chat.task_sid, self._hint())
        if hint != self._last_hint:  # the chat or its state changed: what the keys do now comes first
            self._say(hint[1], "")    # (a sentence about a reply or an end stays while the chat is the same)
            self._last_hint = hint
        self.refresh_bindings()

    async def _offer_templates(self, window_closed: bool) -> None:
        """While the WhatsApp window is closed, approved templates and their variables take the reply box's
        place: free text would not reach the customer."""
        if window_closed and not self.templates:
            try:
                self.templates = [t for t in await self.session.catalog.templates() if t.approved]
            except OutboundError as error:
                self._say(f"Could not read the templates: {error}", "error")
            self.query_one("#reply-template", Select).set_options(
                [(f"{t.name} ({t.language})", t.sid) for t in self.templates])
        body = self.query_one(MessageBody)
        moved = window_closed and self.focused is body.query_one("#body")
        body.display = not window_closed
        self.query_one("#reply-template-row").display = window_closed
        self.query_one(TemplateForm).display = window_closed
        if moved:
            self.query_one("#reply-template", Select).focus()

    @property
    def template(self) -> ContentTemplate | None:
        """The template chosen to reply with (only while the WhatsApp window is closed), else None: free text."""
        if not self.query_one("#reply-template-row").display:
            return None
        chosen = self.query_one("#reply-template", Select).value
        return next((t for t in self.templates if t.sid == chosen), None)

    @on(Select.Changed, "#reply-template")
    async def _template_chosen(self) -> None:
        await self.query_one(TemplateForm).show(self.template)

    @work(exclusive=True, group="transcript")
    async def action_older(self) -> None:
        chat = self.open
        if chat is None or not self.messages:
            return
        try:
            older = await self.desk.transcript(chat, before=self.messages[0].index)
        except OutboundError as error:
            self._say(f"Could not read older messages: {error}", "error")
            return
        if self.open is not chat:
            return
        if not older:
            self._say("That is the beginning of the conversation.", "")
            return
        self.messages = older + self.messages
        self._show_transcript(scroll_end=False)

    def _show_transcript(self, scroll_end: bool = True) -> None:
        self.query_one(Transcript).show(self.open, self.messages, scroll_end)

    def _one_at_a_time(self, action: Callable[[], Awaitable[None]]) -> None:
        """A chat action (reply, end, accept, hand over) runs alone: a key pressed while one is on its way does
        nothing (a second reply would post twice; cancelling the first would leave its outcome unknown)."""
        if self.acting:
            return
        self.acting = True
        self.run_worker(self._acting(action), group="chat-action")

    async def _acting(self, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        finally:
            self.acting = False

    def action_reply(self) -> None:
        self._one_at_a_time(self._reply)

    async def _reply(self) -> None:
        box = self.query_one("#body", TextArea)
        chat, body = self.open, box.text
        if chat is None or chat.state != "talking" or self.closed:
            self._say("Open a chat you are talking in to reply.", "error")
            return
        template, values = self.template, self.query_one(TemplateForm).values
        refused = check_reply(chat, body, self.customer, self.session.watcher.wall(), template, values)
        problem = str(refused) if refused else None
        draft = (chat.conversation_sid, template.render(values) if template else body)
        if problem is None and draft == self.maybe_sent:
            problem = "This reply may have gone already: change it to send it again."
        if problem is not None:
            self._say(problem, "error")  # nothing is sent
            return
        self._say("Sending…", "progress")
        try:
            await self.desk.reply(chat, body, send_id=(send_id := uuid.uuid4().hex), template=template, values=values)
        except OutboundError as error:
            self._say(str(error), "error")  # the draft stays in the box
            if isinstance(error, SendFailed) and error.reached_customer is None:
                self.maybe_sent = draft  # not twice unless changed, and looked up again meanwhile
                self._settle_reply(chat, send_id, draft)
            return
        if template is None:
            box.clear()
        else:
            self.query_one("#reply-template", Select).clear()  # sent: a second press sends nothing
        self._load_transcript()

    @work(group="settle-reply")
    async def _settle_reply(self, chat: Chat, send_id: str, draft: tuple[str, str]) -> None:
        """Looks for a reply whose outcome was unknown a little later, until found or a minute has passed; then
        says which, and the draft either goes (it reached the conversation) or may be sent again."""
        for attempt in range(REPLY_LOOKUPS):
            await asyncio.sleep(REPLY_LOOKUP_EVERY)
            try:
                landed = await self.desk.settle_reply(chat, send_id, give_up=attempt == REPLY_LOOKUPS - 1)
            except OutboundError:
                continue  # Twilio still failing: the next look-up (and the next start) will tell
            if landed is None:
                continue
            if self.maybe_sent == draft:
                self.maybe_sent = None
            if landed:
                if self.open is not None and self.open.conversation_sid == chat.conversation_sid:
                    box = self.query_one("#body", TextArea)
                    if box.text == draft[1]:
                        box.clear()
                    self._load_transcript()
                self._say(f"Your reply to {customer_label(chat)} had reached the conversation.", "")
            else:
                self._say(f"Your reply to {customer_label(chat)} did not reach the conversation: send it again.",
                          "error")
            return

    def action_end_or_complete(self) -> None:
        self._one_at_a_time(self._end_or_complete)

    async def _end_or_complete(self) -> None:
        chat = self.open
        if chat is None:
            return
        try:
            if chat.state == "talking" and not self.closed:
                await self.desk.end(chat)
                done = "Chat ended: the conversation is closed for the customer."
            elif chat.state == "wrap-up" or self.closed:
                await self.desk.complete(chat)
                done, self.open, self.messages = "Task completed: you are free for the next chat.", None, []
                self._show_transcript()
            else:
                return
        except OutboundError as error:
            self._say(str(error), "error")
            return
        self._say(done, "")
        self.action_refresh()

    def action_accept(self) -> None:
        self._one_at_a_time(self._accept)

    async def _accept(self) -> None:
        chat = self.open
        if chat is None or chat.state != "offered":
            return
        try:
            await self.desk.accept(chat)
        except OutboundError as error:
            self._say(str(error), "error")
            return
        self.query_one("#body", TextArea).focus()  # accepted: the next key is the reply's
        self.action_refresh()

    def action_hand_over(self) -> None:
        self._one_at_a_time(self._hand_over)

    async def _hand_over(self) -> None:
        chat = self.open
        if chat is None or chat.state != "talking":
            self._say("Open a chat you are talking in to hand it over.", "error")
            return
        try:
            colleagues = await self.desk.colleagues()
        except OutboundError as error:
            self._say(f"Could not read your colleagues: {error}", "error")
            return
        chosen = await self.app.push_screen_wait(HandOverScreen(customer_label(chat), colleagues))
        if chosen is not None:
            await self._offer_to(chat, chosen)

    async def _offer_to(self, chat: Chat, to: Colleague) -> None:
        try:
            handed = await self.desk.hand_over(chat, to)
        except OutboundError as error:
            self._say(str(error), "error")
            return
        self.handing[handed.task_sid] = handed
        self.session.watcher.follow_chat(chat.conversation_sid, chat.customer, handed.task_sid)  # to see them take it
        self._say(f"Offered to {to.name}: the chat stays yours until they accept.", "progress")

    @work(group="hand-over")
    async def _check_hand_over(self, task_sid: str) -> None:
        handed = self.handing.get(task_sid)
        if handed is None:
            return
        try:
            done = await self.desk.hand_over_done(handed)
        except OutboundError as error:
            self._say(f"Could not check the hand-over: {error}", "error")
            return
        if done is None:
            return
        del self.handing[task_sid]
        if done == "accepted":
            if self.open is not None and self.open.task_sid == handed.chat.task_sid:
                self.open, self.messages = None, []
                self._show_transcript()
            self._say(f"Handed over: {handed.to.name} has the chat with {customer_label(handed.chat)}.", "")
        else:
            self._say(f"{handed.to.name} did not take the chat ({done}): it is still yours.", "error")
        self.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept":  # in the footer only while the open chat is offered to me
            return self.open is not None and self.open.state == "offered"
        return True

    def chat_event(self, event: StatusEvent) -> None:
        """What the status watcher saw in one of my chats: a customer's message (shown in the open chat, counted
        as unread in the others), or its task changing (the list read again)."""
        if isinstance(event, CustomerReplied):
            if self.open is not None and self.open.conversation_sid == event.conversation_sid:
                self._load_transcript()
            else:
                self._show_rows()
        elif isinstance(event, TaskStatusChanged):
            if event.task_sid in self.handing:
                self._check_hand_over(event.task_sid)
            else:
                self.action_refresh()

    def _hint(self) -> str:
        keys = self._keys()
        if self.open is None:
            return ""
        if self.closed and self.open.state == "talking":
            return f"The conversation was closed (by the customer or a supervisor): read-only. " \
                   f"{keys['end_chat']} completes the task."
        if self.open.state == "talking" and self.query_one("#reply-template-row").display:
            return f"The WhatsApp window is closed: choose an approved template; {keys['reply']} sends it · " \
                   f"{keys['end_chat']} ends the chat"
        return {"offered": f"Offered to you: {keys['accept_chat']} accepts.",
                "talking": f"{keys['reply']} sends the reply · {keys['end_chat']} ends the chat · "
                           f"{keys['hand_over']} hands it over · {keys['older_messages']} older messages",
                "wrap-up": f"Wrap-up: {keys['end_chat']} completes the task."}[self.open.state]

    def _keys(self) -> dict[str, str]:
        """Key names as [ui.keys] remapped them (the app knows the keymap)."""
        return self.app.key_names(self)  # type: ignore[attr-defined]

    def _say(self, sentence: str, kind: str) -> None:
        status = self.query_one("#chat-status", Static)
        status.update(sentence)
        status.set_classes(kind)


def _row(chat: Chat, unread: int) -> Text:
    """One line, cut with … rather than wrapped: who, channel, state, since when, unread messages."""
    who = customer_label(chat)
    since = chat.since.astimezone().strftime("%H:%M") if chat.since else ""
    row = Text.assemble(literal(f"{who:<24}"), " ", f"{CHANNELS.get(chat.channel, chat.channel):<8} ",
                        literal(f"{STATE_WORDS[chat.state]:<14}", "bold"), (f" since {since}", "dim"),
                        (f"  {unread} unread", "bold reverse") if unread else "")
    row.no_wrap, row.overflow = True, "ellipsis"
    return row
