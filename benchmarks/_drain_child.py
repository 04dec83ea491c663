"""One replaying booth process for jobs_drain's pacing table (not a benchmark: the name starts
with _). `python -m benchmarks._drain_child HOME CLOUD_URL paced|unpaced TIMEOUT`

"paced" is `replay` as shipped: every request takes its token from the bucket in the store
that both processes share. "unpaced" is the baseline, the client before issue 14: requests go
straight to the cloud and only the job that got a 429 waits out its Retry-After.
"""

from __future__ import annotations

import sys

from app.adapters.cloud.transport import CloudTransport
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime, utc_now


def main(argv: list[str]) -> int:
    home, url, mode, timeout = argv
    runtime = Runtime(Options(home=home, cloud_url=url))
    if mode == "unpaced":
        runtime.cloud_transport = lambda _url, _token: CloudTransport()  # type: ignore[method-assign]
    jp = JobPath(runtime)
    try:
        jp.repo.resume()
        jp.repo.due_now(utc_now())
        print(jp.drive(jp.nothing_workable, timeout=float(timeout)), flush=True)
    finally:
        jp.close()
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
