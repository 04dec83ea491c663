"""Issue 10 #14: plain http:// off this PC is refused unless settings.json opts in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import NotConfigured
from app.runtime import Options, Runtime


def _runtime(tmp_path: Path, allow: bool | None) -> Runtime:
    home = tmp_path / "home"
    runtime = Runtime(Options(home=str(home), cloud_url="http://cloud.example.com"))
    if allow is not None:
        runtime.paths.settings_file.write_text(json.dumps({"allow_insecure_http": allow}))
        runtime.close()
        runtime = Runtime(Options(home=str(home), cloud_url="http://cloud.example.com"))
    return runtime


def test_plain_http_refused_by_default(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, None)
    try:
        with pytest.raises(NotConfigured, match="plain http"):
            runtime.cloud()
    finally:
        runtime.close()


def test_plain_http_allowed_when_operator_opts_in(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, True)
    try:
        assert runtime.settings.allow_insecure_http is True
        assert runtime.cloud().base_url == "http://cloud.example.com"
    finally:
        runtime.close()
