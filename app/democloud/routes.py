"""The route table: contract operations under /v1 and the demo levers under /demo."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from app.democloud import (
    accounts,
    billing,
    images,
    jobs,
    ledger,
    refunds,
    scenarios,
    speedtest,
    support,
    trap_scenarios,
)
from app.democloud.clock import fmt_ts, now_ts, parse_ts
from app.democloud.httpio import Request, Response, json_response
from app.democloud.idempotency import require_key
from app.democloud.problems import ApiError, bad_request, not_found, unprocessable
from app.democloud.runtime import Runtime

Handler = Callable[..., Response]

PUBLIC, API, DEMO = "public", "api", "demo"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    access: str


def health(rt: Runtime, req: Request) -> Response:
    return json_response(200, {"status": "ok", "time": now_ts(), "api_version": "1"})


def get_account(rt: Runtime, req: Request) -> Response:
    with rt.db.read() as conn:
        return json_response(200, accounts.account_json(conn, req.account_id))


def get_balance(rt: Runtime, req: Request) -> Response:
    with rt.db.read() as conn:
        return json_response(200, ledger.balance_json(conn, req.account_id))


def get_ledger(rt: Runtime, req: Request) -> Response:
    after = ledger.decode_cursor("ledger", req.param("cursor"))
    limit = ledger.parse_limit(req.param("limit"))
    since_raw = req.param("since")
    since = None
    if since_raw is not None:
        try:
            since = fmt_ts(parse_ts(since_raw))
        except ValueError as exc:
            raise bad_request("since must be an RFC 3339 timestamp with a time zone.") from exc
    with rt.db.read() as conn:
        doc = ledger.page(conn, req.account_id, after_seq=after, since=since, limit=limit,
                          upto_seq=rt.disruptions.ledger_upto())
    return json_response(200, doc)


def get_features(rt: Runtime, req: Request) -> Response:
    return json_response(200, jobs.features_json())


def create_job(rt: Runtime, req: Request) -> Response:
    key = require_key(req.headers.get("Idempotency-Key"))
    feature = jobs.require_feature(req.param("feature"))
    media_type = images.media_type_of(req.headers.get("Content-Type"))
    if media_type is None:
        raise ApiError(415, "unsupported_media_type", "Send the photo as image/jpeg or image/png.")
    booth_id = req.headers.get("X-Booth-Id")
    if booth_id is not None and not (0 < len(booth_id) <= 64 and booth_id.isascii()
                                     and booth_id.isprintable()):
        # Header bytes outside ASCII arrive as Latin-1 guesses: a client percent-encodes a
        # name in another script (docs/cloud-api.md 7.6), so only printable ASCII is a name.
        raise unprocessable("X-Booth-Id must be 1-64 printable ASCII characters.")
    with rt.in_flight.claim(req.account_id, "jobs", key):
        data = req.body.read_all(jobs.MAX_UPLOAD_BYTES)
        try:
            images.validate(data, media_type)
        except images.InvalidImage as exc:
            raise unprocessable(f"The photo is not a valid image: {exc}.", "invalid_image") from exc
        job, created = jobs.create(
            rt,
            req.account_id,
            feature=feature,
            media_type=media_type,
            body=data,
            key=key,
            booth_id=booth_id,
        )
    return json_response(201 if created else 200, job, {"Location": f"/v1/jobs/{job['id']}"})


def get_job(rt: Runtime, req: Request, job_id: str) -> Response:
    return json_response(200, jobs.get(rt, req.account_id, job_id))


def get_job_result(rt: Runtime, req: Request, job_id: str) -> Response:
    data, media_type = jobs.result(rt, req.account_id, job_id)
    return Response(200, data, media_type)


def speedtest_upload(rt: Runtime, req: Request) -> Response:
    probe = rt.probes.open(req.account_id, speedtest.probe_id_from(req.param("probe_id")))
    speedtest.receive_upload(req.body, probe)
    return json_response(200, probe.result_json())


def speedtest_progress(rt: Runtime, req: Request, probe_id: str) -> Response:
    return json_response(200, rt.probes.get(req.account_id, probe_id).progress_json())


def speedtest_download(rt: Runtime, req: Request) -> Response:
    size = speedtest.download_size(req.param("bytes"))
    return Response(
        200,
        speedtest.random_chunks(size),
        "application/octet-stream",
        {"Cache-Control": "no-store, no-transform"},
        length=size,
    )


def create_refund(rt: Runtime, req: Request) -> Response:
    key = require_key(req.headers.get("Idempotency-Key"))
    body = req.json_body()
    with rt.in_flight.claim(req.account_id, "refund-requests", key):
        doc, created = refunds.create(rt, req.account_id, key, body)
    return json_response(
        201 if created else 200, doc, {"Location": f"/v1/refund-requests/{doc['id']}"}
    )


def list_refunds(rt: Runtime, req: Request) -> Response:
    limit = ledger.parse_limit(req.param("limit"))
    return json_response(200, refunds.page(rt, req.account_id, req.param("cursor"), limit))


def get_refund(rt: Runtime, req: Request, request_id: str) -> Response:
    return json_response(200, refunds.get(rt, req.account_id, request_id))


def _since(req: Request) -> str | None:
    raw = req.param("since")
    if raw is None:
        return None
    try:
        return fmt_ts(parse_ts(raw))
    except ValueError as exc:
        raise bad_request("since must be an RFC 3339 timestamp with a time zone.") from exc


def list_payments(rt: Runtime, req: Request) -> Response:
    limit = ledger.parse_limit(req.param("limit"))
    with rt.db.read() as conn:
        doc = billing.payments_page(conn, req.account_id, req.param("cursor"), _since(req),
                                    limit)
    return json_response(200, doc)


def list_coupons(rt: Runtime, req: Request) -> Response:
    limit = ledger.parse_limit(req.param("limit"))
    with rt.db.read() as conn:
        doc = billing.coupons_page(conn, req.account_id, req.param("cursor"), _since(req),
                                   limit)
    return json_response(200, doc)


def create_support_request(rt: Runtime, req: Request) -> Response:
    key = require_key(req.headers.get("Idempotency-Key"))
    body = req.json_body(limit=support.MAX_BODY_BYTES)
    with rt.in_flight.claim(req.account_id, "support-requests", key):
        doc, created = support.create(rt, req.account_id, key, body)
    return json_response(
        201 if created else 200, doc, {"Location": f"/v1/support-requests/{doc['id']}"}
    )


def list_support_requests(rt: Runtime, req: Request) -> Response:
    limit = ledger.parse_limit(req.param("limit"))
    return json_response(200, support.page(rt, req.account_id, req.param("cursor"), limit))


def get_support_request(rt: Runtime, req: Request, request_id: str) -> Response:
    return json_response(200, support.get(rt, req.account_id, request_id))


def demo_state(rt: Runtime, req: Request) -> Response:
    doc = scenarios.state(rt, req.account_id)
    doc["token_revoked"] = rt.disruptions.is_revoked(req.token)
    # This token's rate-limited requests since the cloud started (the demo levers not counted).
    doc["requests"] = rt.limiter.counts(req.token)
    return json_response(200, doc)


def demo_scenario(rt: Runtime, req: Request, name: str) -> Response:
    body = req.json_body(optional=True)
    account_id = req.account_id
    if name == "late-purchase":
        return json_response(202, scenarios.late_purchase(rt, account_id, body))
    if name == "renewal-from-credits":
        return json_response(200, scenarios.renewal_from_credits(rt, account_id))
    if name == "other-booth-spend":
        return json_response(200, scenarios.other_booth_spend(rt, account_id, body))
    if name == "coupon-bonus":
        return json_response(202, scenarios.coupon_bonus(rt, account_id, body))
    if name == "outage":
        return json_response(200, scenarios.start_outage(rt, body))
    if name == "ledger-lag":
        return json_response(200, scenarios.ledger_lag(rt, account_id, body))
    if name == "restore":
        return json_response(200, scenarios.restore(rt, account_id))
    if name == "expire-account":
        return json_response(200, scenarios.expire_account(rt, account_id, body))
    if name == "lost-purchase":
        return json_response(200, trap_scenarios.lost_purchase(rt, account_id, body))
    if name == "coupon-not-activated":
        return json_response(200, trap_scenarios.coupon_not_activated(rt, account_id, body))
    if name == "unexplained-deduction":
        return json_response(200, trap_scenarios.unexplained_deduction(rt, account_id, body))
    if name == "plan-ending":
        return json_response(200, trap_scenarios.plan_ending(rt, account_id, body))
    if name == "close-account":
        return json_response(200, trap_scenarios.close_account(rt, account_id))
    if name == "busy-night":
        return json_response(202, trap_scenarios.busy_night(rt, account_id, body))
    if name == "revoke-token":
        rt.disruptions.revoke(req.token)
        return json_response(200, {"revoked": True})
    raise not_found(f"No demo scenario named {name!r}.")


def _route(method: str, path: str, handler: Handler, access: str = API) -> Route:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{pattern}$"), handler, access)


ROUTES = (
    _route("GET", "/v1/health", health, PUBLIC),
    _route("GET", "/v1/account", get_account),
    _route("GET", "/v1/balance", get_balance),
    _route("GET", "/v1/ledger", get_ledger),
    _route("GET", "/v1/features", get_features),
    _route("POST", "/v1/jobs", create_job),
    _route("GET", "/v1/jobs/{job_id}", get_job),
    _route("GET", "/v1/jobs/{job_id}/result", get_job_result),
    _route("POST", "/v1/speedtest/upload", speedtest_upload),
    _route("GET", "/v1/speedtest/upload/{probe_id}", speedtest_progress),
    _route("GET", "/v1/speedtest/download", speedtest_download),
    _route("POST", "/v1/refund-requests", create_refund),
    _route("GET", "/v1/refund-requests", list_refunds),
    _route("GET", "/v1/refund-requests/{request_id}", get_refund),
    _route("GET", "/v1/payments", list_payments),
    _route("GET", "/v1/coupons", list_coupons),
    _route("POST", "/v1/support-requests", create_support_request),
    _route("GET", "/v1/support-requests", list_support_requests),
    _route("GET", "/v1/support-requests/{request_id}", get_support_request),
    _route("GET", "/demo/state", demo_state, DEMO),
    _route("POST", "/demo/scenarios/{name}", demo_scenario, DEMO),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    allowed = []
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
        allowed.append(route.method)
    if allowed:
        raise ApiError(
            405,
            "method_not_allowed",
            f"{method} is not supported here; use {', '.join(sorted(set(allowed)))}.",
            headers={"Allow": ", ".join(sorted(set(allowed)))},
        )
    raise not_found(f"No such endpoint: {path}")
