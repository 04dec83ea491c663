"""A listed forecast alert shows the newest estimate: the same event, new words, same place."""

from __future__ import annotations

from app.core.alerts import Alert
from app.gui.alert_list import AlertList


def test_a_moved_forecast_updates_its_listed_words_without_a_second_entry(qtbot):
    alerts = AlertList()
    qtbot.addWidget(alerts)
    first = Alert("runs-out:2026-12-03T23:30", "Credits run out before the event ends",
                  "the balance lasts until about 22:10.", "critical", lasting=True)
    alerts.add(first)
    alerts.add(Alert("refund-filed:x", "Claim filed", "one photo"))
    at = alerts.items[1].at
    newer = Alert(first.key, first.title, "the balance lasts until about 21:40.", "critical",
                  lasting=True)
    alerts.refresh([newer, Alert("low-balance:2000", "Credits running low", "not listed")])
    assert len(alerts.items) == 2
    assert alerts.items[1].alert == newer and alerts.items[1].at == at
    assert "21:40" in alerts.texts()[1]
