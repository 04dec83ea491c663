"""A support-request filing run in its own process that SIGKILLs itself at a chosen step.

    python -m tests.guard.crash_driver HOME CLOUD_URL [before:N | after:N | none]

Steps are counted across the outbox's durable writes and the network hand-overs (as in
tests/refunds/crash_driver.py), so the parent can kill a run before or after any of them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import timedelta

from app.adapters.cloud.support import CloudSupport
from app.adapters.mail.smtp import SmtpSender
from app.adapters.store.refund_mail_repo import MailOutbox
from app.adapters.store.requests_repo import RequestsRepo
from app.core.support_requests import request_json
from app.orchestration.guard_path import GuardPath
from app.orchestration.request_relay import GuardPolicy
from app.runtime import Options, Runtime
from tests.refunds import crash_driver
from tests.refunds.timers import FAST

crash_driver.STEPS[:] = [
    (RequestsRepo, "add"), (RequestsRepo, "take_cloud_filing"), (CloudSupport, "file"),
    (RequestsRepo, "filing_done"), (MailOutbox, "take_unsent_message"),
    (MailOutbox, "open_message"), (SmtpSender, "send"), (MailOutbox, "message_sent")]
# Runs follow one another and never overlap: no lease needs to run out (see the refund driver).
POLICY = GuardPolicy(filing=replace(FAST, lease=timedelta(0)))


def main(argv: list[str]) -> int:
    home, url, spec = argv
    crash_driver.arm(spec)
    runtime = Runtime(Options(home=home, cloud_url=url))
    try:
        path = GuardPath(runtime, policy=POLICY)
        path.cycle(file_now=True)
        print(json.dumps([request_json(r) for r in path.requests()]))
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
