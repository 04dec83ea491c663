"""Issue 10 #7: the features are the cloud's (GET /v1/features), not a list compiled into this
release. A newer vendor release that adds one and retires another (played by the fault proxy
answering /v1/features in front of the demo cloud) changes what the booth offers."""

from __future__ import annotations

import json

from app.cli.main import main as cli
from app.core.model import KNOWN_FEATURES, feature_label
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime

TOKEN = "demo-token"
NEWER = {"features": [
    {"id": "background_removal", "label": "Background removal", "price_cents": 30},
    {"id": "magic_eraser", "label": "Magic eraser", "price_cents": 50, "beta": True},
    {"label": "an item without an id"},
]}


def test_the_clouds_feature_list_decides_what_the_booth_offers(
        proxy, home, memory_keyring, tmp_path, capsys):
    proxy.inject("answer", method="GET", path="/v1/features", status=200, times=5,
                 body=json.dumps(NEWER).encode())
    options = Options(home=str(home), cloud_url=proxy.url)
    runtime = Runtime(options)
    try:
        runtime.secrets.set_token(runtime.cloud_url, TOKEN)
        assert runtime.cache.load_cache().features == KNOWN_FEATURES  # before any contact
        assert runtime.refresh().ok
        state = runtime.cache.load_cache()
        assert [(f.id, f.label, f.price_cents) for f in state.features] == [
            ("background_removal", "Background removal", 30), ("magic_eraser", "Magic eraser", 50)]
        assert feature_label("magic_eraser", state.features) == "Magic eraser"
        jp = JobPath(runtime, use_default_link=False)
        try:
            assert jp.features() == {"background_removal", "magic_eraser"}
        finally:
            jp.close()
        # Read once, not on every refresh: features change with a vendor release.
        before = sum(1 for _, path, _ in proxy.hits if path.startswith("/v1/features"))
        assert runtime.refresh().ok
        assert sum(1 for _, path, _ in proxy.hits if path.startswith("/v1/features")) == before
    finally:
        runtime.close()

    photo = tmp_path / "guest.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9")
    code = cli(["submit", str(photo), "--feature", "draw_me", "--no-wait", "--home", str(home),
                "--cloud", proxy.url])
    err = capsys.readouterr().err
    assert code == 2
    assert "'draw_me' is not a feature this cloud offers: background_removal, magic_eraser" in err


def test_a_cloud_without_a_feature_list_keeps_the_built_in_one(
        proxy, home, memory_keyring):
    proxy.inject("status", method="GET", path="/v1/features", status=404, times=5)
    runtime = Runtime(Options(home=str(home), cloud_url=proxy.url))
    try:
        runtime.secrets.set_token(runtime.cloud_url, TOKEN)
        assert runtime.refresh().ok
        assert runtime.cache.load_cache().features == KNOWN_FEATURES
    finally:
        runtime.close()


def test_a_feature_this_release_never_heard_of_reads_as_words():
    assert feature_label("ai_headshot") == "AI headshot"
    assert feature_label("sticker_pack_v2") == "Sticker pack v2"
