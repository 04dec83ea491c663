"""A claim filing run in its own process, with the tray app's phone path, that SIGKILLs itself
at a chosen moment.

    python -m tests.alerts.filed_driver HOME ALERT_URL refunds|support [take | filed:N | none]

Each run does what the tray app's worker does after a sync: a filing pass with the cloud (two
claims, or two support requests, committed on the first run), the pass's "filed" notice to the
phone outbox (take), the catch-up, a delivery. `take` dies after the pass's commits and before
the take; `filed:N` right after the Nth filing's commit (the pass is cut short). The cloud is a
stand-in desk in this process: what matters here is the store and the phone.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.adapters.store.outbox import Outbox
from app.adapters.store.refunds_repo import RefundsRepo
from app.adapters.store.requests_repo import RequestsRepo
from app.core.refund_filing import Channel, Identity, RemoteRefund
from app.core.refunds import Claim, Rule
from app.core.support_requests import RemoteRequest, SupportRequest
from app.orchestration.alert_path import AlertPath
from app.orchestration.alert_targets import load_targets, save_targets
from app.orchestration.outbox_relay import CycleReport, FilingConfig
from app.orchestration.refund_relay import RefundRelay
from app.orchestration.request_relay import GuardPolicy, RequestRelay
from app.runtime import Options, Runtime, utc_now
from tests.refunds.timers import FAST

POLICY = replace(FAST, lease=timedelta(0))  # runs follow one another, never overlap
CONFIG = FilingConfig(channels=(Channel.CLOUD,), identity=Identity("op@example.com", "Booth A"))


class Desk:
    def __init__(self, kind: str):
        self.kind = kind

    def file(self, key: str, body: str) -> Any:
        if self.kind == "refunds":
            return RemoteRefund(id=f"rr-{key}", status="received", amount_cents=150)
        return RemoteRequest(id=f"sr-{key}", status="received")

    def get(self, remote_id: str) -> Any:
        raise AssertionError("not followed up here")


def kill_after(owner: type, name: str, nth: int, before: bool = False) -> None:
    original = getattr(owner, name)
    calls = 0

    def step(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if before and calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, step)


def first_run(kind: str, runtime: Runtime, url: str) -> None:
    runtime.settings.booth_name = "Booth A"
    runtime.settings.alert_routes = {"claim_filed": {"to": "both"}}
    runtime.save_settings()
    save_targets(runtime, [url])
    now = utc_now()
    if kind == "refunds":
        RefundsRepo(runtime.db).add(
            Claim(id=f"rc-{n}", ledger_entry_id=f"le_{n}", rule=Rule.FAILED_AFTER_CHARGE,
                  feature="draw_me", amount_cents=150, charged_at=now, reason="failed",
                  idempotency_key=f"k{n}", created_at=now) for n in (1, 2))
    else:
        RequestsRepo(runtime.db).add(
            SupportRequest(id=f"sr-{n}", kind="missing_purchase", trap_key=f"purchase:p{n}",
                           title="Purchase not credited", message="$50 paid, never credited.",
                           idempotency_key=f"k{n}", created_at=now, at_risk_cents=5000,
                           facts={"receipt": f"r{n}", "amount_cents": 5000,
                                  "paid_at": now.isoformat()})
            for n in (1, 2))


def main(home: str, url: str, kind: str, spec: str) -> None:
    runtime = Runtime(Options(home=home, cloud_url="http://127.0.0.1:9"))
    if not load_targets(runtime):
        first_run(kind, runtime, url)
    relay: RefundRelay | RequestRelay
    if kind == "refunds":
        repo: Outbox[Any] = RefundsRepo(runtime.db)
        relay = RefundRelay(RefundsRepo(runtime.db), jobs=None,  # type: ignore[arg-type]
                            ledger=lambda *_: [], desk=lambda: Desk(kind), mail=None,
                            clock=utc_now, policy=POLICY)
    else:
        repo = RequestsRepo(runtime.db)
        relay = RequestRelay(RequestsRepo(runtime.db), desk=lambda: Desk(kind), mail=None,
                             clock=utc_now, policy=GuardPolicy(filing=POLICY))
    if spec == "take":
        kill_after(AlertPath, "take", 1, before=True)
    elif spec.startswith("filed:"):
        kill_after(type(repo), "filing_done", int(spec.partition(":")[2]))
    path = AlertPath(runtime, lease_seconds=0)
    report = CycleReport()
    repo.ensure_filings([Channel.CLOUD.value], utc_now())
    relay.file_cloud(CONFIG, report)
    path.take(report.notices, utc_now())  # the worker's signal, after the pass's commits
    path.catch_up(utc_now())  # after each cycle
    sent = path.deliver(utc_now())
    print(f"notices={len(report.notices)} sent={len(sent.sent)} waiting={sent.waiting}")
    runtime.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
