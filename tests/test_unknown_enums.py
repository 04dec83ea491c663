"""Issue 10 #5: a cloud newer than this app sends an enum value we do not know. The contract
says clients ignore what they do not know, so the refresh must still land the balance."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import httpx

from app.core.conditions import assess
from app.core.model import AccountStatus, PaymentMethod, Plan
from app.runtime import Options, Runtime

TOKEN = "demo-token"


def _newer_cloud(cloud, **fields) -> None:
    # The demo cloud stores the account as text and serves it as stored: writing a value this
    # version does not know makes it answer like a newer vendor release would.
    with sqlite3.connect(cloud.db_path) as conn:
        for key, value in fields.items():
            conn.execute(f"UPDATE accounts SET {key} = ?", (value,))


def test_an_unknown_plan_and_payment_method_do_not_freeze_the_balance(
        demo_cloud, home, memory_keyring, capsys):
    _newer_cloud(demo_cloud, plan="platinum", primary_payment_method="crypto")
    runtime = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    try:
        runtime.secrets.set_token(runtime.cloud_url, TOKEN)
        outcome = runtime.refresh()
        assert outcome.ok, outcome.error
        balance = httpx.get(f"{demo_cloud.url}/v1/balance", timeout=5,
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()
        view = runtime.view()
        assert view.balance_cents == balance["balance_cents"]
        assert view.account.plan is Plan.UNKNOWN
        assert view.account.primary_payment_method is PaymentMethod.UNKNOWN
        assert view.account.unrecognised == ("plan: platinum",
                                             "primary_payment_method: crypto")
        assert view.to_json()["not_known_to_this_version"] == list(view.account.unrecognised)
    finally:
        runtime.close()


def test_an_unknown_account_status_is_named_and_sent_to_the_dashboard(
        demo_cloud, home, memory_keyring):
    _newer_cloud(demo_cloud, status="paused_by_admin")
    runtime = Runtime(Options(home=str(home), cloud_url=demo_cloud.url))
    try:
        runtime.secrets.set_token(runtime.cloud_url, TOKEN)
        assert runtime.refresh().ok
        view = runtime.view()
        assert view.account.status is AccountStatus.UNKNOWN
        lines = [f.line for f in assess(view, datetime.now(timezone.utc)).findings]
        assert any("'paused_by_admin' is new to this version" in line for line in lines), lines
    finally:
        runtime.close()
