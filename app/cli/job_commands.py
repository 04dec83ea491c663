"""`submit`, `queue`, `replay`, `retry`, `remove`, `send-anyway`: the AI job queue from a shell.

They work on the same store as the tray app, at the same time: claims are leased, so the two
never send the same job. Exit status: 0 done, 1 failed (or an error), 3 still queued (offline,
paused, held for a slow link, or not finished before --timeout).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.adapters.intake.local_trigger import trigger_token
from app.core.jobs import Job, JobState, QueueCounts
from app.core.model import FEATURE_LABELS, Feature
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime, utc_now

EXIT_OK, EXIT_FAILED, EXIT_STILL_QUEUED = 0, 1, 3
FEATURES = [f.value for f in Feature]
STOP_WORDS = {
    "done": "",
    "offline": "the cloud cannot be reached; the queue keeps the photos and the tray app or "
    "`replay` sends them when it is back",
    "paused": "the queue is paused",
    "timeout": "not finished before --timeout; the queue keeps going in the tray app or with "
    "`replay`",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    submit = sub.add_parser("submit", parents=[common], help="queue a photo for an AI feature "
                            "and send it (exit 0 done, 1 failed, 3 still queued)")
    submit.add_argument("path", metavar="PATH", help="a JPEG or PNG photo")
    submit.add_argument("--feature", required=True, choices=FEATURES)
    submit.add_argument("--no-wait", action="store_true",
                        help="only queue it durably; the tray app or `replay` sends it")
    submit.add_argument("--timeout", type=float, default=300.0, metavar="S")
    submit.add_argument("--offline-wait", type=float, default=10.0, metavar="S",
                        help="how long to wait for an unreachable cloud before leaving the "
                        "photo queued (default 10)")
    submit.add_argument("--json", action="store_true", help="print one JSON object")
    submit.set_defaults(func=run_submit)

    queue = sub.add_parser("queue", parents=[common], help="list queued and recent AI jobs")
    queue.add_argument("--all", action="store_true", help="include removed jobs")
    queue.add_argument("--job", metavar="ID", help="one job with every state change")
    queue.add_argument("--limit", type=int, default=200)
    queue.add_argument("--json", action="store_true", help="print one JSON object")
    queue.set_defaults(func=run_queue)

    replay = sub.add_parser("replay", parents=[common],
                            help="send the queue now (resumes a paused queue, skips backoff)")
    replay.add_argument("--timeout", type=float, default=600.0, metavar="S")
    replay.add_argument("--offline-wait", type=float, default=10.0, metavar="S")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.set_defaults(func=run_replay)

    token = sub.add_parser("trigger-token", parents=[common],
                           help="show the token booth software sends to the local trigger")
    token.add_argument("--new", action="store_true", help="replace it (booth software must be "
                       "given the new one)")
    token.set_defaults(func=run_trigger_token)

    for name, helptext in (("retry", "try given-up, failed or waiting jobs again now"),
                           ("remove", "take jobs off the queue (their history is kept)"),
                           ("send-anyway", "send jobs held for a slow link")):
        cmd = sub.add_parser(name, parents=[common], help=helptext)
        cmd.add_argument("ids", nargs="+", metavar="ID", help="job ids (a unique start will do)")
        cmd.add_argument("--json", action="store_true", help="print one JSON object")
        cmd.set_defaults(func=run_operator_action, action=name.replace("-", "_"))


def _with_job_path(options: Options, body: Callable[[JobPath], int]) -> int:
    runtime = Runtime(options)
    path = JobPath(runtime)
    try:
        return body(path)
    finally:
        path.close()
        runtime.close()


# -- submit ---------------------------------------------------------------------------------


def run_submit(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        intook = jp.intake.submit(Path(args.path), args.feature, "cli")
        job = intook.job
        assert job is not None
        stopped = "queued"
        if not args.no_wait and not jp.job_settled(job.id):
            stopped = jp.drive(lambda: jp.job_settled(job.id), timeout=args.timeout,
                               offline_grace=args.offline_wait)
        job = jp.repo.get(job.id) or job
        if args.json:
            print(json.dumps({"created": intook.created, "stopped": stopped,
                              "job": job.to_json(jp.repo.history(job.id))}, indent=2))
        else:
            verb = "Queued" if intook.created else "Already queued"
            print(f"{verb} {Path(job.source_path).name} for {_label(job.feature)} as {job.id}.")
            _print_outcome(job, stopped, jp.repo.counts())
        return _exit_for(job)

    return _with_job_path(options, body)


def _print_outcome(job: Job, stopped: str, counts: QueueCounts) -> None:
    if job.state is JobState.SUCCEEDED:
        print(f"Result   {job.result_path}")
    elif job.state in (JobState.FAILED, JobState.GIVEN_UP):
        print(f"{job.state.value.replace('_', ' ').capitalize()}: {job.last_error}")
    elif job.state is JobState.HELD:
        print("Held     the link is too slow; `send-anyway` sends it now.")
    else:
        why = STOP_WORDS.get(stopped, "")
        if stopped == "paused" and counts.pause is not None:
            why = f"the queue is paused: {counts.pause.message}"
        print(f"Queued   {job.state.value}" + (f" ({why})" if why else ""))
        if job.last_error:
            print(f"Problem  {job.last_error}")


def _exit_for(job: Job) -> int:
    if job.state is JobState.SUCCEEDED:
        return EXIT_OK
    if job.state in (JobState.FAILED, JobState.GIVEN_UP, JobState.REMOVED):
        return EXIT_FAILED
    return EXIT_STILL_QUEUED


# -- queue ----------------------------------------------------------------------------------


def run_queue(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        counts = jp.repo.counts()
        if args.job:
            job = jp.repo.find(args.job)
            if job is None:
                print(f"No job {args.job} (or more than one starts like that).")
                return EXIT_FAILED
            events = jp.repo.history(job.id)
            if args.json:
                print(json.dumps(job.to_json(events), indent=2))
            else:
                _print_job(job)
                for e in events:
                    before = e.from_state.value if e.from_state else "-"
                    print(f"  {_when(e.at)}  {before:>14} -> {e.to_state.value:<14} {e.note}")
            return EXIT_OK
        jobs = [j for j in jp.repo.jobs(limit=args.limit)
                if args.all or j.state is not JobState.REMOVED]
        if args.json:
            print(json.dumps({"counts": counts.to_json(),
                              "folders": {k: str(v) for k, v in vars(jp.folders).items()},
                              "jobs": [j.to_json(jp.repo.history(j.id)) for j in jobs]},
                             indent=2))
            return EXIT_OK
        print(_counts_line(counts))
        print(f"Hot folder {jp.folders.hot}  ->  results in {jp.folders.output}")
        if counts.pause is not None:
            print(f"PAUSED   {counts.pause.message} (since {_when(counts.pause.since)})")
        if not jobs:
            print("No jobs yet.")
        else:
            print(f"{'ID':<12} {'FILE':<24} {'FEATURE':<18} {'STATE':<14} {'TRIES':>5} "
                  f"{'NEXT':<8} PROBLEM")
        for job in jobs:
            print(f"{job.id[:12]:<12} {_short(Path(job.source_path).name, 24):<24} "
                  f"{job.feature:<18} {job.state.value:<14} {job.attempts:>5} "
                  f"{_next(job):<8} {_short(job.last_error or '', 60)}")
        return EXIT_OK

    return _with_job_path(options, body)


def _print_job(job: Job) -> None:
    print(f"Job      {job.id} ({job.state.value}, {job.attempts} failed attempts)")
    print(f"Photo    {job.source_path} for {_label(job.feature)}")
    print(f"Result   {job.result_path}")
    print(f"Cloud    {job.cloud_job_id or '-'}  key {job.idempotency_key}"
          + (f"  charged {job.charged_cents} cents" if job.charged_cents else ""))
    if job.last_error:
        print(f"Problem  {job.last_error}")


def _counts_line(counts: QueueCounts) -> str:
    parts = [f"{counts.open} open"] + [
        f"{counts.by_state[s.value]} {s.value.replace('_', ' ')}" for s in JobState
        if counts.by_state.get(s.value) and s is not JobState.REMOVED]
    return "Queue    " + ", ".join(parts)


# -- replay and operator actions ---------------------------------------------------------------


def run_replay(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        before = jp.repo.counts()
        jp.repo.resume()  # the operator asked: try now, even if it was paused
        jp.repo.due_now(utc_now())
        stopped = jp.drive(jp.nothing_workable, timeout=args.timeout,
                           offline_grace=args.offline_wait)
        after = jp.repo.counts()
        if args.json:
            print(json.dumps({"stopped": stopped, "before": before.to_json(),
                              "after": after.to_json()}, indent=2))
        else:
            done = after.count(JobState.SUCCEEDED) - before.count(JobState.SUCCEEDED)
            failed = (after.count(JobState.FAILED, JobState.GIVEN_UP)
                      - before.count(JobState.FAILED, JobState.GIVEN_UP))
            print(f"Replayed {done} succeeded, {failed} failed; {after.open} still open.")
            if stopped != "done":
                reason = (after.pause.message if stopped == "paused" and after.pause
                          else STOP_WORDS[stopped])
                print(f"Stopped  {reason}")
            if after.count(JobState.HELD):
                print(f"Held     {after.count(JobState.HELD)} (slow link; `send-anyway ID`)")
        return EXIT_OK if after.count(JobState.PENDING, JobState.SENDING, JobState.WAITING_RESULT,
                                      JobState.DOWNLOADING) == 0 else EXIT_STILL_QUEUED

    return _with_job_path(options, body)


def run_operator_action(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        act = getattr(jp.repo, args.action)
        changed: list[Job] = act(args.ids, utc_now())
        if args.json:
            print(json.dumps({"changed": [j.to_json() for j in changed]}, indent=2))
        else:
            for job in changed:
                print(f"{job.id}  {job.state.value}  {Path(job.source_path).name}")
            if not changed:
                print("Nothing to change.")
        return EXIT_OK

    return _with_job_path(options, body)


def run_trigger_token(args: argparse.Namespace, options: Options) -> int:
    runtime = Runtime(options)
    try:
        token = trigger_token(runtime.secrets, renew=args.new)
        state = "on" if runtime.settings.local_trigger_enabled else "off (enable it in Settings)"
        print(f"Trigger  http://127.0.0.1:{runtime.settings.local_trigger_port}/v1/jobs  {state}")
        print(f"Token    {token}")
        return EXIT_OK
    finally:
        runtime.close()


# -- small helpers ------------------------------------------------------------------------------


def _label(feature: str) -> str:
    try:
        return FEATURE_LABELS[Feature(feature)]
    except ValueError:
        return feature


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _next(job: Job) -> str:
    if job.next_attempt_at is None or job.state not in (JobState.PENDING, JobState.WAITING_RESULT,
                                                        JobState.DOWNLOADING):
        return "-"
    seconds = (job.next_attempt_at - utc_now()).total_seconds()
    return "now" if seconds <= 0 else f"in {seconds:.0f}s"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
