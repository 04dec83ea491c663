"""The jobs part of the cloud contract (docs/cloud-api.md) on top of HttpCloud.

HttpCloud already turns every transport and HTTP failure (refused, reset, timeout, 5xx, 429,
redirects, a login page) into app.core.errors; this adapter adds the shapes of the job documents
and writes results whole into the output folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.adapters.cloud.client import LOGIN_PAGE_HINT, HttpCloud
from app.adapters.cloud.wire import parse_time
from app.adapters.intake.job_files import write_result
from app.core.errors import CaptivePortal, ProtocolError
from app.core.job_runner import CloudJob

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
STATUSES = ("queued", "running", "succeeded", "failed")


class CloudJobs:
    """The runner's JobCloud port. `http` is a callable so a client replaced after the
    operator changed the URL or token in Settings is picked up by the next request."""

    def __init__(self, http: Callable[[], HttpCloud], booth_id: str = ""):
        self._http = http
        self._booth_id = booth_id if 0 < len(booth_id) <= 64 else ""

    def submit(self, feature: str, data: bytes, media_type: str, key: str) -> CloudJob:
        headers = {"Idempotency-Key": key, "Content-Type": media_type}
        if self._booth_id:
            headers["X-Booth-Id"] = self._booth_id
        body = self._http().request_json("POST", "/v1/jobs", params={"feature": feature},
                                         content=data, headers=headers)
        return _cloud_job(body)

    def status(self, cloud_job_id: str) -> CloudJob:
        return _cloud_job(self._http().request_json("GET", f"/v1/jobs/{_segment(cloud_job_id)}"))

    def download_result(self, cloud_job_id: str, target_path: str) -> int:
        http = self._http()
        response = http.request("GET", f"/v1/jobs/{_segment(cloud_job_id)}/result")
        ctype = response.headers.get("content-type", "").lower()
        if "html" in ctype:
            raise CaptivePortal(f"A web page answered instead of the cloud at {http.host}.",
                                hint=LOGIN_PAGE_HINT)
        data = response.content
        if not data or not ctype.startswith("image/"):
            raise ProtocolError(f"The cloud sent an empty or non-image result for job "
                                f"{cloud_job_id}.")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) != len(data):
            raise ProtocolError(f"The result of job {cloud_job_id} arrived cut short.")
        chunks = (data[i:i + CHUNK] for i in range(0, len(data), CHUNK))
        return write_result(Path(target_path), chunks)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _cloud_job(body: dict[str, Any]) -> CloudJob:
    job_id, status = body.get("id"), body.get("status")
    if not isinstance(job_id, str) or not job_id or not isinstance(status, str) or not status:
        raise ProtocolError("The cloud sent a job document of the wrong form.")
    if status not in STATUSES:
        # Statuses may grow (docs/cloud-api.md §12): one we do not know is not an outcome, so
        # the job is followed as still in progress.
        log.info("cloud job %s has status %r, unknown to this version", job_id, status)
    charged = body.get("charged_cents")
    reason = body.get("failure_reason")
    return CloudJob(
        id=job_id, status=status,
        failure_reason=reason if isinstance(reason, str) else None,
        charged_cents=charged if isinstance(charged, int) and not isinstance(charged, bool)
        else None,
        created_at=_time_or_none(body.get("created_at")),
        updated_at=_time_or_none(body.get("updated_at")),
    )


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except ProtocolError:
        return None  # a timestamp we cannot read only costs the refund request a detail
