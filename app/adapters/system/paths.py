"""Where config, data, cache and logs live: the platform's usual folders, or all under --home."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_NAME

HOME_ENV = "BOOTH_MONITOR_HOME"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    profile: str = ""  # "" for the real cloud, "demo" for the embedded demo cloud

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "monitor.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / (f"monitor-{self.profile}.log" if self.profile else "monitor.log")

    @property
    def fallback_secrets_file(self) -> Path:
        return self.config_dir / "secrets-plaintext.json"

    def for_profile(self, profile: str) -> AppPaths:
        """The demo keeps its own settings and data, so a demo run never mixes with a real
        account's cache; logs stay in one folder."""
        return AppPaths(
            config_dir=self.config_dir / profile, data_dir=self.data_dir / profile,
            cache_dir=self.cache_dir / profile, log_dir=self.log_dir, profile=profile,
        )

    def create(self) -> None:
        for folder in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)


def resolve_paths(home: str | None = None) -> AppPaths:
    home = home or os.environ.get(HOME_ENV) or None
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(root / "config", root / "data", root / "cache", root / "logs")
    return AppPaths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )
