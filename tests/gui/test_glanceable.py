"""What the operator sees, in every surface at once, through the whole tray app on the embedded
demo cloud: the icon, the tooltip, the menu, the window's chips and line, and `status` on the
command line all say the same thing, from the one model (app.core.conditions).

Scenarios from issue 9: an outage, a slow link with a low balance, a revoked token, an expired
plan, a duplicate photo, a retry, held photos released by a passing check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.core.conditions import LOOKS, Condition
from app.core.jobs import JobState
from app.democloud.images import make_png
from app.gui.main import MonitorApp
from app.gui.tray import short, tooltip_text
from app.runtime import Options

C = Condition
# Far above any loopback link: every real measurement reads "too slow" against it.
UNREACHABLE_MBPS = 1_000_000.0


@pytest.fixture
def booth(qtbot, qapp, home, memory_keyring):
    made: list[MonitorApp] = []

    def start(failure_rate: float = 0.0) -> MonitorApp:
        app = MonitorApp(qapp, Options(home=str(home), demo=True,
                                       demo_job_failure_rate=failure_rate),
                         tray_available=False)
        made.append(app)
        app.start()
        qtbot.waitUntil(lambda: app.snapshot is not None and app.snapshot.state.balance_cents
                        is not None and app.jobs.last_queue is not None, timeout=20_000)
        return app

    yield start
    for app in made:
        app.confirm_quit = lambda _warning: True
        with qtbot.waitSignal(app.thread.finished, timeout=20_000):
            app.quit()
        app.dispose()


def seen(app: MonitorApp) -> dict[str, object]:
    """Every surface, read the way an operator reads it."""
    tray = app.tray
    tray._update_texts()  # what aboutToShow does when the menu opens
    found = tray.assessment()
    assert found is not None
    header = app.window.header
    chips = [c.text() for c in header.chips if not c.isHidden()]
    return {"worst": found.worst, "conditions": [f.condition for f in found.findings],
            "tooltip": tray.icon.toolTip(), "menu": tray.menu_lines(), "chips": chips,
            "line": header.line.full_text(), "age": header.age.full_text()}


def cli_status(home) -> dict[str, object]:
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "app", "status", "--demo", "--json"],
                            env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def cli_text(home) -> str:
    env = {**os.environ, "BOOTH_MONITOR_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app", "status", "--demo"], env=env,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL).stdout


def agree(app: MonitorApp, condition: Condition) -> dict[str, object]:
    """The icon's condition is `condition`, and every surface names it in the same words."""
    view = seen(app)
    words = LOOKS[condition].words
    assert view["worst"] is condition, view
    assert view["chips"][0] == words, view
    assert words in str(view["tooltip"]), view
    found = app.tray.assessment()
    assert [short(f.line) for f in found.findings] == view["menu"][1:1 + len(found.findings)]
    assert tooltip_text(app.tray.assessment(), app.jobs.counts,
                        app.tray.account_lines()) == view["tooltip"]
    return view


def test_an_outage_reads_offline_everywhere_then_current_again(booth, qtbot, home):
    app = booth()
    app._demo.emit("outage", {"mode": "drop", "seconds": 0})
    qtbot.waitUntil(lambda: app.snapshot.view().offline, timeout=20_000)
    view = agree(app, C.OFFLINE)
    assert any(line.startswith("Offline since") for line in view["menu"])
    assert "just now" not in str(view["age"]) and "just now" not in str(view["tooltip"])
    assert not any("fast enough" in line for line in view["menu"])  # no speed from before
    status = cli_status(home)
    assert status["offline"] is True and status["stale"] is True
    assert "OFFLINE" in cli_text(home)
    app._demo.emit("restore", {})
    qtbot.waitUntil(lambda: not app.snapshot.view().stale, timeout=20_000)
    agree(app, C.CURRENT)
    assert cli_status(home)["offline"] is False


def test_a_slow_link_and_a_low_balance_are_both_listed(booth, qtbot):
    app = booth()
    balance = app.snapshot.state.balance_cents
    app._settings.emit({"low_balance_cents": balance + 100,
                        "preflight_threshold_mbps": UNREACHABLE_MBPS}, {})
    qtbot.waitUntil(lambda: app.snapshot.view().low_balance, timeout=20_000)
    with qtbot.waitSignal(app.jobs.preflight.finished, timeout=30_000):
        app.jobs.check_link()  # a real measurement, against a threshold no link meets
    qtbot.waitUntil(lambda: seen(app)["worst"] is C.SLOW_LINK, timeout=10_000)
    view = agree(app, C.SLOW_LINK)
    assert C.LOW_BALANCE in view["conditions"]  # the icon shows one, the menu both
    assert view["chips"][:2] == ["SLOW LINK", "LOW BALANCE"]
    assert any(line.startswith("Slow link") for line in view["menu"])
    assert any(line.startswith("Low balance") for line in view["menu"])


def test_a_revoked_token_needs_attention_and_says_what_to_do(booth, qtbot, home):
    app = booth()
    app._demo.emit("revoke-token", {})
    qtbot.waitUntil(lambda: app.snapshot.view().error_kind == "auth", timeout=20_000)
    view = agree(app, C.NEEDS_ATTENTION)
    assert view["line"] == "Token refused: enter a new API token in Settings"
    assert "NEEDS ATTENTION" in cli_text(home)
    for line in view["menu"]:
        assert "127.0.0.1" not in line and "HTTP" not in line and len(line) <= 80


def test_an_expired_plan_counts_down_and_stops_claiming_it_renews(booth, qtbot):
    app = booth()
    app._demo.emit("expire-account", {"grace_days": 30})
    qtbot.waitUntil(lambda: app.snapshot.view().account.status.value == "expired",
                    timeout=20_000)
    view = agree(app, C.NEEDS_ATTENTION)
    assert "Plan expired: downgrade to Pay-As-You-Go by" in str(view["line"])
    # The tray's tooltip counts the grace period down, with the credit a downgrade keeps.
    assert "Grace: 29 days left; Pay-As-You-Go keeps $" in str(view["tooltip"])
    form = app.window.account_page.account_form
    labels = [form.itemAt(r, form.ItemRole.LabelRole).widget().text()
              for r in range(form.rowCount())]
    assert "Renews" not in labels and "Grace period ends" in labels


def test_a_duplicate_a_retry_and_a_held_release_stay_one_photo_each(booth, qtbot):
    app = booth(failure_rate=1.0)
    hot = app.jobs.last_queue.folders.hot
    photo = make_png(40, 30)
    (hot / "guest-1.png").write_bytes(photo)
    (hot / "guest-1-copy.png").write_bytes(photo)  # the same bytes under another name
    qtbot.waitUntil(lambda: app.jobs.counts.count(JobState.FAILED) == 1
                    and app.jobs.counts.count(JobState.DUPLICATE) == 1, timeout=30_000)
    queue = app.window.queue_view
    queue.filter.setCurrentIndex(1)  # everything
    app.window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: queue.model.rowCount() == 2)
    rows = {queue.model.text(r, 0): r for r in range(queue.model.rowCount())}
    assert queue.model.text(rows["guest-1-copy.png"], 6) == \
        "same photo as guest-1.png: not sent again"
    assert queue.model.text(rows["guest-1.png"], 3) == "1"  # it was sent once

    # Retry the failed photo: it asks first (a new run is charged), then stays one photo.
    asked = []
    queue.confirm = lambda title, text, yes: asked.append((text, yes)) or True
    queue.filter.setCurrentIndex(0)
    qtbot.waitUntil(lambda: queue.model.rowCount() == 1)
    queue.table.selectRow(0)
    queue.retry_button.click()
    assert asked and "charged again" in asked[0][0] and "$" in asked[0][1]
    qtbot.waitUntil(lambda: any(j.retry_of for j in app.jobs.last_queue.jobs)
                    and app.jobs.counts.open == 0, timeout=30_000)
    assert app.jobs.counts.count(JobState.FAILED) == 1  # one photo, failed (again)
    qtbot.waitUntil(lambda: queue.model.rowCount() == 1)

    # Photos held behind a link too slow for the threshold go once a check passes.
    app._settings.emit({"preflight_threshold_mbps": UNREACHABLE_MBPS}, {})
    qtbot.waitUntil(lambda: app.snapshot.settings.preflight_threshold_mbps
                    == UNREACHABLE_MBPS, timeout=10_000)
    (hot / "guest-2.png").write_bytes(make_png(41, 30))
    qtbot.waitUntil(lambda: app.jobs.counts.count(JobState.HELD) == 1, timeout=30_000)
    agree(app, C.SLOW_LINK)
    held = next(j for j in app.jobs.last_queue.jobs if j.state is JobState.HELD)
    assert app.window.queue_view.model.link.offline_since == ""
    app._settings.emit({"preflight_threshold_mbps": 5.0}, {})
    qtbot.waitUntil(lambda: app.snapshot.settings.preflight_threshold_mbps == 5.0,
                    timeout=10_000)
    with qtbot.waitSignal(app.jobs.preflight.finished, timeout=30_000):
        app.jobs.check_link()
    qtbot.waitUntil(lambda: next(j for j in app.jobs.last_queue.jobs if j.id == held.id).state
                    is not JobState.HELD, timeout=10_000)
    assert app.jobs.counts.count(JobState.HELD) == 0


def test_an_outage_is_notified_on_time_and_its_end_too(booth, qtbot):
    app = booth()
    app._settings.emit({"offline_notice_seconds": 1}, {})
    qtbot.waitUntil(lambda: app.snapshot.settings.offline_notice_seconds == 1, timeout=10_000)
    with qtbot.waitSignal(app.worker.alert, timeout=30_000,
                          check_params_cb=lambda a: a.key.startswith("offline:")) as down:
        app._demo.emit("outage", {"mode": "drop", "seconds": 0})
    assert down.args[0].title == "Cloud unreachable"
    # The list is a separate receiver of the same queued signal: it may take one more turn of
    # the event loop than the spy above, so wait for it instead of asserting at once.
    qtbot.waitUntil(lambda: any("Cloud unreachable" in line
                                for line in app.window.alerts.texts()), timeout=10_000)
    with qtbot.waitSignal(app.worker.alert, timeout=30_000,
                          check_params_cb=lambda a: a.title == "Cloud reachable again"):
        app._demo.emit("restore", {})
    # The outage alert described a condition: it leaves the list once the condition cleared.
    qtbot.waitUntil(lambda: any("Cloud reachable again" in line
                                for line in app.window.alerts.texts()), timeout=10_000)
    qtbot.waitUntil(lambda: not any("Cloud unreachable" in line
                                    for line in app.window.alerts.texts()), timeout=10_000)


def test_a_grace_period_alert_clears_when_the_account_is_restored(booth, qtbot):
    app = booth()
    app._demo.emit("expire-account", {"grace_days": 30})
    qtbot.waitUntil(lambda: any("grace period" in line for line in app.window.alerts.texts()),
                    timeout=20_000)
    app._demo.emit("restore", {})
    qtbot.waitUntil(lambda: app.snapshot.view().account.status.value == "active",
                    timeout=20_000)
    qtbot.waitUntil(lambda: not any("grace period" in line
                                    for line in app.window.alerts.texts()), timeout=10_000)
    agree(app, C.CURRENT)
