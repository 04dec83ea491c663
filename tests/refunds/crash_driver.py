"""A refund filing run in its own process that SIGKILLs itself at a chosen step.

    python -m tests.refunds.crash_driver HOME CLOUD_URL [before:N | after:N | none]

Steps are counted across the outbox's durable writes and the two network hand-overs, so a
parent can kill a run before or after any of them: the moment after the cloud or the mail
server accepted a claim and before the outbox recorded it is the one that matters most.
The token and SMTP password come from the environment, as on a headless booth.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.adapters.cloud.refunds import CloudRefunds
from app.adapters.mail.smtp import SmtpSender
from app.adapters.store.refund_mail_repo import MailOutbox
from app.adapters.store.refunds_repo import RefundsRepo
from app.core.refunds import claim_json
from app.orchestration.refund_path import RefundPath
from app.runtime import Options, Runtime
from tests.refunds.timers import FAST

STEPS = [(RefundsRepo, "add"), (RefundsRepo, "take_cloud_filing"), (CloudRefunds, "file"),
         (RefundsRepo, "filing_done"), (MailOutbox, "take_unsent_message"),
         (MailOutbox, "open_message"), (SmtpSender, "send"), (MailOutbox, "message_sent")]
# Runs follow one another here, never overlap, so a dead run's rows need no lease to expire:
# with no lease each run takes up exactly where the killed one stopped, and the steps below
# are the same on every machine.
POLICY = replace(FAST, lease=timedelta(0))


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


def main(argv: list[str]) -> int:
    home, url, spec = argv
    arm(spec)
    runtime = Runtime(Options(home=home, cloud_url=url))
    try:
        RefundPath(runtime, policy=POLICY).cycle(file_now=True)
        print(json.dumps([claim_json(c) for c in RefundPath(runtime).claims()]))
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
