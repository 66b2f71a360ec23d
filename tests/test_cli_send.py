"""`outbound-panel send`, `sends`, `templates` (issue 14): the panel's send path for scripts — the same rules and
sentences, one line or one JSON object out, and exit codes a script can branch on. Bad input is refused before any
Twilio request."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import InvalidSend
from core.links import Prefill
from core.models import Channel, SendResult, prepare_send
from core.session import open_session
from core.settings import Settings
from sim import seed
from sim.customers import reply_text
from sim.server import Simulator
from sim.world import SimConfig
from tests.outbound_fixtures import JANE, SMS_SENDER, project_settings, settings_for
from tui import cli, commands
from tui.cli import _parser

ROOT = Path(__file__).resolve().parents[1]


def args(*argv: str):  # type: ignore[no-untyped-def]
    return _parser().parse_args(["send", *argv])


@pytest.mark.parametrize(("argv", "code", "said"), [
    (["--to", "12", "--body", "hi"], 2, "12 is not a valid phone number: it is too short."),
    (["--to", "4155550100", "--body", " "], 2, "Write a message before sending."),
    (["--to", "4155550100", "--canned", "9"], 2, "--canned 9: there are 3 canned sms messages (1 to 3)."),
    (["--to", "4155550100", "--canned", "1"], 2, "Replace {customer_name} in the message before sending."),
    (["--to", "4155550100", "--body", "x", "--var", "a=b"], 2,
     "--var fills in a --template's variables or a --canned message's {placeholders}, not --body"),
    (["--to", "4155550100", "--body", "x", "--from", ""], 2,
     "--from is empty: give one of the senders (+1 501-712-2661, +1 501-712-2662)"),
    (["--to", "4155550100", "--template", "order_update", "--channel", "sms"], 2,
     "--template: content templates go over WhatsApp; leave out --channel sms"),
    (["--to", "4155550100", "--template", "order_update", "--var", "a=1", "--var", "a=2"], 2,
     "--var a is given twice: which value is meant?"),
    (["--to", "4155550100", "--template", "order_update", "--var", "nokey"], 2,
     "--var 'nokey': expected KEY=VALUE, e.g. --var first_name=Jane"),
    (["--to", "4155550100", "--body", "hi", "--from", "+15550000000"], 2,
     "+1 555-000-0000 is not an SMS sender here (senders: +1 501-712-2661, +1 501-712-2662)."),
])
def test_bad_input_is_refused_with_the_panels_sentence_before_any_request(
        tmp_path: Path, argv: list[str], code: int, said: str) -> None:
    settings = project_settings(tmp_path)
    with pytest.raises((InvalidSend, commands.Refused)) as refused:
        commands.draft(args(*argv), settings)  # no connection is made before this passes
    assert str(refused.value) == said
    assert commands.exit_code(refused.value) == code


async def test_a_send_prints_one_json_object_with_the_panels_sentence(
        sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    out: list[str] = []
    parsed = args("--to", "+1 (415) 555-0100", "--body", "From a script", "--json", "--mode", "wait_any")
    mark = len(sim.world.log)
    assert await commands.send(parsed, settings, commands.draft(parsed, settings), out.append) == commands.OK
    [line] = out
    sent = json.loads(line)
    assert sent["sent"] is True and sent["mode"] == "wait_any"
    assert sent["sentence"] == "Sent to +1 415-555-0100: the reply will be routed to any agent."
    posts = sim.world.log.matching("POST")
    assert [e.path for e in posts if e in sim.world.log[mark:]][0] == "/v1/ConversationWithParticipants"
    conversation = sim.world.conversations.conversation(sent["conversation_sid"])
    assert [m.body for m in conversation.messages if m.author != JANE.address] == ["From a script"]


async def test_an_opted_out_customer_is_refused_with_exit_3_and_nothing_posted(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    parsed = args("--to", "+14155550103", "--body", "Hi")
    mark = len(sim.world.log)
    with pytest.raises(InvalidSend) as refused:
        await commands.send(parsed, settings, commands.draft(parsed, settings), print)
    assert commands.exit_code(refused.value) == commands.REFUSED
    assert "opted out" in str(refused.value)
    assert [e for e in sim.world.log[mark:] if e.method == "POST"] == []


def test_the_command_sends_on_the_embedded_simulator_and_a_bad_argument_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path),
               XDG_STATE_HOME=str(tmp_path))
    run = [sys.executable, "-m", "tui.cli", "send"]
    sent = subprocess.run([*run, "--to", "4155550100", "--body", "Hi", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0 and json.loads(sent.stdout)["sent"] is True, sent.stderr
    bad = subprocess.run([*run, "--to", "4155550100", "--body", "Hi", "--mode", "fast"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "--mode" in bad.stderr and "'fast'" in bad.stderr


# -- click-to-message: a LINK or --to/--body/--channel open the panel with a draft ---------------------------


def opened_with(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[int, list[Prefill | None]]:
    """main(argv) with the app replaced by what it was asked to open with."""
    opened: list[Prefill | None] = []

    async def app(settings: object, warnings: object, prefill: Prefill | None = None) -> int:
        opened.append(prefill)
        return 0

    monkeypatch.setattr(cli, "_run_app", app)
    return cli.main(argv), opened


@pytest.mark.parametrize(("argv", "draft"), [
    (["sms:+14155550100?body=Hi%20there"], Prefill(Channel.SMS, "+14155550100", "Hi there")),
    (["--agent", "Bob Smith", "https://wa.me/14155550100?text=Hi"], Prefill(Channel.WHATSAPP, "+14155550100", "Hi")),
    (["--agent=Bob Smith", "whatsapp:+14155550100"], Prefill(Channel.WHATSAPP, "+14155550100", "")),
    (["--to", "(415) 555-0100", "--body", "Hi", "--channel", "whatsapp"],
     Prefill(Channel.WHATSAPP, "(415) 555-0100", "Hi")),
    (["--body", "Hi"], Prefill(None, "", "Hi")),
    ([], None),
])
def test_a_link_or_to_and_body_open_the_panel_with_the_draft(
        monkeypatch: pytest.MonkeyPatch, argv: list[str], draft: Prefill | None) -> None:
    assert opened_with(monkeypatch, argv) == (0, [draft])


@pytest.mark.parametrize(("argv", "said"), [
    (["snd"], "'snd' is not a command (sim, send, sends, templates, serve-ssh, relay) or a message link (sms:NUMBER?body=TEXT, "
              "whatsapp:NUMBER?body=TEXT or https://wa.me/NUMBER?text=TEXT)"),
    (["sms:+14155550100,+14155550101"], "'sms:+14155550100,+14155550101' names 2 numbers: the panel sends to one "
                                        "customer at a time"),
    (["--to", "4155550100", "sms:+14155550101"],
     "--to: the link 'sms:+14155550101' carries its own draft; give one or the other"),
    (["--to", "4155550100", "sends"], "--to before a command opens the panel with a draft: give it to open the "
                                      "panel, not with sends"),
    (["--body", "Hi", "send", "--to", "4155550100", "--body", "Hi"],
     "--body before a command opens the panel with a draft: give it after send"),
    (["sms:+14155550100", "templates"], "'sms:+14155550100': a link opens the panel alone, not with templates"),
    (["--channel", "fax"], "argument --channel: invalid choice: 'fax' (choose from "),  # quoting: Python's version
])
def test_a_link_or_draft_that_cannot_be_used_is_one_line_and_the_app_does_not_start(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], said: str) -> None:
    try:
        code, opened = opened_with(monkeypatch, argv)
    except SystemExit as exit:  # argparse's own refusals
        code, opened = int(str(exit.code)), []
    assert (code, opened) == (2, [])
    err = capsys.readouterr().err
    assert err.startswith(f"outbound-panel: {said}") and err.count("\n") == 1 and err.endswith("\n")


def test_a_whatsapp_link_without_a_whatsapp_sender_says_so(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OUTBOUND_PANEL_SENDERS__WHATSAPP", "[]")
    assert opened_with(monkeypatch, ["https://wa.me/14155550100"]) == (2, [])
    assert capsys.readouterr().err == ("outbound-panel: the link is for whatsapp, but no whatsapp sender is "
                                       "configured ([senders] whatsapp in settings)\n")


# -- every bad argument: one line naming it, exit 2, not one request to Twilio -------------------------------

TO = ["--to", "4155550100"]
BAD = [
    (["send", "--body", "Hi"], "--to"),
    (["send", *TO], "--body"),
    (["send", *TO, "--body", "Hi", "--template", "order_update"], "--template"),
    (["send", *TO, "--canned", "one"], "--canned"),
    (["send", *TO, "--body", "Hi", "--mode", "fast"], "--mode"),
    (["send", *TO, "--body", "Hi", "--channel", "fax"], "--channel"),
    (["send", *TO, "--body", "Hi", "--follow", "--loud"], "--loud"),
    (["send", "--to", "12", "--body", "Hi"], "12 is not a valid phone number"),
    (["send", "--to", "call me", "--body", "Hi"], "'call me' is not a phone number"),
    (["send", *TO, "--body", " "], "Write a message"),
    (["send", *TO, "--body", "x" * 1601], "1601 characters"),
    (["send", *TO, "--canned", "9"], "--canned 9"),
    (["send", *TO, "--canned", "1"], "{customer_name}"),
    (["send", *TO, "--body", "Hi", "--var", "a=b"], "--var"),
    (["send", *TO, "--template", "order_update", "--var", "nokey"], "--var 'nokey'"),
    (["send", *TO, "--template", "HX123"], "'HX123' is not a content template SID"),
    (["send", *TO, "--template", seed.TEMPLATES[1].sid, "--var", "order_id= "], "Fill in {{order_id}}"),
    (["send", *TO, "--body", "Hi", "--from", "+15550000000"], "+1 555-000-0000 is not an SMS sender"),
    (["sends", "--all"], "--all"),
    (["templates", "extra"], "extra"),
    (["--agent"], "--agent"),
]


@pytest.mark.real_time
@pytest.mark.parametrize(("argv", "named"), BAD, ids=[" ".join(argv)[:60] for argv, _ in BAD])
async def test_every_bad_argument_is_one_line_exit_2_and_no_request(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], named: str) -> None:
    async with Simulator(SimConfig()) as sim:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", seed.ACCOUNT_SID)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", seed.DEMO_AUTH_TOKEN)
        monkeypatch.setenv("TWILIO_BASE_URL", sim.base_url)
        try:
            code = await asyncio.to_thread(cli.main, argv)
        except SystemExit as exit:  # argparse's own refusals
            code = exit.code  # type: ignore[assignment]
        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert err.startswith("outbound-panel") and err.count("\n") == 1 and named in err, err
        assert list(sim.world.log) == []  # not one request reached the simulator


async def follow(sim: Simulator, settings: Settings, *argv: str, code: int = commands.OK) -> list[str]:
    """`send … --follow` while the simulator's clock moves: the lines it printed once it returned `code`."""
    parsed = args(*argv, "--follow")
    out: list[str] = []
    following = asyncio.create_task(commands.send(parsed, settings, commands.draft(parsed, settings), out.append))
    for _ in range(240):  # two simulated minutes at most
        if following.done():
            break
        await asyncio.sleep(0.5)  # virtual time: the watcher polls what the last step brought
        sim.world.clock.advance(0.5)
    assert await asyncio.wait_for(following, 1) == code
    return out


async def test_follow_of_an_open_chat_ends_once_the_message_is_delivered(sim: Simulator, tmp_path: Path) -> None:
    lines = await follow(sim, settings_for(sim, tmp_path), "--to", JANE.address, "--body", "Hi", "--mode", "open_chat")
    assert lines[-1].endswith("Delivered to the customer's phone")  # not at "Task offered to you", before it
    assert any(line.endswith("Task offered to you") for line in lines)


async def test_follow_of_a_message_that_fails_exits_4_with_why(sim: Simulator, tmp_path: Path) -> None:
    lines = await follow(sim, settings_for(sim, tmp_path), "--to", "+15005550009", "--body", "Hi", "--json",
                         code=commands.FAILED)
    last = json.loads(lines[-1])
    assert last["event"] == "message_status" and last["state"].startswith(("failed", "undelivered"))


async def test_follow_stops_after_its_timeout_and_says_so(sim: Simulator, tmp_path: Path) -> None:
    sim.world.config.customer_reply_delay = 3600.0  # Jane does not answer within the test
    lines = await follow(sim, settings_for(sim, tmp_path), "--to", JANE.address, "--body", "Hi",
                         "--follow-timeout", "20")
    assert lines[-1] == "Stopped following after 20 s: waiting for reply."


async def test_follow_json_prints_json_lines_until_the_reply_reaches_an_agent(sim: Simulator, tmp_path: Path) -> None:
    lines = await follow(sim, settings_for(sim, tmp_path), "--to", JANE.address, "--body", "Follow me", "--json",
                         "--mode", "wait_me")
    sent, *events = [json.loads(line) for line in lines]
    assert sent["sent"] is True and sent["mode"] == "wait_me"
    assert [e["text"] for e in events] == ["Message sent", "Delivered to the customer's phone",
                                           f"Customer replied: {reply_text(JANE.address, 'Follow me')}", "Task offered to you"]
    assert [e["event"] for e in events] == ["message_status", "message_status", "customer_replied", "task_status"]
    assert events[-1]["state"] == "task offered to you"  # the reply reached an agent: the send's part is done
    assert all(set(e) == {"at", "event", "text", "state"} for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


async def test_follow_prints_one_line_per_event_with_its_time(sim: Simulator, tmp_path: Path) -> None:
    lines = await follow(sim, settings_for(sim, tmp_path), "--to", JANE.address, "--body", "Follow me",
                         "--mode", "wait_any")
    assert lines[0] == "Sent to +1 415-555-0100: the reply will be routed to any agent."
    assert len(lines) > 2 and all(re.fullmatch(r"\d\d:\d\d:\d\d  \S.*", line) for line in lines[1:]), lines


async def test_a_send_from_a_script_does_not_poll_the_sends_of_earlier_runs(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    out: list[str] = []
    for to in ("+14155550100", "+14155550104"):
        parsed = args("--to", to, "--body", "Hi", "--json")
        mark = len(sim.world.log)
        assert await commands.send(parsed, settings, commands.draft(parsed, settings), out.append) == commands.OK
    first = json.loads(out[0])["conversation_sid"]
    assert [e.path for e in sim.world.log[mark:] if first in e.path] == []  # the app resumes it; a script need not
    assert len(sim.world.log[mark:]) <= 8  # the agent, templates, the customer's look-up, the send


def test_a_canned_message_placeholder_is_filled_with_var_and_an_option_given_twice_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project_settings(tmp_path)
    drafted = commands.draft(args("--to", "4155550100", "--canned", "1", "--var", "customer_name=Jane"), settings)
    assert drafted["body"].startswith("Hi Jane, this is {agent_first_name}")  # the agent's name: once connected
    for twice in (["--to", "1", "--to", "2", "--body", "x"], ["--to", "1", "--body", "a", "--body=b"]):
        with pytest.raises(SystemExit):
            args(*twice)
        assert capsys.readouterr().err.endswith("is given twice: which value is meant?\n")
    with pytest.raises(SystemExit):
        args("--to", "1", "--canned", "1", "--bo", "x")  # no abbreviations: --bo is not --body
    assert "argument --body: not allowed with argument --canned" not in (said := capsys.readouterr().err)
    assert "unrecognized arguments: --bo x" in said


async def test_an_agent_who_is_not_available_sends_nothing_as_in_the_panel(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path)
    async with open_session(settings) as session:
        await session.set_activity("Offline")
    parsed = args("--to", JANE.address, "--body", "Hi")
    mark = len(sim.world.log)
    with pytest.raises(InvalidSend) as refused:
        await commands.send(parsed, settings, commands.draft(parsed, settings), print)
    assert str(refused.value) == "You are Offline: become Available, then send."
    assert commands.exit_code(refused.value) == commands.REFUSED
    assert [e for e in sim.world.log[mark:] if e.method == "POST"] == []


@pytest.mark.parametrize(("holder", "said"), [
    (None, "Sent to +1 415-555-0100: the reply will be routed to you."),
    ("you", "Sent to +1 415-555-0100 (existing conversation): in your open chat."),
    ("Bob Martinez", "Sent to +1 415-555-0100 (existing conversation): in the open chat of Bob Martinez, who gets the "
                     "reply."),  # not "routed to you": the reply goes to that chat
])
def test_the_sent_sentence_says_where_the_reply_goes(tmp_path: Path, holder: str | None, said: str) -> None:
    request = prepare_send(channel="sms", destination=JANE.address, sender=SMS_SENDER, mode="wait_me",
                           senders=project_settings(tmp_path).senders, body="Hi")
    result = SendResult(request=request, conversation_sid="CH1", message_sid="IM1", reused=holder is not None,
                        holder=holder)
    assert commands.sent_sentence(result) == said


def test_a_sent_message_whose_result_cannot_be_written_exits_1_and_says_where_to_look(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path),
               XDG_STATE_HOME=str(tmp_path))
    read_end, write_end = os.pipe()
    os.close(read_end)  # `… | true`: nobody reads the result
    try:
        sent = subprocess.run([sys.executable, "-m", "tui.cli", "send", "--to", "4155550100", "--body", "Hi"],
                              cwd=tmp_path, env=env, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert sent.returncode == 1  # not 2: something was sent
    assert sent.stderr.startswith("outbound-panel: could not write the result (Broken pipe); `outbound-panel sends`")
    assert sent.stderr.count("\n") == 1 and "Traceback" not in sent.stderr
