"""The local trigger takes photos from booth software, and nothing from a web page."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from app.adapters.intake.hot_folder import Intake
from app.adapters.intake.local_trigger import LocalTrigger, trigger_token
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.adapters.system.secrets import SecretStore
from app.democloud.images import make_png
from tests.jobs.fakes import Clock

TOKEN = "t" * 40
FEATURES = frozenset({"draw_me", "ai_headshot"})


@pytest.fixture
def trigger(tmp_path):
    db = Database(tmp_path / "m.sqlite3")
    repo = JobsRepo(db)
    intake = Intake(repo, tmp_path / "out", tmp_path / "q", Clock())

    def submit(path: str, feature: str) -> dict:
        job = intake.submit(Path(path), feature, "trigger").job
        assert job is not None
        return job.to_json()

    def lookup(job_id: str):
        job = repo.get(job_id)
        return job.to_json() if job else None

    t = LocalTrigger(0, TOKEN, submit, lookup, FEATURES)
    t.start()
    yield t
    t.stop()
    db.close()


def call(t: LocalTrigger, method: str, path: str, body: object = None, *, token: str = TOKEN,
         headers: dict | None = None, host: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=5)
    sent = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
            **(headers or {})}
    if host is not None:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
    else:
        conn.putrequest(method, path)
    data = json.dumps(body).encode() if body is not None else b""
    sent["Content-Length"] = str(len(data))
    for k, v in sent.items():
        conn.putheader(k, v)
    conn.endheaders(data)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), json.loads(payload or b"{}")


def test_it_listens_on_loopback_only(trigger):
    assert trigger._server.server_address[0] == "127.0.0.1"


def test_booth_software_submits_a_photo_and_follows_it(trigger, tmp_path):
    photo = tmp_path / "guest.png"
    photo.write_bytes(make_png(9, 9))
    status, headers, doc = call(trigger, "POST", "/v1/jobs",
                                {"path": str(photo), "feature": "draw_me"})
    assert status == 202 and doc["job"]["state"] == "pending"
    assert doc["job"]["origin"] == "trigger"
    status, _, doc2 = call(trigger, "GET", f"/v1/jobs/{doc['job']['id']}")
    assert status == 200 and doc2["job"]["id"] == doc["job"]["id"]
    assert not any(h.lower().startswith("access-control") for h in headers)


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"token": "wrong-token-wrong-token"}, 401),
    ({"token": ""}, 401),
    ({"headers": {"Origin": "https://evil.example"}}, 403),
    ({"headers": {"Origin": "null"}}, 403),
    ({"headers": {"Sec-Fetch-Site": "cross-site"}}, 403),
    ({"host": "evil.example"}, 403),  # DNS rebinding: the page's own name points at 127.0.0.1
    ({"host": "evil.example:47615"}, 403),
    ({"headers": {"Content-Type": "text/plain"}}, 415),  # what a cross-site form can send
])
def test_what_a_web_page_could_send_is_refused(trigger, tmp_path, kwargs, status):
    photo = tmp_path / "guest.png"
    photo.write_bytes(make_png(9, 9))
    got, headers, doc = call(trigger, "POST", "/v1/jobs", {"path": str(photo),
                                                          "feature": "draw_me"}, **kwargs)
    assert got == status and doc["error"]
    assert not any(h.lower().startswith("access-control") for h in headers)


def test_a_cors_preflight_gets_no_permission(trigger):
    got, headers, _ = call(trigger, "OPTIONS", "/v1/jobs",
                           headers={"Origin": "https://evil.example",
                                    "Access-Control-Request-Method": "POST"})
    assert got in (403, 405)
    assert not any(h.lower().startswith("access-control") for h in headers)


def test_bad_requests_say_what_is_wrong(trigger, tmp_path):
    junk = tmp_path / "x.jpg"
    junk.write_text("no photo")
    assert call(trigger, "POST", "/v1/jobs", {"path": str(junk), "feature": "draw_me"})[0] == 422
    status, _, doc = call(trigger, "POST", "/v1/jobs", {"path": str(junk), "feature": "nope"})
    assert status == 422 and "feature" in doc["error"]
    assert call(trigger, "GET", "/v1/jobs/j-unknown")[0] == 404
    assert call(trigger, "GET", "/v1/other")[0] == 404


def test_the_token_is_made_once_and_kept(tmp_path, memory_keyring):
    store = SecretStore(tmp_path / "fallback.json", env={})
    first = trigger_token(store)
    assert len(first) >= 32 and trigger_token(store) == first
    assert trigger_token(store, renew=True) != first
