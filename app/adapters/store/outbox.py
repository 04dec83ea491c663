"""The durable outbox's filing machinery, shared by refund claims and support requests.

An item (a refund claim, a support request) is committed with its idempotency key before
anything is sent. Each filing attempt on a channel takes a lease (owner + expiry) inside
BEGIN IMMEDIATE, so two processes never send the same row at once and a row whose owner was
killed is taken again once its lease runs out. The cloud request body is frozen at the first
attempt and re-sent byte for byte (the cloud replays a key only for an identical body). Every
state change is a compare-and-set; every attempt is recorded. Each kind of item keeps its own
tables (named by OutboxTables) with the same columns, so the two never block each other's
migrations; the code that moves them is this one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from app.adapters.store.db import Database, from_text, to_text
from app.core.refund_filing import FilingFailure

# Items that are still being worked on (the same words for claims and requests).
OPEN_SQL = "'pending','filed','acknowledged'"

T = TypeVar("T")
BATCH_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class OutboxTables:
    items: str  # one row per item: id, seq, status, hold_until, remote_id, checked_at, ...
    filings: str  # (item, channel): state, body, message_id, lease, errors
    messages: str  # email messages, each stored before its SMTP session
    attempts: str  # every attempt, for the record and the crash tests
    channels: str  # per-channel health and backoff
    item_col: str  # the item's column in filings and attempts (claim_id, request_id)


@dataclass(frozen=True)
class ChannelState:
    failures: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def to_column(value: Any) -> Any:
    return to_text(value) if isinstance(value, datetime) else value


class Outbox(Generic[T]):
    def __init__(self, db: Database, tables: OutboxTables,
                 item_from_row: Callable[[sqlite3.Row], T]):
        self._db = db
        self.tables = tables
        self._from_row = item_from_row

    # -- rows -----------------------------------------------------------------------------------

    def from_row(self, row: sqlite3.Row) -> T:
        return self._from_row(row)

    def item_row(self, conn: sqlite3.Connection, item_id: str) -> T:
        return self._from_row(conn.execute(f"SELECT * FROM {self.tables.items} WHERE id = ?",
                                           (item_id,)).fetchone())

    def get(self, item_id: str) -> T | None:
        rows = self._db.query(f"SELECT * FROM {self.tables.items} WHERE id = ?", (item_id,))
        return self._from_row(rows[0]) if rows else None

    def record_attempt_row(self, conn: sqlite3.Connection, at: datetime, channel: str,
                           outcome: str, detail: str, *, item_id: str | None = None,
                           message_id: str | None = None) -> None:
        t = self.tables
        conn.execute(f"INSERT INTO {t.attempts}(at, channel, {t.item_col}, message_id, outcome,"
                     " detail) VALUES (?,?,?,?,?,?)",
                     (to_text(at), channel, item_id, message_id, outcome, detail[:2000]))

    def mark_filed(self, conn: sqlite3.Connection, item_id: str, at: datetime,
                   remote_id: str | None, via: str) -> T | None:
        """`via` names the filing that did it ("cloud:<pass>", "email:<Message-ID>"): the
        items of one via are the batch one filed notice names (filed_batches)."""
        items = self.tables.items
        conn.execute(f"UPDATE {items} SET remote_id = COALESCE(remote_id, ?) WHERE id = ?",
                     (remote_id, item_id))
        done = conn.execute(f"UPDATE {items} SET status = 'filed', filed_at = ?, updated_at = ?,"
                            " filed_via = ? WHERE id = ? AND status = 'pending'",
                            (to_text(at), to_text(at), via, item_id)).rowcount
        return self.item_row(conn, item_id) if done else None

    def filed_batches(self, since: datetime) -> list[tuple[str, str, list[T]]]:
        """The filings that made items 'filed' at or after `since`, oldest first: (channel,
        the email's recipient or "", its items in the order they were filed). Whatever the
        item's status now: a filed notice tells that it was filed."""
        t = self.tables
        # A batch is filed within seconds; the margin keeps one that straddles `since` whole.
        rows = self._db.query(
            f"SELECT i.*, m.recipient AS via_recipient FROM {t.items} i LEFT JOIN {t.messages} m"
            " ON i.filed_via = 'email:' || m.message_id WHERE i.filed_via IS NOT NULL"
            " AND i.filed_at >= ? ORDER BY i.filed_at, i.seq",
            (to_text(since - BATCH_MARGIN),))
        batches: dict[str, tuple[str, str, list[T], list[datetime]]] = {}
        for row in rows:
            via = row["filed_via"]
            if via not in batches:
                batches[via] = (via.partition(":")[0], row["via_recipient"] or "", [], [])
            batches[via][2].append(self._from_row(row))
            batches[via][3].append(from_text(row["filed_at"]) or since)
        return [(channel, to, found) for channel, to, found, times in batches.values()
                if max(times) >= since]

    # -- following up ---------------------------------------------------------------------------

    def checked(self, item_id: str, at: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE {self.tables.items} SET checked_at = ? WHERE id = ?",
                         (at.timestamp(), item_id))

    def to_follow(self, now: datetime, every_seconds: float) -> list[T]:
        """Items the cloud holds and has not decided, not asked about for a while."""
        rows = self._db.query(
            f"SELECT * FROM {self.tables.items} WHERE remote_id IS NOT NULL AND status IN"
            " ('filed', 'acknowledged') AND (checked_at IS NULL OR checked_at <= ?)"
            " ORDER BY seq", (now.timestamp() - every_seconds,))
        return [self._from_row(r) for r in rows]

    # -- filings --------------------------------------------------------------------------------

    def ensure_filings(self, channels: Sequence[str], at: datetime) -> None:
        """Items not filed anywhere yet follow the current channel choice; filed ones keep
        the channels they were filed by (changing Settings never files an item again)."""
        if not channels:
            return
        t = self.tables
        with self._db.transaction() as conn:
            pending = [r[0] for r in conn.execute(
                f"SELECT id FROM {t.items} WHERE status = 'pending'")]
            for item_id in pending:
                for channel in channels:
                    conn.execute(f"INSERT OR IGNORE INTO {t.filings}({t.item_col}, channel,"
                                 " state) VALUES (?, ?, 'pending')", (item_id, channel))
                conn.execute(f"UPDATE {t.items} SET channel = ? WHERE id = ?",
                             ("+".join(sorted(channels)), item_id))

    def take_cloud_filing(self, owner: str, now: datetime, lease_seconds: float
                          ) -> tuple[T, str | None] | None:
        """Lease the oldest due cloud filing: (item, the body as first sent, if it was)."""
        t, tm = self.tables, now.timestamp()
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT f.{t.item_col} AS item, f.body FROM {t.filings} f JOIN {t.items} c"
                f" ON c.id = f.{t.item_col} WHERE f.channel = 'cloud' AND f.state = 'pending'"
                f" AND c.status IN ({OPEN_SQL}) AND (c.hold_until IS NULL OR c.hold_until <= ?)"
                " AND (f.owner IS NULL OR f.lease_until < ?) ORDER BY c.seq LIMIT 1",
                (tm, tm)).fetchone()
            if row is None:
                return None
            conn.execute(f"UPDATE {t.filings} SET owner = ?, lease_until = ?, attempts ="
                         f" attempts + 1 WHERE {t.item_col} = ? AND channel = 'cloud'",
                         (owner, tm + lease_seconds, row["item"]))
            return self.item_row(conn, row["item"]), row["body"]

    def freeze_body(self, item_id: str, body: str) -> str:
        """Store the cloud request at its first attempt; later attempts get that one back."""
        t = self.tables
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE {t.filings} SET body = COALESCE(body, ?)"
                         f" WHERE {t.item_col} = ? AND channel = 'cloud'", (body, item_id))
            return str(conn.execute(f"SELECT body FROM {t.filings} WHERE {t.item_col} = ? AND"
                                    " channel = 'cloud'", (item_id,)).fetchone()[0])

    def filing_done(self, item_id: str, channel: str, owner: str, at: datetime,
                    remote_id: str | None = None, batch: str | None = None) -> T | None:
        """The channel accepted the item. Returns the item if this made it 'filed'. `batch`
        names the filing pass (one notice tells a pass's items); by default the item alone."""
        t = self.tables
        with self._db.transaction() as conn:
            done = conn.execute(
                f"UPDATE {t.filings} SET state = 'filed', filed_at = ?, remote_id = ?,"
                " owner = NULL, lease_until = NULL, last_error = NULL, last_error_kind = NULL"
                f" WHERE {t.item_col} = ? AND channel = ? AND state = 'pending' AND owner IS ?",
                (to_text(at), remote_id, item_id, channel, owner)).rowcount
            if not done:
                return None
            self.record_attempt_row(conn, at, channel, "filed", remote_id or "", item_id=item_id)
            # The answer just told us where the request stands: no need to ask again at once.
            conn.execute(f"UPDATE {t.items} SET checked_at = ? WHERE id = ?",
                         (at.timestamp(), item_id))
            return self.mark_filed(conn, item_id, at, remote_id,
                                   f"{channel}:{batch or item_id}")

    def filing_failed(self, item_id: str, channel: str, owner: str, at: datetime,
                      failure: FilingFailure) -> None:
        t = self.tables
        state = "refused" if failure.claim_refused else "pending"
        with self._db.transaction() as conn:
            conn.execute(
                f"UPDATE {t.filings} SET state = ?, last_error = ?, last_error_kind = ?,"
                f" owner = NULL, lease_until = NULL WHERE {t.item_col} = ? AND channel = ?"
                " AND owner IS ?", (state, failure.message, failure.kind, item_id, channel,
                                    owner))
            self.record_attempt_row(conn, at, channel,
                                    state if failure.claim_refused else "failed",
                                    f"{failure.kind}: {failure.message}", item_id=item_id)

    def record_attempt(self, channel: str, at: datetime, outcome: str, detail: str = "", *,
                       item_id: str | None = None, message_id: str | None = None,
                       claim_id: str | None = None) -> None:
        with self._db.transaction() as conn:
            self.record_attempt_row(conn, at, channel, outcome, detail,
                                    item_id=item_id or claim_id, message_id=message_id)

    def attempts(self, item_id: str | None = None) -> list[dict[str, Any]]:
        t = self.tables
        sql = f"SELECT * FROM {t.attempts}"
        if item_id:
            sql += (f" WHERE {t.item_col} = ? OR message_id IN (SELECT message_id FROM"
                    f" {t.filings} WHERE {t.item_col} = ?)")
        rows = self._db.query(sql + " ORDER BY id", (item_id, item_id) if item_id else ())
        return [dict(r) for r in rows]

    def waiting(self, channel: str) -> int:
        """Open items this channel has not filed yet."""
        t = self.tables
        return int(self._db.query(
            f"SELECT COUNT(*) FROM {t.filings} f JOIN {t.items} c ON c.id = f.{t.item_col}"
            f" WHERE f.channel = ? AND f.state = 'pending' AND c.status IN ({OPEN_SQL})",
            (channel,))[0][0])

    # -- channel health -------------------------------------------------------------------------

    def channel_state(self, channel: str) -> ChannelState:
        rows = self._db.query(f"SELECT * FROM {self.tables.channels} WHERE channel = ?",
                              (channel,))
        if not rows:
            return ChannelState()
        r = rows[0]
        return ChannelState(r["failures"], from_epoch(r["next_attempt_at"]), r["last_error"],
                            r["last_error_kind"])

    def channel_failed(self, channel: str, at: datetime, failure: FilingFailure,
                       next_attempt_at: datetime) -> int:
        """Record a failure; returns how many in a row."""
        table = self.tables.channels
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {table}(channel, failures, next_attempt_at, last_error,"
                " last_error_kind, failing_since) VALUES (?, 1, ?, ?, ?, ?)"
                " ON CONFLICT(channel) DO UPDATE SET failures = failures + 1,"
                " next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,"
                " last_error_kind = excluded.last_error_kind,"
                " failing_since = COALESCE(failing_since, excluded.failing_since)",
                (channel, next_attempt_at.timestamp(), failure.message, failure.kind,
                 to_text(at)))
            return int(conn.execute(f"SELECT failures FROM {table} WHERE channel = ?",
                                    (channel,)).fetchone()[0])

    def channel_ok(self, channel: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(f"DELETE FROM {self.tables.channels} WHERE channel = ?", (channel,))

    def reset_channels(self) -> None:
        """After a Settings change: try every channel again now (the problem may be fixed)."""
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE {self.tables.channels} SET next_attempt_at = NULL")
