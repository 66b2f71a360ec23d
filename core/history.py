"""My outbound list: every send of this agent and what happened to it, kept in SQLite across restarts.

    history = SendHistory(default_path(), agent_sid)
    history.record(result, at=now)                   # right after the send, BEFORE watcher.follow()
    watcher.subscribe(history.add)                   # every StatusEvent; re-reports are dropped (None)
    for send in history.unfinished(): ...            # at start-up: send.result is what to follow again

One file serves several agents (the --agent option) and several terminals: every row carries the
agent's worker SID and every read filters by it; WAL and a busy timeout let two processes write.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from core.events import (
    FINAL_MESSAGE,
    FINAL_TASK,
    ConversationEvent,
    CustomerReplied,
    MessageStatusChanged,
    StatusEvent,
    TaskStatusChanged,
)
from core.models import Channel, SendMode, SendRequest, SendResult
from core.paths import user_dir

BUSY_SECONDS = 5.0  # how long a write waits for another terminal's write to finish
PREVIEW_LENGTH = 80  # characters of the body's first line kept for the list
SCHEMA_VERSION = 1

_EVENT = TypeAdapter(StatusEvent)
_LEVELS = {"sent": 1, "delivered": 2, "read": 3}
_WAIT_MODES = (SendMode.WAIT_ME, SendMode.WAIT_ANY)
_PROGRESS, _REPLY, _TASK = 0, 1, 2  # what the state shows; a later event never shows a lower rank

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    seq INTEGER PRIMARY KEY, agent_sid TEXT NOT NULL,
    message_sid TEXT NOT NULL, conversation_sid TEXT NOT NULL, result TEXT NOT NULL,
    sent_at TEXT NOT NULL, state TEXT NOT NULL, finished INTEGER NOT NULL,
    UNIQUE (agent_sid, message_sid)
);
CREATE INDEX IF NOT EXISTS sends_by_time ON sends (agent_sid, sent_at, seq);
CREATE INDEX IF NOT EXISTS sends_by_conversation ON sends (agent_sid, conversation_sid, sent_at, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, agent_sid TEXT NOT NULL, send_sid TEXT NOT NULL, key TEXT NOT NULL, event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_send ON events (agent_sid, send_sid, key);
"""


class SendRecord(BaseModel):
    """One line of my outbound list: what was sent, where, and its state so far."""

    model_config = ConfigDict(frozen=True)

    result: SendResult  # what was sent and what Twilio made of it (what the watcher follows)
    sent_at: datetime  # aware, UTC
    state: str  # short, for the list: see describe()
    finished: bool  # a final state was reached: nothing more to follow

    @property
    def message_sid(self) -> str:  # the send's key
        return self.result.message_sid

    @property
    def conversation_sid(self) -> str:
        return self.result.conversation_sid

    @property
    def mode(self) -> SendMode:
        return self.result.mode

    @property
    def channel(self) -> Channel:
        return self.result.request.channel

    @property
    def customer_label(self) -> str:
        return self.result.request.customer_label

    @property
    def preview(self) -> str:
        return preview(self.result.request)


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    """$XDG_DATA_HOME/outbound-panel/history.sqlite3, else ~/.local/share/outbound-panel/history.sqlite3."""
    return user_dir("data", env) / "history.sqlite3"


def describe(mode: SendMode, events: Iterable[StatusEvent], agent_sid: str) -> tuple[str, bool]:
    """The send's short state for the list and whether it is finished, from its events in arrival order.

    The latest meaningful event wins, but never a lower rank: message progress < reply < task. A failure
    sticks; once finished, only "closed" may still replace a task's final state."""
    state, rank, level, finished, failed = "queued", _PROGRESS, 0, False, False
    for event in events:
        if finished:
            if isinstance(event, ConversationEvent) and event.kind == "closed" and not failed:
                state = "closed"
            continue
        if isinstance(event, ConversationEvent):
            if event.kind == "closed":
                state, finished = "closed", True
        elif isinstance(event, MessageStatusChanged):
            if event.status in FINAL_MESSAGE:
                code = f" ({event.error_code})" if event.error_code is not None else ""
                state, finished, failed = f"{event.status}{code}", True, True
            elif event.status in _LEVELS and rank == _PROGRESS and _LEVELS[event.status] > level:
                level = _LEVELS[event.status]
                state = "waiting for reply" if mode in _WAIT_MODES else event.status
        elif isinstance(event, CustomerReplied):
            if rank <= _REPLY:
                state, rank = "replied", _REPLY
        elif isinstance(event, TaskStatusChanged):
            state, rank, finished = _task_state(event, agent_sid), _TASK, event.status in FINAL_TASK
    return state, finished


def _task_state(event: TaskStatusChanged, agent_sid: str) -> str:
    if event.worker_sid is None:
        who = ""
    elif event.worker_sid == agent_sid:
        who = "you"
    else:
        who = event.worker_name or "another agent"
    match event.status:
        case "reserved":
            return f"task offered to {who}" if who else "task offered"
        case "assigned":
            return f"task with {who}" if who else "task assigned"
        case "wrapping":
            return "wrapping up"
        case _:
            return f"task {event.status}"  # pending, completed, canceled


def preview(request: SendRequest) -> str:
    """What the list shows of the message: its first line, or the template's SID."""
    if request.content_sid:
        return f"template {request.content_sid}"
    lines = (request.body or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= PREVIEW_LENGTH else first[:PREVIEW_LENGTH - 1] + "…"


def _dedup_key(event: StatusEvent) -> str:
    if isinstance(event, ConversationEvent):
        return f"conversation:{event.kind}"
    if isinstance(event, MessageStatusChanged):
        return f"message_status:{event.message_sid}:{event.status}"
    if isinstance(event, CustomerReplied):
        return f"customer_replied:{event.message_sid}"
    return f"task_status:{event.task_sid}"  # a duplicate only when it repeats the task's latest status


class SendHistory:
    """The sends of one agent (`agent_sid`, the worker SID) in a SQLite file shared with other agents."""

    def __init__(self, path: Path | str, agent_sid: str) -> None:
        self.agent_sid = agent_sid
        if str(path) != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # bodies and numbers are private
        # autocommit; writes take BEGIN IMMEDIATE so a read-check-write never interleaves with another process
        self._db = sqlite3.connect(str(path), timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()  # one connection, possibly used from a worker thread
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, and no fsync per event
        with self._write() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def record(self, result: SendResult, at: datetime) -> SendRecord:
        """Adds a send (call it before the watcher follows it: events for unknown sends are dropped)."""
        if at.tzinfo is None:
            raise ValueError("the time of a send must be timezone-aware")
        state, finished = describe(result.mode, [], self.agent_sid)
        sent_at = at.astimezone(UTC).isoformat(timespec="microseconds")  # one fixed width: sorts as text
        with self._write() as db:
            db.execute(
                "INSERT INTO sends (agent_sid, message_sid, conversation_sid, result, sent_at, state, finished)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_sid, message_sid) DO NOTHING",
                (self.agent_sid, result.message_sid, result.conversation_sid, result.model_dump_json(), sent_at,
                 state, finished),
            )
            stored = self._send(db, "message_sid = ?", (result.message_sid,))
        assert stored is not None
        return stored

    def add(self, event: StatusEvent) -> SendRecord | None:
        """Stores the event on its send and updates the send's state; returns the send as it is now, or None
        when it is not ours or a duplicate.

        A message status goes to the send of that message; anything else to the newest send of ours in the
        conversation."""
        key = _dedup_key(event)
        with self._write() as db:
            send = None
            if isinstance(event, MessageStatusChanged):
                send = self._send(db, "conversation_sid = ? AND message_sid = ?",
                                  (event.conversation_sid, event.message_sid))
            send = send or self._send(db, "conversation_sid = ?", (event.conversation_sid,))
            if send is None or self._is_duplicate(db, send.message_sid, key, event):
                return None
            db.execute("INSERT INTO events (agent_sid, send_sid, key, event) VALUES (?, ?, ?, ?)",
                       (self.agent_sid, send.message_sid, key, _EVENT.dump_json(event).decode()))
            state, finished = describe(send.mode, self._events(db, send.message_sid), self.agent_sid)
            db.execute("UPDATE sends SET state = ?, finished = ? WHERE agent_sid = ? AND message_sid = ?",
                       (state, finished, self.agent_sid, send.message_sid))
        return send.model_copy(update={"state": state, "finished": finished})

    def sends(self, limit: int = 200) -> list[SendRecord]:
        """This agent's sends, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM sends WHERE agent_sid = ? ORDER BY sent_at DESC, seq DESC"
                                    " LIMIT ?", (self.agent_sid, limit)).fetchall()
        return [_record(row) for row in rows]

    def get(self, message_sid: str) -> SendRecord | None:
        with self._lock:
            return self._send(self._db, "message_sid = ?", (message_sid,))

    def timeline(self, message_sid: str) -> list[StatusEvent]:
        """The send's events in time order (those of one moment in the order they arrived): Twilio's times and
        the app's clock interleave when answers are slow."""
        with self._lock:
            return sorted(self._events(self._db, message_sid), key=lambda event: event.at)

    def unfinished(self) -> list[SendRecord]:
        """The sends to follow again at start-up, newest first: per conversation only the newest send (later
        events go to it), and only when it is not finished."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM sends s WHERE agent_sid = ? AND finished = 0 AND NOT EXISTS ("
                " SELECT 1 FROM sends n WHERE n.agent_sid = s.agent_sid AND n.conversation_sid = s.conversation_sid"
                " AND (n.sent_at, n.seq) > (s.sent_at, s.seq)) ORDER BY sent_at DESC, seq DESC",
                (self.agent_sid,)).fetchall()
        return [_record(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SendHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pieces ------------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _send(self, db: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> SendRecord | None:
        """The newest of this agent's sends matching `where`."""
        row = db.execute(f"SELECT * FROM sends WHERE agent_sid = ? AND {where} ORDER BY sent_at DESC, seq DESC"
                         " LIMIT 1", (self.agent_sid, *params)).fetchone()
        return None if row is None else _record(row)

    def _events(self, db: sqlite3.Connection, send_sid: str) -> list[StatusEvent]:
        rows = db.execute("SELECT event FROM events WHERE agent_sid = ? AND send_sid = ? ORDER BY id",
                          (self.agent_sid, send_sid)).fetchall()
        return [_EVENT.validate_json(row["event"]) for row in rows]

    def _is_duplicate(self, db: sqlite3.Connection, send_sid: str, key: str, event: StatusEvent) -> bool:
        query = "SELECT event FROM events WHERE agent_sid = ? AND send_sid = ? AND key = ? ORDER BY id DESC LIMIT 1"
        row = db.execute(query, (self.agent_sid, send_sid, key)).fetchone()
        if row is None:
            return False
        if not isinstance(event, TaskStatusChanged):
            return True
        # a task may be offered, time out and be offered again: only a repeat of its latest status is a re-report
        latest = _EVENT.validate_json(row["event"])
        assert isinstance(latest, TaskStatusChanged)
        return (latest.status, latest.worker_sid) == (event.status, event.worker_sid)


def _record(row: sqlite3.Row) -> SendRecord:
    return SendRecord(result=SendResult.model_validate_json(row["result"]), sent_at=row["sent_at"],
                      state=row["state"], finished=row["finished"])
