"""A money trap as the operator meets it in the whole tray app on the demo: the tray's tooltip
says it in one line with how far support is, the Support requests tab lists the one request,
and the line clears once the demo's support desk has credited the purchase."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from app.core.conditions import Condition
from app.gui.main import MonitorApp
from app.runtime import Options


@pytest.fixture
def running(qtbot, qapp, home, memory_keyring):
    app = MonitorApp(qapp, Options(home=str(home), demo=True, demo_job_failure_rate=0.0),
                     tray_available=False)
    app.start()
    qtbot.waitUntil(lambda: app.snapshot is not None
                    and app.snapshot.state.balance_cents is not None, timeout=20_000)
    yield app
    app.confirm_quit = lambda _warning: True
    with qtbot.waitSignal(app.thread.finished, timeout=20_000):
        app.quit()
    app.dispose()


def test_a_lost_purchase_reads_in_the_tray_until_it_is_credited(running, qtbot):
    app = running
    # Sync every second, so the demo support desk's answer (5 s) shows without a long wait.
    app._settings.emit({"refresh_interval_seconds": 1}, {})
    app._demo.emit("lost-purchase", {"amount_cents": 5000})
    qtbot.waitUntil(lambda: "Purchase $50 not credited — support asked "
                    in app.tray.icon.toolTip(), timeout=20_000)
    app.tray._update_texts()  # what opening the menu does
    assert any(line.startswith("Purchase $50 not credited") for line in app.tray.menu_lines())
    # The icon, the tooltip's state and the window's header say it too (they stayed green).
    assert app.tray.assessment().worst is Condition.NEEDS_ATTENTION
    assert app.tray.icon.toolTip().splitlines()[1].startswith("NEEDS ATTENTION")
    app.show_window()
    qtbot.waitUntil(lambda: app.window.header.line.text().startswith(
        "Purchase $50 not credited — support asked"), timeout=5_000)
    view = app.window.support_view
    assert view.table.rowCount() == 1
    assert any(a.alert.title == "Purchase not credited" for a in app.window.alerts.items)
    qtbot.waitUntil(lambda: "not credited" not in app.tray.icon.toolTip()
                    and view.table.item(0, 0).text() == "Settled", timeout=40_000)
    assert view.table.rowCount() == 1  # one request, ever
    app.tray._update_texts()
    assert not any("not credited" in line for line in app.tray.menu_lines())
    # The trap's lasting alert leaves the list with the trap.
    qtbot.waitUntil(lambda: not any(a.alert.title == "Purchase not credited"
                                    for a in app.window.alerts.items), timeout=5_000)


def test_a_closed_account_speaks_in_one_voice_everywhere(running, qtbot):
    """The sync's "contact support now" stood beside the guard's restore request: now the
    header, the menu and the one notice all say the request that was filed."""
    app = running
    shown: list[str] = []
    app.worker.guard.alert.connect(lambda a: shown.append(f"{a.title}: {a.message}"))
    app.worker.alert.connect(lambda a: shown.append(f"{a.title}: {a.message}"))
    app._demo.emit("close-account", {})
    app.show_window()
    qtbot.waitUntil(lambda: app.window.header.line.text().startswith(
        "Account closed: a restore request was filed at "), timeout=20_000)
    # The header elides a long line at its width; its tooltip has every line whole.
    assert app.window.header.line.toolTip().splitlines()[0].endswith(
        "support can often restore credits within days")
    app.tray._update_texts()
    lines = app.tray.menu_lines()
    assert sum(line.startswith("Account closed") for line in lines) == 1
    assert not any("contact support" in line for line in lines)
    assert not any("contact support" in label.text() for label in
                   app.window.account_page.findChildren(QLabel))
    closed = [text for text in shown if "closed" in text.lower()]
    assert len(closed) == 1 and "A restore request was filed at " in closed[0], shown


def test_entering_a_short_grace_period_is_one_notice(running, qtbot):
    app = running
    shown: list[str] = []
    app.worker.guard.alert.connect(lambda a: shown.append(a.title))
    app.worker.alert.connect(lambda a: shown.append(a.title))
    app._demo.emit("expire-account", {"grace_days": 2})
    qtbot.waitUntil(lambda: "Grace:" in app.tray.icon.toolTip(), timeout=20_000)
    # The guard's reminder comes after the sync's own alerts of the same refresh.
    qtbot.waitUntil(lambda: any(t.endswith(" left") for t in shown), timeout=10_000)
    about_grace = [t for t in shown if t.endswith(" left") or "grace" in t.lower()]
    assert about_grace == ["1 day left"], shown


def test_the_tooltip_keeps_whole_lines_within_the_windows_limit():
    from app.core.conditions import Assessment, Condition, Finding
    from app.gui.tray import TOOLTIP_MAX, tooltip_text

    found = Assessment((Finding(Condition.NEEDS_ATTENTION, "Plan expired"),
                        Finding(Condition.CURRENT, "Current")), "$174.70",
                       "as of 18:39, just now")
    countdown = "Grace: 1 day 23 h left; Pay-As-You-Go keeps $174.70"
    text = tooltip_text(found, None, ("", countdown))
    assert text.endswith(countdown) and len(text) <= TOOLTIP_MAX
    trap = "Account closed, $174.70 removed — support asked 18:39 (+1 more)"
    text = tooltip_text(found, None, (trap, countdown))
    # Too long for both: the line that does not fit is cut, the one after it left out.
    assert text.endswith("…") and trap[:40] in text and countdown not in text
    assert len(text) <= TOOLTIP_MAX
