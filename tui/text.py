"""Text from outside (customers, Twilio) shown literally: no markup, no terminal control sequences."""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except newline and tab, DEL, C1 controls, and the bidi embeddings/overrides/isolates that can
# make a line read differently from what it holds ("Trojan Source"): shown as visible escapes, never sent.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def literal(text: str, style: str = "") -> Text:
    """A Rich Text that shows `text` exactly as written (Text never parses markup), controls made visible."""
    return Text(_CONTROL.sub(_visible, text), style=style)


def _visible(control: re.Match[str]) -> str:
    code = ord(control.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
