"""Booth Credit Monitor: protects a photo booth's prepaid AI credits during an event."""

__version__ = "0.1.0"
APP_NAME = "booth-credit-monitor"
