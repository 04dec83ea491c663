"""The background clock of the demo cloud: starts and finishes jobs, decides refund requests and
records ledger entries that a scenario scheduled for later.

Everything it acts on lives in SQLite with wall-clock deadlines, so a restart simply carries on.
"""

from __future__ import annotations

import logging
import threading
import time

from app.democloud import jobs, ledger, refunds, support
from app.democloud.runtime import Runtime

log = logging.getLogger(__name__)
# Every request that creates a deadline wakes the worker, so with nothing due it sleeps long:
# an idle demo cloud inside the tray app must cost ~0% CPU. The cap only bounds drift when the
# wall clock jumps (deadlines are wall-clock times kept in SQLite).
_MAX_SLEEP = 60.0


class Worker:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._wake = threading.Condition()
        self._nudged = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="democloud-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        with self._wake:
            self._nudged = True
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            try:
                next_due = self.tick()
            except Exception:  # keep serving; the next tick may well succeed
                log.exception("demo cloud worker tick failed")
                next_due = None
            delay = _MAX_SLEEP if next_due is None else max(0.0, next_due - time.time())
            with self._wake:
                if not self._nudged and not self._stopping:
                    self._wake.wait(timeout=min(delay, _MAX_SLEEP))
                self._nudged = False

    def tick(self) -> float | None:
        """Do everything that is due now; return the wall-clock time of the next deadline."""
        now = time.time()
        jobs.finish_due(self._rt, now)  # first: finishing frees render capacity
        jobs.start_queued(self._rt)
        deadlines = [jobs.next_finish(self._rt), refunds.advance(self._rt, now),
                     support.advance(self._rt, now)]
        with self._rt.db.tx() as conn:
            deadlines.append(ledger.record_due(conn, now))
        known = [d for d in deadlines if d is not None]
        return min(known) if known else None
