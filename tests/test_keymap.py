"""[ui.keys] is checked before the app starts (issue 13, 8): unknown ids, key names Textual does not know, and
two bindings on one key are start-up errors naming the key — never a silent remap."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import _run
from tui.keymap import check_keymap, is_key


@pytest.mark.parametrize(("name", "ok"), [
    ("ctrl+s", True), ("f12", True), ("escape", True), ("question_mark", True), ("ctrl+shift+f5", True),
    ("x", True), ("not a key!!", False), ("ctrl+", False), ("hyperdrive+x", False), ("", False), (" ", False),
    ("f99", False),
])
def test_a_key_is_one_textual_can_report(name: str, ok: bool) -> None:
    assert is_key(name) is ok


def test_the_default_keymap_is_good() -> None:
    assert check_keymap({}) == []


def test_a_remap_onto_quit_is_a_conflict() -> None:
    assert check_keymap({"send": "ctrl+q"}) == ["[ui.keys] ctrl+q is given to send and quit in the panel: one key, "
                                                "one binding."]


def test_a_remap_onto_tab_conflicts_on_every_screen() -> None:
    assert check_keymap({"reply": "tab"}) == ["[ui.keys] tab is given to reply and focus_next (built in) in my "
                                              "chats: one key, one binding."]


def test_a_screen_key_may_shadow_an_app_key_it_replaces_there() -> None:
    assert check_keymap({"accept_chat": "f9", "hand_over": "f10", "older_messages": "f11"}) == []


def test_an_unknown_id_and_a_bad_key_are_named() -> None:
    problems = check_keymap({"sendd": "f5", "send_wait_me": "not a key!!"})
    assert problems[0].startswith("[ui.keys] sendd is not a binding; the bindings are accept_chat, accept_task,")
    assert problems[1] == ("[ui.keys] send_wait_me = 'not a key!!': 'not a key!!' is not a key (keys look like "
                           "ctrl+s, f5, escape, question_mark).")


def test_the_command_stops_before_the_first_frame_naming_the_key(tmp_path: Path) -> None:
    result = _run(tmp_path, OUTBOUND_PANEL_UI__KEYS__SEND="ctrl+q")
    assert result.returncode == 2 and result.stdout == ""  # nothing drawn
    assert result.stderr == ("outbound-panel: [ui.keys] ctrl+q is given to send and quit in the panel: one key, "
                             "one binding.\n")


@pytest.mark.parametrize(("keys", "problem"), [
    ({"reply": "ctrl+q"}, "[ui.keys] ctrl+q is given to reply and quit in my chats: one key, one binding."),
    ({"send": "ctrl+i"}, "[ui.keys] send = 'ctrl+i' cannot work: the terminal sends Tab for it."),
    ({"send": "ctrl+m"}, "[ui.keys] send = 'ctrl+m' cannot work: the terminal sends Enter for it."),
    ({"send": "backspace"}, "[ui.keys] send = 'backspace' cannot work: editing needs it."),
    ({"send_wait_me": "ctrl+["}, "[ui.keys] send_wait_me = 'ctrl+[' cannot work: the terminal sends Escape for it."),
    ({"send": "up"}, "[ui.keys] send = 'up' cannot work: moving in fields and lists needs it."),
    ({"send": "ctrl+c"}, "[ui.keys] send = 'ctrl+c' cannot work: it copies (and interrupts in a terminal)."),
    ({"send": "a"}, "[ui.keys] send = 'a' cannot work: it types into the fields; add a modifier (ctrl+…) or use a "
                    "function key."),
])
def test_a_key_that_can_never_work_there_is_refused(keys: dict[str, str], problem: str) -> None:
    assert check_keymap(keys) == [problem]


def test_help_may_keep_its_question_mark() -> None:
    assert check_keymap({"help": "f1,question_mark"}) == []
