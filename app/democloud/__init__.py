"""A real HTTP server that implements the cloud contract (docs/cloud-api.md) on a SQLite ledger.

It stands in for the vendor's cloud, which has no public API: the monitor, its tests and people
trying the app all talk to it over real sockets, so the client code paths are the production ones.
"""

from app.democloud.server import DemoCloud

__all__ = ["DemoCloud"]
