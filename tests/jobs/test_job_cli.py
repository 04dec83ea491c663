"""`submit`, `queue`, `replay` as a booth script runs them: real processes, real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from app.democloud.images import make_png
from tests.test_cli import assert_one_line_reason, cli

TOKEN = {"BOOTH_MONITOR_TOKEN": "demo-token"}


def test_submit_sends_once_and_a_second_submit_finds_the_same_job(home, demo_cloud, tmp_path):
    photo = tmp_path / "guest.png"
    photo.write_bytes(make_png(12, 12))
    first = cli(home, "submit", str(photo), "--feature", "draw_me", "--json",
                "--cloud", demo_cloud.url, env_extra=TOKEN)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    job = doc["job"]
    assert doc["created"] and job["state"] == "succeeded" and job["charged_cents"] == 150
    assert [e["to"] for e in job["events"]] == ["pending", "sending", "waiting_result",
                                                "downloading", "succeeded"]
    assert Path(job["result"]).read_bytes().startswith(b"\x89PNG")

    again = json.loads(cli(home, "submit", str(photo), "--feature", "draw_me", "--json",
                           "--cloud", demo_cloud.url, env_extra=TOKEN).stdout)
    assert not again["created"] and again["job"]["id"] == job["id"]

    listed = json.loads(cli(home, "queue", "--json", "--cloud", demo_cloud.url).stdout)
    assert listed["counts"]["succeeded"] == 1 and listed["counts"]["open"] == 0
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]


def test_offline_submit_stays_queued_and_replay_sends_it_later(home, demo_cloud, tmp_path):
    photos = []
    for n in range(2):
        photos.append(tmp_path / f"p{n}.png")
        photos[-1].write_bytes(make_png(10 + n, 10))
    dead = "http://127.0.0.1:9"
    for photo in photos:
        offline = cli(home, "submit", str(photo), "--feature", "background_removal",
                      "--offline-wait", "0", "--cloud", dead, env_extra=TOKEN)
        assert offline.returncode == 3, offline.stderr
        assert "Queued" in offline.stdout and "cannot be reached" in offline.stdout
    text = cli(home, "queue", "--cloud", dead).stdout
    assert "2 open" in text and "Cannot connect" in text

    # The booth's network is back (here: the right URL): replay sends the backlog.
    replay = cli(home, "replay", "--json", "--cloud", demo_cloud.url, env_extra=TOKEN)
    assert replay.returncode == 0, replay.stderr
    doc = json.loads(replay.stdout)
    assert doc["stopped"] == "done" and doc["after"]["succeeded"] == 2
    assert doc["before"]["open"] == 2 and doc["after"]["open"] == 0


def test_a_file_that_is_not_a_photo_is_one_line_on_stderr(home, demo_cloud, tmp_path):
    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    result = cli(home, "submit", str(junk), "--feature", "draw_me", "--cloud", demo_cloud.url,
                 env_extra=TOKEN)
    assert "not a JPEG or PNG" in assert_one_line_reason(result)
    assert junk.exists(), "a file given on the command line is never moved"
