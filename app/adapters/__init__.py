"""Edges of the app: HTTP, SQLite, keyring, files. Each converts its library's failures into
app.core.errors so nothing above it sees an httpx, sqlite3 or keyring exception."""
