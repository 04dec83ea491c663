"""The local SQLite store: one file, one component per feature (cache, probes, jobs, refunds)."""

from app.adapters.store.db import Database

__all__ = ["Database"]
