"""SMS length: encoding, characters, units and segments of a message body, as a carrier counts them.

A body is sent in GSM-7 (3GPP TS 23.038, "GSM 03.38") when every character is in the basic table or
its extension table, else in UCS-2 (UTF-16 on the wire, so a character beyond the BMP — most emoji —
takes two code units). An extension-table character costs two septets: the escape 0x1B and itself.

One segment holds 160 septets or 70 UCS-2 units. A longer message is split into concatenated parts
whose user data header leaves 153 septets or 67 units each, and a part never ends between an escape
and its character, nor between the two halves of a surrogate pair: such a character moves whole to
the next part, which can cost a segment more than units / 153 (or 67) suggests.

Not modelled: Twilio's optional Smart Encoding (which replaces lookalikes such as curly quotes with
GSM-7 characters before counting) and national language shift tables.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

# The GSM 03.38 default alphabet, in code order 0x00–0x7F (0x1B is the escape to the extension table).
GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The characters of the default extension table (0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \,
# 0x3C [, 0x3D ~, 0x3E ], 0x40 |, 0x65 €); each is sent as ESC + its code.
GSM7_EXTENSION_CHARS = "\f^{}\\[~]|€"

_GSM7_ONE = frozenset(GSM7_BASIC_TABLE) - {"\x1b"}  # a literal ESC is not a character anyone types
_GSM7_TWO = frozenset(GSM7_EXTENSION_CHARS)

GSM7_SINGLE, GSM7_PART = 160, 153  # septets in a lone segment, in each part of a concatenated message
UCS2_SINGLE, UCS2_PART = 70, 67  # UCS-2 code units, likewise

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SmsInfo:
    """How an SMS body travels. `characters` counts what the customer sees (an emoji, a flag or an
    accented letter typed as two code points are one each); `units` are GSM-7 septets or UCS-2 code
    units; `segments` is 0 for an empty body."""

    encoding: Encoding
    characters: int
    units: int
    segments: int


def sms_info(text: str) -> SmsInfo:
    """Encoding, characters, units and segments of `text` sent as one SMS."""
    if all(c in _GSM7_ONE or c in _GSM7_TWO for c in text):
        encoding: Encoding = "GSM-7"
        sizes = [2 if c in _GSM7_TWO else 1 for c in text]
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        encoding = "UCS-2"
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part = UCS2_SINGLE, UCS2_PART
    return SmsInfo(encoding=encoding, characters=count_characters(text), units=sum(sizes),
                   segments=_segments(sizes, single, part))


def _segments(sizes: list[int], single: int, part: int) -> int:
    """Segments for characters of these unit sizes; a character is never split between two parts."""
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


# -- characters as people see them ---------------------------------------------------------------
# A compact approximation of Unicode extended grapheme clusters (UAX #29) that covers what messages
# contain: combining marks, variation selectors, emoji skin tones, ZWJ sequences, tag sequences
# (subdivision flags), regional-indicator pairs (flags) and CR LF.

_ZWJ = "\u200d"


def _is_control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Zl", "Zp")


def _is_extend(c: str) -> bool:
    code = ord(c)
    return (unicodedata.category(c) in ("Mn", "Me", "Mc")
            or c in (_ZWJ, "\u200c")
            or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF  # variation selectors
            or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
            or 0xE0020 <= code <= 0xE007F)  # tags (subdivision flags such as Scotland's)


def _is_regional_indicator(c: str) -> bool:
    return 0x1F1E6 <= ord(c) <= 0x1F1FF


def count_characters(text: str) -> int:
    """The number of characters a person sees in `text` (grapheme clusters, approximately)."""
    count = 0
    previous: str | None = None
    indicators = 0  # regional indicators in the run ending at `previous`
    for c in text:
        if previous is None:
            count += 1
        elif previous == "\r" and c == "\n":
            pass
        elif _is_control(previous) or _is_control(c):
            count += 1
        elif _is_extend(c) or previous == _ZWJ:
            pass
        elif _is_regional_indicator(c) and indicators % 2 == 1:
            pass  # the second indicator of a flag
        else:
            count += 1
        indicators = indicators + 1 if _is_regional_indicator(c) else 0
        previous = c
    return count
