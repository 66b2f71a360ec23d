"""sms_info: encoding, characters, units and segments as carriers count them (GSM 03.38, UCS-2)."""

from __future__ import annotations

import pytest

from core.sms import GSM7_BASIC_TABLE, GSM7_EXTENSION_CHARS, SmsInfo, sms_info


def test_empty_body_is_zero_segments() -> None:
    assert sms_info("") == SmsInfo(encoding="GSM-7", characters=0, units=0, segments=0)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_single_segment_holds_160_and_each_part_153(length: int, segments: int) -> None:
    assert sms_info("a" * length) == SmsInfo(encoding="GSM-7", characters=length, units=length, segments=segments)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_single_segment_holds_70_and_each_part_67(length: int, segments: int) -> None:
    assert sms_info("я" * length) == SmsInfo(encoding="UCS-2", characters=length, units=length, segments=segments)


def test_euro_is_gsm7_and_counts_two_septets() -> None:
    assert sms_info("€") == SmsInfo(encoding="GSM-7", characters=1, units=2, segments=1)
    assert sms_info("a" * 158 + "€") == SmsInfo(encoding="GSM-7", characters=159, units=160, segments=1)
    assert sms_info("a" * 159 + "€") == SmsInfo(encoding="GSM-7", characters=160, units=161, segments=2)


@pytest.mark.parametrize("char", list(GSM7_EXTENSION_CHARS))
def test_every_extension_character_counts_two_septets(char: str) -> None:
    assert sms_info(f"x{char}x") == SmsInfo(encoding="GSM-7", characters=3, units=4, segments=1)


def test_every_basic_table_character_is_one_septet() -> None:
    assert len(GSM7_BASIC_TABLE) == 128 and GSM7_BASIC_TABLE[0x1B] == "\x1b"
    typeable = GSM7_BASIC_TABLE.replace("\x1b", "")
    info = sms_info(typeable)
    assert (info.encoding, info.units) == ("GSM-7", 127)


@pytest.mark.parametrize("char", [
    "ç",  # only the capital Ç is in the table
    "á", "`", "’", "“", "ê", "Ä́",
    "\x1b",  # the escape itself is not a character
    "\t",
])
def test_characters_outside_gsm_03_38_switch_the_whole_body_to_ucs2(char: str) -> None:
    info = sms_info("Hello " + char)
    assert info.encoding == "UCS-2"
    assert info.units == 6 + len(char)


def test_lookalikes_in_the_table_stay_gsm7() -> None:
    assert sms_info("Ç è é ù ì ò à Å Ø ß Δ Ω ¡ ¿ § ¤ £ ¥").encoding == "GSM-7"


def test_escape_never_straddles_two_gsm7_parts() -> None:
    # 306 septets would fit two parts of 153, but the € cannot start in part 1 and end in part 2
    text = "a" * 152 + "€" + "a" * 152
    info = sms_info(text)
    assert (info.units, info.segments) == (306, 3)
    # when the € ends exactly at the boundary it fits
    assert sms_info("a" * 151 + "€" + "a" * 153).segments == 2


def test_emoji_is_one_character_and_two_ucs2_units() -> None:
    assert sms_info("😀") == SmsInfo(encoding="UCS-2", characters=1, units=2, segments=1)
    assert sms_info("a" * 68 + "😀") == SmsInfo(encoding="UCS-2", characters=69, units=70, segments=1)
    assert sms_info("a" * 69 + "😀") == SmsInfo(encoding="UCS-2", characters=70, units=71, segments=2)


def test_surrogate_pair_never_straddles_two_ucs2_parts() -> None:
    text = "a" * 66 + "😀" + "a" * 66  # 134 units: two parts of 67 by arithmetic, but the pair moves whole
    info = sms_info(text)
    assert (info.units, info.segments) == (134, 3)
    assert sms_info("a" * 65 + "😀" + "a" * 67).segments == 2


@pytest.mark.parametrize(("text", "characters", "units"), [
    ("👍🏽", 1, 4),  # skin tone
    ("🇫🇷🇩🇪", 2, 8),  # two flags: regional indicators pair up
    ("👨‍👩‍👧", 1, 8),  # ZWJ family
    ("❤️", 1, 2),  # variation selector
    ("e\u0301", 1, 2),  # e + combining acute
    ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 1, 14),  # Scotland: tag sequence
])
def test_characters_count_what_the_customer_sees(text: str, characters: int, units: int) -> None:
    info = sms_info(text)
    assert (info.encoding, info.characters, info.units) == ("UCS-2", characters, units)


def test_line_breaks_are_gsm7_and_crlf_is_one_character() -> None:
    assert sms_info("a\r\nb") == SmsInfo(encoding="GSM-7", characters=3, units=4, segments=1)
    assert sms_info("a\fb") == SmsInfo(encoding="GSM-7", characters=3, units=4, segments=1)  # form feed: escaped


def test_info_is_frozen() -> None:
    info = sms_info("hi")
    with pytest.raises(AttributeError):
        info.units = 3  # type: ignore[misc]
