"""The thin Qt layer: widgets and signals over the Qt-free core (see monitor_worker.py)."""
