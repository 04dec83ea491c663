"""A money trap as the operator meets it in the whole tray app on the demo: the tray's tooltip
says it in one line with how far support is, the Support requests tab lists the one request,
and the line clears once the demo's support desk has credited the purchase."""

from __future__ import annotations

import pytest

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
