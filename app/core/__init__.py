"""The Qt-free core: domain model and rules. Imports no Qt, no httpx and no sqlite3
(tests/test_architecture.py checks this), so the CLI, the tray app and the tests all drive it."""
