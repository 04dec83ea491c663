"""The Qt binding itself must not leak references to None, True or False.

PySide6 6.12.0 on Python 3.11 drops one reference to None on nearly every call of a void Qt
method; after a few thousand calls (a tray app ticking for an evening) the interpreter aborts
with "none_dealloc". pyproject.toml excludes that release; this test fails loudly if a release
with the same fault is ever installed, before a booth finds out mid-event.
"""

import sys

from PySide6.QtWidgets import QLabel

CALLS = 500


def test_void_qt_calls_keep_singleton_reference_counts(qapp):
    label = QLabel()
    before = {name: sys.getrefcount(obj) for name, obj in
              (("None", None), ("True", True), ("False", False))}
    for _ in range(CALLS):
        label.setText("x")
        label.setEnabled(True)
        label.setVisible(False)
    after = {name: sys.getrefcount(obj) for name, obj in
             (("None", None), ("True", True), ("False", False))}
    # Immortal objects (Python 3.12+) report a fixed huge count; on 3.11 a leak shows as a
    # drop of about one per call. A handful either way is ordinary interpreter noise.
    for name, count in before.items():
        assert after[name] >= count - 10, (
            f"each void Qt call dropped a reference to {name} ({count} -> {after[name]}): "
            "this PySide6 build will abort a long-running tray app; pin another release")
