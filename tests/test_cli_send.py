"""`outbound-panel send`, `sends`, `templates` (issue 14): the panel's send path for scripts — the same rules and
sentences, one line or one JSON object out, and exit codes a script can branch on. Bad input is refused before any
Twilio request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import InvalidSend
from sim.server import Simulator
from tests.outbound_fixtures import JANE, project_settings, settings_for
from tui import commands
from tui.cli import _parser

ROOT = Path(__file__).resolve().parents[1]


def args(*argv: str):  # type: ignore[no-untyped-def]
    return _parser().parse_args(["send", *argv])


@pytest.mark.parametrize(("argv", "code", "said"), [
    (["--to", "12", "--body", "hi"], 2, "12 is not a valid phone number: it is too short."),
    (["--to", "4155550100", "--body", " "], 2, "Write a message (or choose a template) before sending."),
    (["--to", "4155550100", "--canned", "9"], 2, "--canned 9: there are 3 canned sms messages (1 to 3)"),
    (["--to", "4155550100", "--canned", "1"], 2, "Replace {customer_name} in the message before sending."),
    (["--to", "4155550100", "--body", "x", "--var", "a=b"], 2, "--var is for --template only"),
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
