"""Booth Credit Monitor: protects a photo booth's prepaid AI credits during an event."""

__version__ = "0.1.0"
APP_NAME = "booth-credit-monitor"
APP_DISPLAY_NAME = "Booth Credit Monitor"
# Windows groups the taskbar button, the Start-menu shortcut and the notifications under this
# name; the installer puts the same one on its shortcut (installer/windows/). No version in it,
# so that a pin survives upgrades.
APP_USER_MODEL_ID = "BoothCreditMonitor.Tray"
