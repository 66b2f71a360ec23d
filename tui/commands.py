"""`outbound-panel send`, `sends` and `templates`: the panel's send path for scripts and other tools — the same
core rules, action bus, journal and history — with one sentence (or one JSON object) out and an exit code.

Exit codes: 0 sent; 2 invalid input or settings (no Twilio request made); 3 refused (an open conversation, an
opted-out customer, a closed WhatsApp window, a template WhatsApp has not approved); 4 Twilio failed (the sentence and
`reached_customer` say whether anything reached the customer); 5 authentication failed.
No textual here: these commands draw nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from core.canned import fill, placeholder_values
from core.errors import AuthenticationFailed, ConversationInUse, InvalidSend, OutboundError, SendFailed
from core.models import Channel, SendMode, SendResult
from core.phone import display, parse_destination
from core.rules import REFUSALS, check_send
from core.settings import Settings
from tui.arguments import duration

if TYPE_CHECKING:
    from core.session import Session

OK, OUTPUT_LOST, INVALID, REFUSED, FAILED, AUTH = 0, 1, 2, 3, 4, 5
SENT = {SendMode.OPEN_CHAT: "chat task opened for you", SendMode.WAIT_ME: "the reply will be routed to you",
        SendMode.WAIT_ANY: "the reply will be routed to any agent"}


def sent_sentence(result: SendResult) -> str:
    """What a send says when it went, here and in the panel."""
    reused = " (existing conversation)" if result.reused else ""
    if result.holder == "you":
        went = "in your open chat"
    elif result.holder:  # the reply goes to that chat, whatever the mode asked
        went = f"in the open chat of {result.holder}, who gets the reply"
    else:
        went = SENT[result.mode]
    return f"Sent to {display(result.request.destination)}{reused}: {went}."


class Refused(Exception):
    """A command-line input that cannot be used: one line naming it, exit 2, no request made."""


class OutputLost(Exception):
    """stdout or stderr cannot be written (a closed pipe, a full disk): exit 1."""


def print_line(line: str) -> None:
    try:
        print(line, flush=True)
    except OSError as error:
        raise OutputLost(error.strerror or str(error)) from None


def error_line(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError as error:
        raise OutputLost(error.strerror or str(error)) from None


def add_commands(commands: Any) -> None:
    """The subcommands, on the main parser's subparsers."""
    send = commands.add_parser(
        "send", help="send one message through the panel's path (exit codes: 0 sent, 2 invalid, 3 refused, "
        "4 Twilio failed, 5 authentication)",
        description="Send one SMS or WhatsApp message as the configured agent, with the panel's rules, journal "
        "and history. Exit codes: 0 sent; 2 invalid input or settings (nothing sent to Twilio); 3 refused (an "
        "open conversation, opted out, WhatsApp window closed); 4 Twilio failed (the sentence says whether "
        "anything reached the customer); 5 authentication failed.")
    send.add_argument("--to", required=True, metavar="NUMBER", help="the customer's number (+country code, or "
                      "national in [ui] phone_region)")
    what = send.add_mutually_exclusive_group(required=True)
    what.add_argument("--body", metavar="TEXT", help="the message")
    what.add_argument("--canned", type=int, metavar="N", help="canned message N (1 = the first in settings)")
    what.add_argument("--template", metavar="NAME|HX…", help="a WhatsApp content template, by name or SID")
    send.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                      help="a --template variable, or a --canned message's {placeholder}; repeatable")
    send.add_argument("--channel", choices=[c.value for c in Channel], help="sms (default) or whatsapp")
    send.add_argument("--from", dest="sender", metavar="NUMBER", help="the sender (default: the first configured)")
    send.add_argument("--mode", choices=[m.value for m in SendMode], help="default: [ui] default_mode")
    send.add_argument("--json", action="store_true", help="print one JSON object (with --follow: JSON lines)")
    send.add_argument("--follow", action="store_true", help="print status events until the message is delivered "
                      "(open_chat) or the reply is with an agent; exit 4 if it fails")
    send.add_argument("--follow-timeout", type=duration, default=600.0, metavar="SECONDS",
                      help="stop following after this long (default 600)")
    for name, helped in (("sends", "my outbound messages, newest first (what F4 shows)"),
                         ("templates", "the WhatsApp content templates and their approval")):
        listing = commands.add_parser(name, help=helped, description=helped)
        listing.add_argument("--json", action="store_true", help="print JSON lines, one per item")


async def run(args: argparse.Namespace, settings: Settings, out: Callable[[str], None] = print_line,
              err: Callable[[str], None] = error_line) -> int:
    """send, sends, templates: one sentence (or JSON) on `out`, a failure on `err` (on `out` with --json), and the
    exit code it means."""
    from tui.cli import SimulatorFailed

    as_json = bool(getattr(args, "json", False))
    try:
        if args.command != "send":
            return await listing(args.command, settings, as_json, out, err)
        payload = draft(args, settings)  # refused here: no Twilio request made
        return await send(args, settings, payload, out, err)
    except (OutboundError, Refused) as error:
        if as_json:
            out(failure(error, True, args.command == "send"))
        else:
            err(f"outbound-panel: {failure(error, False)}")
        return exit_code(error)
    except SimulatorFailed as error:
        err(f"outbound-panel: {error}")
        return INVALID
    except OutputLost as lost:  # what happened is in the history: `sends` says it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        with contextlib.suppress(OutputLost):
            err(f"outbound-panel: could not write the result ({lost}); `outbound-panel sends` shows what went")
        return OUTPUT_LOST


# -- send ---------------------------------------------------------------------------------------------------


def draft(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The action's payload from the arguments, checked by core.rules as far as no Twilio call is needed;
    Refused (exit 2) or InvalidSend (its field says which) when it cannot go."""
    if args.template and args.channel == Channel.SMS.value:
        raise Refused("--template: content templates go over WhatsApp; leave out --channel sms")
    channel = Channel(args.channel or ("whatsapp" if args.template else "sms"))
    senders = settings.senders.sms if channel is Channel.SMS else settings.senders.whatsapp
    if not senders:
        given = f"--channel {channel.value}" if args.channel else "--template (a WhatsApp message)"
        raise Refused(f"{given}: no {channel.value} sender is configured ([senders] {channel.value} in settings)")
    if args.sender is not None and not args.sender.strip():
        raise Refused(f"--from is empty: give one of the senders ({', '.join(display(s) for s in senders)})")
    sender = args.sender or senders[0]
    check_body = args.body
    variables: dict[str, str] = {}
    for item in args.var:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise Refused(f"--var {item!r}: expected KEY=VALUE, e.g. --var first_name=Jane")
        if key.strip() in variables:
            raise Refused(f"--var {key.strip()} is given twice: which value is meant?")
        variables[key.strip()] = value
    if variables and args.body is not None:
        raise Refused("--var fills in a --template's variables or a --canned message's {placeholders}, not --body")
    body = args.body
    if args.canned is not None:
        canned = settings.canned.sms if channel is Channel.SMS else settings.canned.whatsapp
        if not 1 <= args.canned <= len(canned):
            raise Refused(f"--canned {args.canned}: there are {len(canned)} canned {channel.value} messages "
                          f"(1 to {len(canned)}).")
        body = fill(canned[args.canned - 1], variables)  # e.g. --var customer_name=Jane
        variables = {}
        # the agent's name is filled in once connected; what is still in {braces} then, the rules refuse
        check_body = fill(body, {"agent_name": "Agent", "agent_first_name": "Agent", "customer_number": args.to})
    mode = SendMode(args.mode or settings.ui.default_mode)
    template_sid = args.template if args.template and args.template.startswith("HX") else None
    # what can be checked before any request (a template named, not by SID, is looked up once connected)
    refused = check_send(settings, channel=channel, destination=args.to, sender=sender, mode=mode,
                         body=check_body if not args.template else None,
                         content_sid=template_sid or ("HX" + "0" * 32 if args.template else None),
                         content_variables=variables or None)
    if refused is not None:
        raise refused
    return {"destination": args.to, "callerId": sender, "channel": channel.value, "body": body,
            "contentTemplateSid": template_sid, "contentVariables": variables, "sendMode": mode}


async def send(args: argparse.Namespace, settings: Settings, payload: dict[str, Any],
               out: Callable[[str], None], err: Callable[[str], None] = error_line) -> int:
    """Connects (the embedded simulator when no credentials are set), then sends as the panel does."""
    from core import retry
    from core.rules import offline

    async with _session(settings, err) as session:
        if not session.agent.available:  # what the panel refuses too
            raise offline(session.agent.activity_name)
        customer_number = parse_destination(payload["destination"], settings.ui.phone_region)
        if args.canned is not None:  # what the panel fills in: the agent's name, the customer's number
            payload["body"] = fill(payload["body"], placeholder_values(session.agent.full_name,
                                                                        display(customer_number)))
        if args.template and not payload["contentTemplateSid"]:
            payload["contentTemplateSid"] = await _template_sid(session, args.template)
        await retry.read(session.templates)  # the rules check approval and variables with them
        await retry.read(lambda: session.customer_status(payload["channel"], customer_number, payload["callerId"]))
        result = await session.send(payload)
        record = session.history.get(result.message_sid)
        sentence = sent_sentence(result)
        out(json.dumps({"sent": True, "send_id": result.request.send_id, "message_sid": result.message_sid,
                        "conversation_sid": result.conversation_sid, "task_sid": result.task_sid,
                        "mode": result.mode.value, "state": record.state if record else "sent",
                        "sentence": sentence}) if args.json else sentence)
        if args.follow:
            return await _follow(session, result, args, out)
    return OK


@contextlib.asynccontextmanager
async def _session(settings: Settings, err: Callable[[str], None], resume: bool = False) -> AsyncIterator[Session]:
    """The agent's session for one command; what a crash left behind is said on `err` first (as the panel does).
    `resume`: the unfinished sends of earlier runs are followed too (a one-shot command needs them rarely)."""
    from tui.cli import connect

    async with connect(settings, resume=resume) as (session, _):
        for sentence in session.recovered:
            err(f"outbound-panel: {sentence}")
        yield session


async def _template_sid(session: Session, name: str) -> str:
    from core import retry

    templates = await retry.read(session.templates)
    found = [t for t in templates if t.name == name]
    if not found:
        names = ", ".join(sorted({t.name for t in templates})) or "none"
        raise Refused(f"--template {name}: there is no content template of that name; the templates are: {names}.")
    return found[0].sid


async def _follow(session: Session, result: SendResult, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    """Prints each status event of the send until its part is done: the message delivered (open_chat) or the
    reply with an agent (the wait modes); or it failed (exit 4); or --follow-timeout passed."""
    import asyncio

    from core.events import MessageStatusChanged, TaskStatusChanged
    from core.status_text import event_line

    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    delivered = False

    def seen(record: Any, event: Any) -> None:
        nonlocal delivered
        if record.message_sid != result.message_sid or done.done():
            return
        line = event_line(event, session.agent.sid)
        out(json.dumps({"at": event.at.isoformat(), "event": event.type, "text": line, "state": record.state})
            if args.json else f"{event.at.astimezone():%H:%M:%S}  {line}")
        failed = isinstance(event, MessageStatusChanged) and event.status in ("failed", "undelivered")
        delivered = delivered or (isinstance(event, MessageStatusChanged) and event.status in ("delivered", "read"))
        replied_to_agent = isinstance(event, TaskStatusChanged) and event.status in ("reserved", "assigned") \
            and result.mode is not SendMode.OPEN_CHAT
        if failed:
            done.set_result(FAILED)
        elif record.finished or replied_to_agent or (delivered and result.mode is SendMode.OPEN_CHAT):
            done.set_result(OK)

    session.subscribe(seen)
    try:
        return await asyncio.wait_for(done, args.follow_timeout)
    except TimeoutError:
        record = session.history.get(result.message_sid)
        line = f"Stopped following after {args.follow_timeout:g} s: {record.state if record else 'sent'}."
        out(json.dumps({"event": "stopped", "text": line}) if args.json else line)
        return OK


def exit_code(error: BaseException) -> int:
    """What an error means for a script."""
    if isinstance(error, AuthenticationFailed):
        return AUTH
    if isinstance(error, ConversationInUse) or (isinstance(error, InvalidSend) and error.field in REFUSALS):
        return REFUSED
    if isinstance(error, (InvalidSend, Refused)):
        return INVALID
    return FAILED


def failure(error: OutboundError | Refused, as_json: bool, sending: bool = True) -> str:
    """The line a failed command prints: the sentence, or one JSON object (for send: whether it reached the
    customer)."""
    if not as_json:
        return str(error)
    said: dict[str, Any] = {"error": str(error), "exit_code": exit_code(error)}
    if sending:
        reached = error.reached_customer if isinstance(error, SendFailed) else False
        said = {"sent": False, **said, "reached_customer": reached, "field": getattr(error, "field", None)}
    return json.dumps(said)


# -- sends, templates ---------------------------------------------------------------------------------------


async def listing(command: str, settings: Settings, as_json: bool, out: Callable[[str], None],
                  err: Callable[[str], None] = error_line) -> int:
    from core import retry

    async with _session(settings, err, resume=command == "sends") as session:
        if command == "sends":
            await session.watcher.stop()  # one look at each unfinished send, here, then the list (what F4 shows)
            if session.watcher.following:
                with contextlib.suppress(OutboundError):
                    await session.watcher.tick()
            if not session.history.sends() and not as_json:
                out("No outbound messages yet.")
            for record in session.history.sends():
                request = record.result.request
                out(json.dumps({"sent_at": record.sent_at.isoformat(), "to": request.destination,
                                "channel": request.channel.value, "mode": record.result.mode.value,
                                "state": record.state, "message_sid": record.message_sid,
                                "conversation_sid": record.conversation_sid}) if as_json else
                    f"{record.sent_at.astimezone():%Y-%m-%d %H:%M}  {display(request.destination):<18} "
                    f"{request.channel.value:<8} {record.state}")
        else:
            for template in await retry.read(session.templates):
                out(json.dumps({"sid": template.sid, "name": template.name, "language": template.language,
                                "whatsapp_status": template.whatsapp_status, "variables": template.placeholders})
                    if as_json else f"{template.name} ({template.language})  {template.whatsapp_status}  {template.sid}")
    return OK
