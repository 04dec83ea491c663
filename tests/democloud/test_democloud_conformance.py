"""The demo cloud against docs/openapi.yaml: the spec is valid OpenAPI, every operation answers
with a documented status and a body matching its schema, and a schemathesis run finds nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app.democloud import DemoCloud
from app.democloud.images import make_png
from tests.conftest import wait_until
from tests.democloud.conftest import TOKEN, running_cloud, scenario

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SPEC_URI = "urn:booth-cloud-openapi"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def test_spec_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate_openapi(spec)
    assert spec["openapi"].startswith("3.1")
    assert not [p for p in spec["paths"] if p.startswith("/demo")]  # demo levers stay out


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Conformance:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
        self.operations: dict[str, tuple[str, str]] = {
            op["operationId"]: (path, method)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if method in METHODS
        }
        self.checked: dict[str, set[int]] = {}

    def _resolve(self, node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.spec
            for part in pointer.strip("/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, pointer

    def check(self, operation_id: str, response: httpx.Response) -> httpx.Response:
        path, method = self.operations[operation_id]
        responses = self.spec["paths"][path][method]["responses"]
        status = str(response.status_code)
        assert status in responses, f"{operation_id}: undocumented status {status}"
        pointer = f"/paths/{_escape(path)}/{method}/responses/{status}"
        documented, pointer = self._resolve(responses[status], pointer)
        for name in documented.get("headers", {}):
            if name in ("X-Request-Id",):
                assert response.headers.get(name), f"{operation_id}: no {name} header"
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = documented.get("content", {})
        assert media in content, f"{operation_id} {status}: undocumented media type {media}"
        if media.endswith("json"):
            schema = {"$ref": f"{SPEC_URI}#{pointer}/content/{_escape(media)}/schema"}
            validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
            errors = sorted(validator.iter_errors(response.json()), key=str)
            assert not errors, f"{operation_id} {status}: {errors[0].message}"
        self.checked.setdefault(operation_id, set()).add(response.status_code)
        return response


def test_every_operation_matches_the_spec(spec: dict[str, Any], tmp_path: Path) -> None:
    c = Conformance(spec)
    db = tmp_path / "conf.sqlite3"
    with running_cloud(db, job_seconds=0.1, refund_seconds=0.2) as (demo, api):
        anonymous = httpx.Client(base_url=demo.url)

        def job(key: str, **headers: str) -> httpx.Response:
            return api.post(
                "/v1/jobs",
                params={"feature": "draw_me"},
                content=make_png(),
                headers={"Content-Type": "image/png", "Idempotency-Key": key, **headers},
            )

        c.check("getHealth", anonymous.get("/v1/health"))
        c.check("getAccount", api.get("/v1/account"))
        c.check("getAccount", anonymous.get("/v1/account"))
        c.check("getBalance", api.get("/v1/balance"))
        ledger = c.check("getLedger", api.get("/v1/ledger", params={"limit": 5})).json()
        c.check("getLedger", api.get("/v1/ledger", params={"cursor": ledger["next_cursor"]}))
        c.check("getLedger", api.get("/v1/ledger", params={"cursor": "???"}))
        c.check("getLedger", api.get("/v1/ledger", params={"limit": 0}))
        c.check("getFeatures", api.get("/v1/features"))

        created = c.check("createJob", job("conf-1", **{"X-Booth-Id": "b1"})).json()
        c.check("createJob", job("conf-1"))
        c.check("getJobResult", api.get(f"/v1/jobs/{created['id']}/result"))
        c.check(
            "createJob",
            api.post(
                "/v1/jobs",
                params={"feature": "ai_headshot"},
                content=make_png(),
                headers={"Content-Type": "image/png", "Idempotency-Key": "conf-1"},
            ),
        )
        c.check(
            "createJob",
            api.post(
                "/v1/jobs",
                params={"feature": "draw_me"},
                content=b"x",
                headers={"Content-Type": "text/plain", "Idempotency-Key": "conf-2"},
            ),
        )
        c.check(
            "createJob",
            api.post(
                "/v1/jobs",
                params={"feature": "draw_me"},
                content=b"x",
                headers={"Content-Type": "image/png", "Idempotency-Key": "conf-3"},
            ),
        )
        c.check(
            "createJob",
            api.post(
                "/v1/jobs",
                params={"feature": "draw_me"},
                content=b"x",
                headers={"Content-Type": "image/png"},
            ),
        )
        c.check("getJob", api.get(f"/v1/jobs/{created['id']}"))
        c.check("getJob", api.get("/v1/jobs/job_missing"))
        wait_until(lambda: api.get(f"/v1/jobs/{created['id']}").json()["status"] == "succeeded")
        c.check("getJobResult", api.get(f"/v1/jobs/{created['id']}/result"))
        c.check("getJobResult", api.get("/v1/jobs/job_missing/result"))

        c.check(
            "speedtestUpload",
            api.post("/v1/speedtest/upload", params={"probe_id": "c1"}, content=b"z" * 100_000),
        )
        c.check("speedtestUpload", api.post("/v1/speedtest/upload", params={"probe_id": "a b"}))
        c.check("speedtestUploadProgress", api.get("/v1/speedtest/upload/c1"))
        c.check("speedtestUploadProgress", api.get("/v1/speedtest/upload/none"))
        c.check("speedtestDownload", api.get("/v1/speedtest/download", params={"bytes": 10}))
        c.check("speedtestDownload", api.get("/v1/speedtest/download", params={"bytes": 0}))

        entry = next(e for e in ledger["entries"] if e["kind"] == "ai_run")
        claim = {
            "ledger_entry_id": entry["id"],
            "feature": entry["feature"],
            "amount_cents": -entry["amount_cents"],
            "charged_at": entry["timestamp"],
            "reason": "no result",
            "account_email": "demo@booth.example",
        }

        def refund(key: str, body: dict[str, Any]) -> httpx.Response:
            return api.post("/v1/refund-requests", json=body, headers={"Idempotency-Key": key})

        request = c.check("createRefundRequest", refund("conf-r1", claim)).json()
        c.check("createRefundRequest", refund("conf-r1", claim))
        c.check("createRefundRequest", refund("conf-r2", claim))
        c.check("createRefundRequest", refund("conf-r3", {**claim, "amount_cents": -1}))
        c.check("listRefundRequests", api.get("/v1/refund-requests"))
        c.check("getRefundRequest", api.get(f"/v1/refund-requests/{request['id']}"))
        c.check("getRefundRequest", api.get("/v1/refund-requests/rr_missing"))

        paid = scenario(api, "lost-purchase")
        c.check("listPayments", api.get("/v1/payments", params={"since": paid["paid_at"]}))
        c.check("listPayments", api.get("/v1/payments", params={"since": "yesterday"}))
        scenario(api, "coupon-not-activated")
        c.check("listCoupons", api.get("/v1/coupons"))
        c.check("listCoupons", api.get("/v1/coupons", params={"limit": 501}))
        ask = {"kind": "missing_purchase", "account_email": "demo@booth.example",
               "receipt": paid["receipt"], "amount_cents": paid["amount_cents"],
               "paid_at": paid["paid_at"], "attachments": [
                   {"filename": "balance.png", "content_type": "image/png",
                    "data_base64": "iVBORw0KGgo="}]}

        def support(key: str, body: dict[str, Any]) -> httpx.Response:
            return api.post("/v1/support-requests", json=body, headers={"Idempotency-Key": key})

        asked = c.check("createSupportRequest", support("conf-s1", ask)).json()
        c.check("createSupportRequest", support("conf-s1", ask))
        c.check("createSupportRequest", support("conf-s2", ask))
        c.check("createSupportRequest", support("conf-s3", {**ask, "kind": "nonsense"}))
        c.check("createSupportRequest", support("conf-s4", {**claim, "kind": "refund",
                                                            "amount_cents": 1}))
        c.check("listSupportRequests", api.get("/v1/support-requests"))
        c.check("getSupportRequest", api.get(f"/v1/support-requests/{asked['id']}"))
        c.check("getSupportRequest", api.get("/v1/support-requests/sr_missing"))

        scenario(api, "other-booth-spend", feature="draw_me", count=1000)
        c.check("createJob", job("conf-poor"))
        scenario(api, "outage", mode="503", seconds=0)
        c.check("getBalance", api.get("/v1/balance"))
        c.check("getHealth", anonymous.get("/v1/health"))
        anonymous.close()

    assert set(c.checked) == set(c.operations), "an operation in the spec was never exercised"
    assert c.checked["createJob"] == {200, 201, 400, 402, 409, 415, 422}
    assert c.checked["createRefundRequest"] == {200, 201, 409, 422}
    assert c.checked["createSupportRequest"] == {200, 201, 409, 422}


def test_schemathesis_finds_no_contract_violations(tmp_path: Path) -> None:
    with DemoCloud(tmp_path / "fuzz.sqlite3", rate_limit=0, job_seconds=0.05) as demo:
        command: list[str] = [
            sys.executable,
            "-c",
            "import sys; from schemathesis.cli import schemathesis as s; sys.exit(s())",
            "run",
            str(SPEC_PATH),
            "--url",
            demo.url,
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "not_a_server_error,response_schema_conformance,"
            "status_code_conformance,content_type_conformance",
            "--max-examples",
            "20",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--no-color",
        ]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        demo.check_ledger()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
