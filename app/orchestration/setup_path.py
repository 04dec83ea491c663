"""First-run setup, Qt-free: is anything configured, does a cloud URL and token work, and
saving the operator's answers (settings file, token to the keyring, folders, start at login).

The tray app's setup window runs these on its worker thread; nothing here blocks a GUI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from app.adapters.cloud.client import HttpCloud
from app.adapters.system.autostart import Autostart, for_this_system, launch_command
from app.adapters.system.logs import register_secret
from app.core.errors import MonitorError, StorageError
from app.core.money import dollars
from app.orchestration.job_path import default_job_folders, job_folders
from app.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    text: str  # one line for the setup window
    balance_cents: int | None = None
    account_email: str | None = None


@dataclass(frozen=True)
class SetupChoices:
    cloud_url: str
    account_email: str
    token: str  # goes to the keyring, never to a file
    hot_folder: str = ""  # "" keeps the default folder in the data folder
    output_folder: str = ""
    start_at_login: bool = True


def needs_setup(runtime: Runtime) -> bool:
    """No cloud, or no token for it: the operator has nothing to watch yet. The demo never
    needs setup; a locked keyring is not "no token" (the refresh says what to do about it)."""
    if runtime.options.demo:
        return False
    if not runtime.cloud_url:
        return True
    try:
        return runtime.secrets.get_token(runtime.cloud_url).value is None
    except MonitorError:
        return False


TransportFor = Callable[[str, str], httpx.BaseTransport]  # (cloud URL, token) -> transport


def check_connection(cloud_url: str, token: str, *, allow_insecure_http: bool = False,
                     transport_for: TransportFor | None = None) -> ConnectionCheck:
    """Ask the cloud for the account and its balance with what the operator typed, under the
    same plain-http rule as the app itself (else the test and the app would disagree).
    `transport_for`: Runtime.cloud_transport in the app, so these requests too take their turn
    under the rate limit every process shares and honour Retry-After (issue 14)."""
    register_secret(token)
    url = cloud_url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        return ConnectionCheck(False, "Enter the cloud's address, starting with https://.")
    if not token.strip():
        return ConnectionCheck(False, "Enter the API token from the cloud's dashboard.")
    transport = transport_for(url, token.strip()) if transport_for else None
    try:
        cloud = HttpCloud(url, token.strip(), allow_insecure_http=allow_insecure_http,
                          transport=transport)
    except MonitorError as error:
        if transport is not None:
            transport.close()
        return ConnectionCheck(False, str(error))
    try:
        account = cloud.get_account()
        balance = cloud.get_balance()
    except MonitorError as error:
        return ConnectionCheck(False, f"Not connected: {error}")
    finally:
        cloud.close()
    when = balance.as_of.astimezone().strftime("%H:%M")
    return ConnectionCheck(True, f"Connected: {dollars(balance.balance_cents)} as of {when}, "
                           f"account {account.email}.", balance.balance_cents, account.email)


def apply_setup(runtime: Runtime, choices: SetupChoices,
                autostart: Autostart | None = None) -> list[str]:
    """Save the answers; returns what was done, in words (for the log and the window).
    Raises MonitorError (StorageError, SecretStoreError) when something could not be saved."""
    url = choices.cloud_url.strip().rstrip("/")
    runtime.settings = replace(runtime.settings, cloud_url=url,
                               account_email=choices.account_email.strip(),
                               hot_folder=_folder(choices.hot_folder, runtime, "hot"),
                               output_folder=_folder(choices.output_folder, runtime, "output"))
    runtime.save_settings()
    done = [f"settings saved in {runtime.paths.settings_file}"]
    if choices.token.strip():
        register_secret(choices.token.strip())
        where = runtime.secrets.set_token(runtime.cloud_url, choices.token.strip())
        done.append(f"token stored ({where})")
    folders = job_folders(runtime)
    for folder in (folders.hot, folders.output):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create the folder {folder} ({exc.strerror}).",
                               hint="Choose a folder on a drive this account can write to."
                               ) from None
    done.append(f"folders ready: {folders.hot}, {folders.output}")
    entry = autostart or for_this_system()
    if choices.start_at_login:
        entry.enable(launch_command(runtime.options.home))
        done.append(f"starts at login ({entry.where()})")
    log.info("first-run setup: %s", "; ".join(done))
    return done


def _folder(typed: str, runtime: Runtime, which: str) -> str:
    """The default folder is saved as "" so that it keeps following the data folder."""
    text = typed.strip()
    if not text:
        return ""
    defaults = default_job_folders(runtime.paths.data_dir)
    default = defaults.hot if which == "hot" else defaults.output
    return "" if Path(text).expanduser() == default else text
