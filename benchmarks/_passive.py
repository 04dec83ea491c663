"""The bandwidth matrix's passive column: one AI job's photo upload and result download through
the app's own cloud transport (app/adapters/cloud/transport.py, metering.py) on the shaped link,
and the reading each gives, or why it is not used (too short, app-limited), against iperf3.

The photo is a valid JPEG grown to the wanted size (the demo cloud's result is the same photo
with a marker, so the download is as large); the job runs for the demo cloud's 1 s.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from pathlib import Path

from app.adapters.cloud.client import HttpCloud
from app.adapters.cloud.jobs import CloudJobs
from app.adapters.cloud.metering import Recorder
from app.adapters.cloud.transport import CloudTransport
from app.core.bandwidth_passive import PassiveReading, Unused
from app.democloud.images import make_jpeg
from app.runtime import utc_now

Reading = PassiveReading | Unused


def photo_job(url: str, token: str, photo_bytes: int, timeout: float = 120.0
              ) -> dict[str, Reading]:
    """Run in the client namespace: "up" and "down" readings of one job's transfers."""
    found: dict[str, Reading] = {}
    # The lab's cloud is plain http on a namespace address: warned about once per client.
    logging.getLogger("app.adapters.cloud.client").setLevel(logging.ERROR)

    def took(recorder: Recorder) -> None:
        found[recorder.direction] = recorder.reading(utc_now())

    http = HttpCloud(url, token, allow_insecure_http=True,
                     transport=CloudTransport(None, took))
    try:
        jobs = CloudJobs(lambda: http)
        job = jobs.submit("background_removal", make_jpeg(padding=photo_bytes), "image/jpeg",
                          f"bcm-bench-{secrets.token_hex(6)}")
        deadline = time.monotonic() + timeout
        while (status := jobs.status(job.id).status) != "succeeded":
            if status == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"demo job {job.id} did not succeed ({status})")
            time.sleep(0.2)
        with tempfile.TemporaryDirectory() as tmp:
            jobs.download_result(job.id, str(Path(tmp) / "result.jpg"))
    finally:
        http.close()
    return found
