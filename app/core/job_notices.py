"""What the queue should tell the operator, decided from successive queue counts.

Each notice fires once per episode (held for a slow link, stuck, paused) and again only after the
episode ended, so a busy operator sees one line per problem, not one per photo.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core.alerts import Alert
from app.core.jobs import FINAL, JobState, QueueCounts

DRAINED_MIN_BACKLOG = 5  # fewer than this is normal traffic, not a backlog worth announcing
Notice = Alert  # the queue's notices are alerts like any other


def badge_text(counts: QueueCounts) -> str:
    """The tray badge: how many photos are not finished yet ('' when none)."""
    n = counts.open
    return "" if n == 0 else ("99+" if n > 99 else str(n))


def queue_line(counts: QueueCounts) -> str:
    """'3 photos queued, 1 held' for the tray and `status` ('' when nothing is open)."""
    if not counts.open:
        return ""
    held = counts.count(JobState.HELD)
    line = f"{counts.open} photo{'s' if counts.open != 1 else ''} queued"
    return line + (f", {held} held" if held else "")


def quit_warning(counts: QueueCounts) -> str | None:
    """Shown before quitting while photos are still open; None when quitting loses nothing."""
    n = counts.open
    if n == 0:
        return None
    return (f"{n} photo{'s are' if n != 1 else ' is'} still queued. They are kept safely and "
            "sent when the app runs again, but guests wait until then.")


class QueueWatch:
    def __init__(self, stuck_after: timedelta = timedelta(minutes=15)):
        self.stuck_after = stuck_after
        self._finished: int | None = None
        self._progress_at: datetime | None = None
        self._peak_open = 0
        self._held = 0
        self._stuck_shown = False
        self._paused_kind: str | None = None

    def update(self, counts: QueueCounts, now: datetime) -> list[Notice]:
        out: list[Notice] = []
        finished = counts.count(*FINAL)
        if self._finished is None or finished != self._finished or counts.open == 0:
            self._progress_at = now
            self._stuck_shown = False
        self._finished = finished

        held = counts.count(JobState.HELD)
        if held and not self._held:
            out.append(Notice("held", "Slow link: photos held",
                              f"{held} photo{'s' if held != 1 else ''} held until the link "
                              "recovers. 'Send anyway' in the AI jobs tab sends them now.",
                              lasting=True))
        self._held = held

        pause = counts.pause
        if pause is not None and pause.kind != self._paused_kind:
            title = ("AI jobs paused: not enough credits" if pause.kind == "credits"
                     else "AI jobs paused: the cloud refused the token")
            out.append(Notice(f"paused:{pause.kind}", title,
                              f"{pause.message} Queued photos are kept and sent once this "
                              "is fixed.", "critical", lasting=True))
        self._paused_kind = pause.kind if pause else None

        self._peak_open = max(self._peak_open, counts.open)
        if counts.open == 0 and self._peak_open >= DRAINED_MIN_BACKLOG:
            out.append(Notice("drained", "Queue caught up",
                              f"All {self._peak_open} queued photos have been processed.",
                              "info"))
            self._peak_open = 0
        elif counts.open == 0:
            self._peak_open = 0

        assert self._progress_at is not None
        stalled_for = now - self._progress_at
        if counts.open and stalled_for >= self.stuck_after and not self._stuck_shown:
            self._stuck_shown = True
            minutes = int(stalled_for.total_seconds() // 60)
            out.append(Notice("stuck", "Queue not moving",
                              f"{counts.open} photo{'s' if counts.open != 1 else ''} waiting and "
                              f"none finished for {minutes} min. "
                              + (counts.pause.message if counts.pause else
                                 "Check the venue network."), "critical", lasting=True))
        return out

    def active_keys(self) -> set[str]:
        """Keys of the lasting notices whose condition still holds."""
        keys = {"held"} if self._held else set()
        if self._paused_kind:
            keys.add(f"paused:{self._paused_kind}")
        if self._stuck_shown:
            keys.add("stuck")
        return keys
