"""Status in plain words: each event as a timeline line, replies whole up to what Twilio can deliver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.events import ConversationEvent, CustomerReplied, MessageStatusChanged, StatusEvent, TaskStatusChanged
from core.status_text import clip, event_line

AT = datetime(2026, 1, 1, tzinfo=UTC)
ME, BOB = "WK" + "a" * 32, "WK" + "b" * 32


def task(status: str, worker: str | None = None, name: str | None = None) -> TaskStatusChanged:
    return TaskStatusChanged(conversation_sid="CH1", at=AT, task_sid="WT1", status=status,  # type: ignore[arg-type]
                             worker_sid=worker, worker_name=name)


@pytest.mark.parametrize(("event", "line"), [
    (ConversationEvent(conversation_sid="CH1", at=AT, kind="created"), "Conversation created"),
    (ConversationEvent(conversation_sid="CH1", at=AT, kind="reused"), "Existing conversation reused"),
    (ConversationEvent(conversation_sid="CH1", at=AT, kind="closed"), "Conversation closed"),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="queued"), "Message queued"),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="sent"), "Message sent"),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="delivered"),
     "Delivered to the customer's phone"),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="read"), "Read by the customer"),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="undelivered", error_code=30003),
     "Undelivered: The customer's phone could not be reached: it may be switched off or out of coverage "
     "(error 30003)."),
    (MessageStatusChanged(conversation_sid="CH1", at=AT, message_sid="IM1", status="failed", error_code=99999,
                          sentence="Twilio's own words"), "Failed: Twilio's own words"),
    (CustomerReplied(conversation_sid="CH1", at=AT, message_sid="IM2", body="[b]yes[/b]"),
     "Customer replied: [b]yes[/b]"),
    (task("pending"), "Task waiting for an agent"),
    (task("reserved", ME, "Alice Johnson"), "Task offered to you"),
    (task("reserved", BOB, "Bob Martinez"), "Task offered to Bob Martinez"),
    (task("assigned", BOB), "Task accepted by an agent"),
    (task("wrapping", ME), "Task wrapping up"),
    (task("completed"), "Task completed"),
    (task("canceled"), "Task canceled"),
])
def test_each_event_reads_as_one_line(event: StatusEvent, line: str) -> None:
    assert event_line(event, ME) == line


@pytest.mark.parametrize(("text", "shown"), [
    ("short", "short"),
    ("x" * 1600, "x" * 1600),  # anything Twilio delivers, whole
    ("x" * 1601, "x" * 1600 + "… (1,601 characters)"),
    ("\n" * 70, "\n" * 59 + "… (70 characters)"),
    ("cr\rstays one line", "cr\rstays one line"),
])
def test_long_replies_are_clipped_and_say_how_long_they_were(text: str, shown: str) -> None:
    assert clip(text) == shown
