import json
import logging
import os

import keyring
import pytest

from app.adapters.system.secrets import SecretStore
from app.core.errors import SecretStoreError


def test_token_goes_to_the_keyring_not_a_file(tmp_path, memory_keyring):
    store = SecretStore(tmp_path / "fallback.json", env={})
    assert store.set_token("https://c", "tok-123456") == "keyring"
    assert store.get_token("https://c").value == "tok-123456"
    assert store.get_token("https://c").source == "keyring"
    assert not (tmp_path / "fallback.json").exists()
    assert "OS keyring" in store.describe()


def test_environment_variable_wins_for_headless_booths(tmp_path, memory_keyring):
    store = SecretStore(tmp_path / "f.json", env={"BOOTH_MONITOR_TOKEN": "from-env"})
    store.set_token("https://c", "from-keyring")
    assert store.get_token("https://c").value == "from-env"
    assert store.get_token("https://c").source == "env"


def test_locked_keyring_is_an_error_not_a_silent_fallback(tmp_path, memory_keyring):
    memory_keyring.locked = True
    store = SecretStore(tmp_path / "f.json", env={})
    with pytest.raises(SecretStoreError, match="locked") as info:
        store.set_token("https://c", "secret-value")
    assert "secret-value" not in str(info.value)
    with pytest.raises(SecretStoreError):
        store.get_token("https://c")
    assert not (tmp_path / "f.json").exists()


def test_without_any_keyring_the_fallback_is_visible_and_private(tmp_path, caplog):
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        store = SecretStore(tmp_path / "f.json", env={})
        with caplog.at_level(logging.WARNING):
            assert store.set_token("https://c", "plain-tok") == "plaintext-file"
            store.set_token("https://d", "plain-tok2")
        assert "plain text" in store.describe()
        assert sum("plain text" in r.getMessage() for r in caplog.records) == 1  # logged once
        assert store.get_token("https://c").value == "plain-tok"
        assert json.loads((tmp_path / "f.json").read_text())["token:https://d"] == "plain-tok2"
        if os.name == "posix":
            assert (tmp_path / "f.json").stat().st_mode & 0o077 == 0
    finally:
        keyring.set_keyring(previous)
