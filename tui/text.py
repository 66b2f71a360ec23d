"""Text from outside (customers, Twilio) shown literally: no markup, no terminal control sequences."""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except newline and tab, DEL, and C1 controls: shown as visible escapes, never sent to the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def literal(text: str, style: str = "") -> Text:
    """A Rich Text that shows `text` exactly as written (Text never parses markup), controls made visible."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text), style=style)
