"""API token (and later SMTP password) storage: the OS keyring, with a visible fallback.

Order of lookup: BOOTH_MONITOR_TOKEN (headless booths, scripts) → OS keyring → the plaintext
fallback file, used only when no keyring backend works and always said out loud (logged once,
shown in Settings), as Vorta does. A locked keyring is an error to tell, never a reason to fall
back silently to plaintext.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from app import APP_NAME
from app.adapters.system.settings_file import write_atomic
from app.core.errors import SecretStoreError

log = logging.getLogger(__name__)

TOKEN_ENV = "BOOTH_MONITOR_TOKEN"


@dataclass(frozen=True)
class SecretLookup:
    value: str | None
    source: str  # "env" | "keyring" | "plaintext-file" | "none"


class SecretStore:
    def __init__(self, fallback_file: Path, env: dict[str, str] | None = None):
        self._fallback_file = fallback_file
        self._env = os.environ if env is None else env
        self._warned = False

    # -- where secrets go ----------------------------------------------------------------------

    @property
    def keyring_works(self) -> bool:
        return _usable(keyring.get_keyring())

    def describe(self) -> str:
        """One line for Settings: where the secret is kept, in words an operator understands."""
        if self.keyring_works:
            return f"Stored in the OS keyring ({type(keyring.get_keyring()).__name__})."
        return (f"No OS keyring is available: secrets are stored in plain text in "
                f"{self._fallback_file} (readable by this user account).")

    # -- the API token -------------------------------------------------------------------------

    def get_token(self, cloud_url: str) -> SecretLookup:
        from_env = self._env.get(TOKEN_ENV)
        if from_env:
            return SecretLookup(from_env, "env")
        return self.get(f"token:{cloud_url}")

    def set_token(self, cloud_url: str, token: str) -> str:
        return self.set(f"token:{cloud_url}", token)

    # -- any named secret ----------------------------------------------------------------------

    def get(self, name: str) -> SecretLookup:
        if self.keyring_works:
            try:
                value = keyring.get_password(APP_NAME, name)
            except keyring.errors.KeyringLocked:
                raise _locked() from None
            except keyring.errors.KeyringError as exc:
                raise _refused("give", exc) from None
            return SecretLookup(value, "keyring" if value else "none")
        value = self._read_fallback().get(name)
        return SecretLookup(value, "plaintext-file" if value else "none")

    def set(self, name: str, value: str) -> str:
        if self.keyring_works:
            try:
                keyring.set_password(APP_NAME, name, value)
            except keyring.errors.KeyringLocked:
                raise _locked() from None
            except keyring.errors.KeyringError as exc:
                raise _refused("store", exc) from None
            return "keyring"
        self._warn_fallback_once()
        data = self._read_fallback()
        data[name] = value
        write_atomic(self._fallback_file, json.dumps(data).encode())
        if os.name == "posix":
            os.chmod(self._fallback_file, 0o600)
        return "plaintext-file"

    def _read_fallback(self) -> dict[str, str]:
        try:
            data = json.loads(self._fallback_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _warn_fallback_once(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("no OS keyring backend works; storing secrets in plain text in %s",
                        self._fallback_file)


def _usable(backend: KeyringBackend) -> bool:
    # keyring reports priority < 1 for its "fail" and null backends and for ones it found but
    # cannot use (no D-Bus session on a headless Linux box).
    try:
        return float(backend.priority) >= 1  # type: ignore[arg-type]
    except Exception:
        return False


def _locked() -> SecretStoreError:
    return SecretStoreError("The OS keyring is locked.",
                            hint="Unlock it (log in to the desktop session), then press Refresh.")


def _refused(verb: str, exc: Exception) -> SecretStoreError:
    return SecretStoreError(f"The OS keyring refused to {verb} the secret ({type(exc).__name__}).",
                            hint="Unlock or repair the keyring, then try again.")
