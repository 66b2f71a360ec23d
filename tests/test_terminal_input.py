"""What the terminal sends, through Textual's parser with pastes cleaned (tui/terminal_input.py): a paste holding
escape sequences arrives as one paste, in order; keys and a lone Escape are untouched."""

from __future__ import annotations

import pytest
from textual import events

from tui.terminal_input import END, START, PasteSafeParser

ORDER = "Order \x1b[1m#123\x1b[0m shipped"


def parse(*reads: str) -> list[events.Event]:
    parser = PasteSafeParser()
    found = [event for data in reads for event in parser.feed(data)]
    return [e for e in found if isinstance(e, (events.Paste, events.Key))]


def pastes(found: list[events.Event]) -> list[str]:
    return [e.text for e in found if isinstance(e, events.Paste)]


def keys(found: list[events.Event]) -> list[str]:
    return [e.key for e in found if isinstance(e, events.Key)]


def test_a_paste_with_colour_codes_is_one_paste_in_order_without_them() -> None:
    found = parse(f"{START}{ORDER}{END}")
    assert pastes(found) == ["Order #123 shipped"] and keys(found) == []


@pytest.mark.parametrize("cut", range(1, len(START + ORDER + END)))
def test_a_paste_cut_between_two_reads_anywhere_is_the_same(cut: int) -> None:
    sent = f"{START}{ORDER}{END}"
    found = parse(sent[:cut], sent[cut:])
    assert pastes(found) == ["Order #123 shipped"] and keys(found) == []


def test_control_characters_go_new_lines_and_tabs_stay_and_an_osc_link_goes() -> None:
    found = parse(f"{START}a\x07b\x00c\td\re\nf \x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\{END}")
    assert pastes(found) == ["abc\td\re\nf link"]


def test_keys_around_a_paste_are_untouched() -> None:
    found = parse(f"ab{START}x{END}c")
    assert keys(found) == ["a", "b", "c"] and pastes(found) == ["x"]
    assert keys(parse("\x1b[A", "\x1b[B")) == ["up", "down"]


def test_the_real_parser_scrambles_such_a_paste() -> None:  # why this module exists: fails once Textual fixes it
    from textual._xterm_parser import XTermParser

    found = [e for e in XTermParser().feed(f"{START}{ORDER}{END}") if isinstance(e, (events.Paste, events.Key))]
    assert pastes(found) != ["Order #123 shipped"]


def test_a_byte_that_is_not_utf8_becomes_a_replacement_character_not_a_crash() -> None:
    from tui.terminal_input import tolerant_decoder

    decode = tolerant_decoder("utf-8")().decode
    assert decode(b"\xe9x") + decode(b"\x9b", final=True) == "\ufffdx\ufffd"
    assert decode(b"\xc3") + decode(b"\xa9", final=True) == "é"  # a character cut between two reads is whole


@pytest.mark.parametrize(("pasted", "text"), [
    ("a\x1bPqDCS body\x1b\\b", "ab"),  # a device control string, whole
    ("a\x1b\x1b[Ab", "ab"),  # ESC ESC [A: alt+up, whole
    ("a\x1bOPb", "ab"),  # SS3 F1, whole
    ("a\x1b_apc\x1b\\b", "ab"),
    ("a\ufffdb", "ab"),  # a byte that was not UTF-8, decoded as U+FFFD: not sent to the customer
])
def test_every_kind_of_escape_sequence_leaves_nothing_behind(pasted: str, text: str) -> None:
    assert pastes(parse(f"{START}{pasted}{END}")) == [text]
