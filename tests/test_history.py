"""My outbound list: sends and their events in SQLite, per agent, surviving a restart."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.events import (
    ConversationEvent,
    CustomerReplied,
    MessageStatusChanged,
    StatusEvent,
    TaskStatusChanged,
)
from core.history import SendHistory, default_path, describe
from core.models import Channel, SendMode, SendRequest, SendResult

ALICE, BOB = "WK" + "a" * 32, "WK" + "b" * 32
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def sent(history: SendHistory, conversation: str, message: str, *, minutes: int = 0, body: str | None = "Hi Jane,\nbye",
         mode: SendMode = SendMode.WAIT_ME, content_sid: str | None = None, task_sid: str | None = None) -> None:
    request = SendRequest(channel=Channel.SMS, destination="+14155550100", sender="+15017122661", mode=mode,
                          body=body, content_sid=content_sid, customer_name="Jane Doe")
    result = SendResult(request=request, conversation_sid=conversation, message_sid=message, task_sid=task_sid)
    history.record(result, T0 + timedelta(minutes=minutes))


def status(conversation: str, message: str, value: str, code: int | None = None) -> MessageStatusChanged:
    return MessageStatusChanged(conversation_sid=conversation, at=T0, message_sid=message,
                                status=value, error_code=code)  # type: ignore[arg-type]


def reply(conversation: str, message: str, body: str = "thanks") -> CustomerReplied:
    return CustomerReplied(conversation_sid=conversation, at=T0, message_sid=message, body=body)


def task(value: str, worker_sid: str | None = None, worker_name: str | None = None, conversation: str = "CH1",
         sid: str = "WT1") -> TaskStatusChanged:
    return TaskStatusChanged(conversation_sid=conversation, at=T0, task_sid=sid, status=value,  # type: ignore[arg-type]
                             worker_sid=worker_sid, worker_name=worker_name)


def conversation(kind: str, sid: str = "CH1") -> ConversationEvent:
    return ConversationEvent(conversation_sid=sid, at=T0, kind=kind)  # type: ignore[arg-type]


@pytest.fixture
def history() -> Iterator[SendHistory]:
    with SendHistory(":memory:", ALICE) as opened:
        yield opened


def test_records_sends_and_lists_them_newest_first(history: SendHistory) -> None:
    sent(history, "CH1", "IM1", minutes=0)
    sent(history, "CH2", "IM2", minutes=2, body=None, content_sid="HX" + "0" * 32)
    sent(history, "CH3", "IM3", minutes=1)

    assert [s.message_sid for s in history.sends()] == ["IM2", "IM3", "IM1"]
    assert [s.message_sid for s in history.sends(limit=1)] == ["IM2"]
    first = history.get("IM1")
    assert first is not None
    assert (first.preview, first.customer_label, first.result.request.destination, first.state, first.finished) == (
        "Hi Jane,", "Jane Doe", "+14155550100", "queued", False)
    assert first.sent_at == T0 and first.sent_at.utcoffset() == timedelta(0)
    assert history.get("IM2").preview == "template HX" + "0" * 32  # type: ignore[union-attr]
    assert history.get("IM404") is None


def test_history_survives_a_restart_with_its_timeline_and_state(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    events: list[StatusEvent] = [conversation("created"), status("CH1", "IM1", "queued"),
                                 status("CH1", "IM1", "delivered"), reply("CH1", "IM9"),
                                 task("reserved", BOB, "Bob Martinez")]
    before = SendHistory(path, ALICE)
    sent(before, "CH1", "IM1")
    assert all(before.add(e) for e in events)
    before.close()

    after = SendHistory(path, ALICE)
    assert after.timeline("IM1") == events
    assert [type(e) for e in after.timeline("IM1")] == [type(e) for e in events]
    assert after.get("IM1").state == "task offered to Bob Martinez"  # type: ignore[union-attr]
    # the watcher, resumed, re-reports what it sees now: nothing changes
    assert not any(after.add(e) for e in events)
    assert after.timeline("IM1") == events
    after.close()


def test_duplicate_events_are_ignored(history: SendHistory) -> None:
    sent(history, "CH1", "IM1")
    events: list[StatusEvent] = [conversation("created"), status("CH1", "IM1", "sent"), reply("CH1", "IM9"),
                                 task("pending")]
    for event in events:
        assert history.add(event) is not None
        assert history.add(event.model_copy(update={"at": T0 + timedelta(hours=1)})) is None
    assert len(history.timeline("IM1")) == 4


def test_a_task_offered_again_after_a_timeout_is_not_a_duplicate(history: SendHistory) -> None:
    sent(history, "CH1", "IM1")
    for event in [task("reserved", BOB, "Bob Martinez"), task("reserved", ALICE), task("pending"),
                  task("reserved", ALICE)]:
        assert history.add(event) is not None
    assert history.add(task("reserved", ALICE)) is None
    assert history.get("IM1").state == "task offered to you"  # type: ignore[union-attr]
    assert len(history.timeline("IM1")) == 4


def test_an_event_for_a_conversation_we_never_sent_into_is_ignored(history: SendHistory) -> None:
    sent(history, "CH1", "IM1")
    assert history.add(reply("CH2", "IM9")) is None
    assert history.add(status("CH2", "IM2", "failed", 30003)) is None
    assert history.timeline("IM1") == [] and history.get("IM1").state == "queued"  # type: ignore[union-attr]


def test_later_events_go_to_the_newest_send_in_the_conversation(history: SendHistory) -> None:
    sent(history, "CH1", "IM1", minutes=0)
    sent(history, "CH1", "IM2", minutes=5)
    assert history.add(reply("CH1", "IM9")) is not None
    assert history.add(status("CH1", "IM1", "delivered")) is not None  # a message's status stays with its own send

    assert history.timeline("IM2") == [reply("CH1", "IM9")]
    assert history.timeline("IM1") == [status("CH1", "IM1", "delivered")]
    assert history.get("IM2").state == "replied"  # type: ignore[union-attr]


def test_two_agents_on_one_file_see_only_their_own_sends(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    alice, bob = SendHistory(path, ALICE), SendHistory(path, BOB)
    sent(alice, "CH1", "IM1")
    sent(bob, "CH2", "IM2")

    assert [s.message_sid for s in alice.sends()] == ["IM1"]
    assert [s.message_sid for s in bob.sends()] == ["IM2"]
    assert bob.get("IM1") is None and bob.timeline("IM1") == []
    assert bob.add(reply("CH1", "IM9")) is None  # Alice's conversation
    assert alice.add(reply("CH1", "IM9")) is not None
    assert [s.message_sid for s in bob.unfinished()] == ["IM2"]
    alice.close()
    bob.close()


def test_two_terminals_of_one_agent_store_an_event_once(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    first, second = SendHistory(path, ALICE), SendHistory(path, ALICE)
    sent(first, "CH1", "IM1")
    assert first.add(reply("CH1", "IM9")) is not None
    assert second.add(reply("CH1", "IM9")) is None
    assert second.get("IM1").state == "replied"  # type: ignore[union-attr]
    with closing(sqlite3.connect(path)) as raw:  # WAL is a property of the file: readers never block writers
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    second.close()


def test_unfinished_excludes_finished_sends(history: SendHistory) -> None:
    sent(history, "CH1", "IM1", minutes=0)
    sent(history, "CH2", "IM2", minutes=1)
    sent(history, "CH3", "IM3", minutes=2)
    sent(history, "CH4", "IM4", minutes=3)
    sent(history, "CH4", "IM5", minutes=4)  # into CH4 again: only the newest is followed
    history.add(status("CH2", "IM2", "failed", 21610))
    history.add(task("completed", conversation="CH3"))

    assert [s.message_sid for s in history.unfinished()] == ["IM5", "IM1"]
    assert history.get("IM2").finished and history.get("IM3").finished  # type: ignore[union-attr]


def test_a_send_needs_an_aware_time(history: SendHistory) -> None:
    request = SendRequest(channel=Channel.SMS, destination="+14155550100", sender="+15017122661",
                          mode=SendMode.WAIT_ME, body="hi")
    result = SendResult(request=request, conversation_sid="CH1", message_sid="IM1")
    with pytest.raises(ValueError, match="timezone-aware"):
        history.record(result, datetime(2025, 3, 1, 9, 0))
    assert history.sends() == []


OPEN, WAIT = SendMode.OPEN_CHAT, SendMode.WAIT_ME


@pytest.mark.parametrize(("mode", "events", "expected"), [
    (OPEN, [], ("queued", False)),
    (OPEN, [conversation("created"), status("CH1", "IM1", "queued")], ("queued", False)),
    (OPEN, [status("CH1", "IM1", "sent")], ("sent", False)),
    (OPEN, [status("CH1", "IM1", "sent"), status("CH1", "IM1", "delivered")], ("delivered", False)),
    (OPEN, [status("CH1", "IM1", "read"), status("CH1", "IM1", "delivered")], ("read", False)),
    (OPEN, [status("CH1", "IM1", "failed", 63016)], ("failed (63016)", True)),
    (OPEN, [status("CH1", "IM1", "sent"), status("CH1", "IM1", "undelivered", 30003)], ("undelivered (30003)", True)),
    (OPEN, [status("CH1", "IM1", "failed")], ("failed", True)),
    (WAIT, [status("CH1", "IM1", "delivered")], ("waiting for reply", False)),
    (SendMode.WAIT_ANY, [status("CH1", "IM1", "read")], ("waiting for reply", False)),
    (WAIT, [status("CH1", "IM1", "delivered"), reply("CH1", "IM9")], ("replied", False)),
    (WAIT, [reply("CH1", "IM9"), status("CH1", "IM1", "delivered")], ("replied", False)),  # no regression
    (WAIT, [reply("CH1", "IM9"), task("pending")], ("task pending", False)),
    (WAIT, [task("reserved", ALICE, "Alice Smith")], ("task offered to you", False)),
    (WAIT, [task("reserved", BOB, "Bob Martinez")], ("task offered to Bob Martinez", False)),
    (WAIT, [task("reserved", BOB)], ("task offered to another agent", False)),
    (WAIT, [task("reserved")], ("task offered", False)),
    (OPEN, [task("assigned", ALICE)], ("task with you", False)),
    (OPEN, [task("assigned", BOB, "Bob Martinez")], ("task with Bob Martinez", False)),
    (OPEN, [task("assigned", ALICE), status("CH1", "IM1", "delivered"), reply("CH1", "IM9")],
     ("task with you", False)),  # a task state wins over message states
    (OPEN, [task("assigned", ALICE), task("wrapping", ALICE)], ("wrapping up", False)),
    (OPEN, [task("assigned", ALICE), task("completed")], ("task completed", True)),
    (OPEN, [task("canceled"), reply("CH1", "IM9")], ("task canceled", True)),
    (OPEN, [task("completed"), conversation("closed")], ("closed", True)),
    (WAIT, [status("CH1", "IM1", "delivered"), conversation("closed")], ("closed", True)),
    (OPEN, [task("assigned", ALICE), status("CH1", "IM1", "failed", 63016)], ("failed (63016)", True)),
    (OPEN, [status("CH1", "IM1", "failed", 63016), conversation("closed")], ("failed (63016)", True)),
])
def test_describe_shows_the_latest_meaningful_state(mode: SendMode, events: list[StatusEvent],
                                                    expected: tuple[str, bool]) -> None:
    assert describe(mode, events, ALICE) == expected


HOSTILE = {
    "rich markup": "[bold red]x[/] [link=https://evil.example]click[/link]",
    "ansi": "\x1b[31mred\x1b[0m",
    "osc title": "\x1b]0;title\x07",
    "long": "x" * 10_000,
    "emoji": "👍🏽 family 👨‍👩‍👧 flag 🇺🇸",
    "rtl": "مرحبا \u202eevil",
    "control": "nul\x00 bell\x07 bs\x08 cr\r lf\n tab\t del\x7f c1\x9b",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_reply_text_round_trips_byte_for_byte(tmp_path: Path, body: str) -> None:
    path = tmp_path / "history.sqlite3"
    with SendHistory(path, ALICE) as history:
        sent(history, "CH1", "IM1")
        assert history.add(reply("CH1", "IM9", body))
    with SendHistory(path, ALICE) as history:
        (stored,) = history.timeline("IM1")
    assert isinstance(stored, CustomerReplied)
    assert stored.body.encode("utf-8") == body.encode("utf-8")


def test_default_path_honours_xdg_data_home() -> None:
    assert default_path({"XDG_DATA_HOME": "/data", "HOME": "/home/a"}) == Path(
        "/data/outbound-panel/history.sqlite3")
    assert default_path({"HOME": "/home/a"}) == Path("/home/a/.local/share/outbound-panel/history.sqlite3")
    assert default_path({"XDG_DATA_HOME": "relative", "HOME": "/home/a"}) == Path(
        "/home/a/.local/share/outbound-panel/history.sqlite3")


def test_the_database_directory_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "outbound-panel" / "history.sqlite3"
    SendHistory(path, ALICE).close()
    assert path.exists()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_timeline_is_in_time_order_when_answers_arrive_late(history: SendHistory) -> None:
    sent(history, "CH1", "IM1")
    late = T0 + timedelta(seconds=3)  # the send's answer came 3 s late: Twilio's "sent" was stamped before it
    for event in (conversation("created").model_copy(update={"at": late}),
                  status("CH1", "IM1", "sent").model_copy(update={"at": T0 + timedelta(seconds=1)}),
                  status("CH1", "IM1", "delivered").model_copy(update={"at": late}),
                  reply("CH1", "IM1").model_copy(update={"at": late})):
        history.add(event)
    assert [getattr(e, "status", e.type) for e in history.timeline("IM1")] == \
        ["sent", "conversation", "delivered", "customer_replied"]  # by time; one moment's in arrival order
