"""What the terminal sends, cleaned before Textual parses it: a bracketed paste that holds escape sequences
arrives as one paste, in order, without them.

Textual's parser (8.x) ends a paste's text at the first ESC inside it and replays the rest as key presses,
ahead of the text it kept: pasting `Order \\e[1m#123\\e[0m shipped` typed `^[1m#123^[0m shippedOrder `. Terminals
pass such bytes through (text copied from a log or another terminal carries colour codes), so inside a paste
this drops escape sequences (CSI, OSC, any other ESC pair) and control characters other than tab and new lines
before the parser sees them. Outside a paste nothing is held or changed (a lone Escape key still works).

    install()   # before the app runs: Textual's Linux driver then parses with PasteSafeParser
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable, Iterable

from textual._xterm_parser import XTermParser
from textual.drivers import linux_driver
from textual.message import Message

START, END = "\x1b[200~", "\x1b[201~"
# a whole escape sequence: CSI (ESC [ params final), OSC (ESC ] … BEL or ST), a string (DCS ESC P, SOS ESC X,
# PM ESC ^, APC ESC _ … ST), SS2/SS3 (ESC N x, ESC O x), an ESC before another ESC, or ESC and one character
_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\"
                       r"|[NO][ -~]|(?=\x1b)|[^\[\]PX^_NO])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")  # and U+FFFD: a byte that was not UTF-8
_LONGEST = 64  # an unfinished sequence longer than this at the end of a read is not one: dropped as is


def clean_paste(text: str) -> tuple[str, str]:
    """(the paste's text without escape sequences and control characters, an unfinished sequence at its end
    to be completed by the next read)."""
    last = text.rfind("\x1b")
    held = ""
    if last != -1 and len(text) - last < _LONGEST and not _SEQUENCE.match(text, last):
        text, held = text[:last], text[last:]  # perhaps the start of the paste's end, or a sequence cut in two
    return _CONTROL.sub("", _SEQUENCE.sub("", text)), held


class PasteSafeParser(XTermParser):
    """Textual's parser, fed with pastes cleaned by clean_paste."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._in_paste = False
        self._held = ""  # the end of a read inside a paste that may be the start of a sequence
        self._tail = ""  # the end of the last read outside a paste: a paste's start may be cut in two

    def feed(self, data: str) -> Iterable[Message]:
        return super().feed(self._clean(data))

    def _clean(self, data: str) -> str:
        out: list[str] = []
        while data:
            if not self._in_paste:
                seen = self._tail + data
                found = seen.find(START)
                if found == -1:
                    out.append(data)
                    self._tail = seen[-(len(START) - 1):]
                    return "".join(out)
                cut = found + len(START) - len(self._tail)  # where the paste's text starts in `data`
                out.append(data[:cut])
                data, self._tail, self._in_paste = data[cut:], "", True
            else:
                text = self._held + data
                end = text.find(END)
                if end == -1:
                    kept, self._held = clean_paste(text)
                    out.append(kept)
                    return "".join(out)
                out.append(clean_paste(text[:end])[0] + END)
                data, self._held, self._in_paste = text[end + len(END):], "", False
        return "".join(out)


def tolerant_decoder(encoding: str) -> Callable[[], codecs.IncrementalDecoder]:
    """The driver's input decoder, replacing a byte that is not UTF-8 (a Latin-1 terminal, an 8-bit Alt, a raw byte
    in a paste) with U+FFFD instead of ending the app with UnicodeDecodeError."""
    return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")


def install() -> None:
    """Textual's Linux driver decodes the terminal's input tolerantly and parses it with PasteSafeParser."""
    linux_driver.XTermParser = PasteSafeParser  # type: ignore[misc]
    linux_driver.getincrementaldecoder = tolerant_decoder  # type: ignore[assignment]
