"""A phone alert run in its own process that SIGKILLs itself at a chosen step.

    python -m tests.alerts.crash_driver HOME ALERT_URL [before:N | after:N | none]

Steps are counted across the outbox's durable writes and the send: add(1) take(2) send(3)
target_done(4) finish(5). Every run raises the same alert and relays the outbox, as the tray
app does after each start and sync.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from app.adapters.notify.apprise_sender import AppriseSender
from app.adapters.store.alerts_repo import AlertsRepo
from app.core.alerts import Alert
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import load_targets, save_targets
from app.runtime import Options, Runtime, utc_now

STEPS = [(AlertsRepo, "add"), (AlertsRepo, "take"), (AppriseSender, "send"),
         (AlertsRepo, "target_done"), (AlertsRepo, "finish")]
PAID = Alert("refund-refunded:c1", "Credits refunded", "$1.50 is back.", "info")


def arm(spec: str) -> None:
    if spec == "none":
        return
    when, _, n = spec.partition(":")
    target = int(n)
    calls = 0

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == target and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            if calls == target and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return step

    for owner, name in STEPS:
        setattr(owner, name, wrap(getattr(owner, name)))


def main(home: str, url: str, spec: str) -> None:
    runtime = Runtime(Options(home=home, cloud_url="http://127.0.0.1:9"))
    if not load_targets(runtime):
        runtime.settings.booth_name = "Booth A"
        runtime.save_settings()
        save_targets(runtime, [url])
    arm(spec)
    # Runs follow one another, never overlap: no lease to wait out after a killed run.
    path = AlertPath(runtime, lease_seconds=0)
    path.take([PAID], utc_now())
    report = path.deliver(utc_now())
    print(f"sent={len(report.sent)} waiting={report.waiting}")
    runtime.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
