"""`submit`, `queue`, `replay`, `retry`, `remove`, `send-anyway`: the AI job queue from a shell.

They work on the same store as the tray app, at the same time: claims are leased, so the two
never send the same job. Exit status (app.cli.failures): 0 done, 1 failed, 3 still queued
(offline, paused for a token or credits, held for a slow link, or not finished before
--timeout); every non-zero exit ends with one line on stderr saying why and what to do.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.adapters.intake.local_trigger import trigger_token
from app.cli.failures import EXIT_OK, EXIT_STILL_QUEUED, CommandFailed, lower_first
from app.core.job_words import job_note, next_step
from app.core.jobs import WORKABLE, Job, JobState, QueueCounts
from app.core.model import KNOWN_FEATURES, feature_label
from app.orchestration.job_path import JobPath
from app.runtime import Options, Runtime, utc_now

FEATURES = [f.id for f in KNOWN_FEATURES]
STOP_WORDS = {
    "done": "",
    "offline": "the cloud cannot be reached; the queue keeps the photos and the tray app or "
    "`replay` sends them when it is back",
    "paused": "the queue is paused",
    "timeout": "not finished before --timeout; the queue keeps going in the tray app or with "
    "`replay`",
}
SENDS_LATER = "The tray app or `replay` sends it when the cloud answers."


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    submit = sub.add_parser("submit", parents=[common], help="queue a photo for an AI feature "
                            "and send it (exit 0 done, 1 failed, 3 still queued)")
    submit.add_argument("path", metavar="PATH", help="a JPEG or PNG photo")
    # Checked against the cloud's own list once the store is open (a vendor may add one).
    submit.add_argument("--feature", required=True, metavar="FEATURE",
                        help="one of the features the cloud lists (built in: "
                        f"{', '.join(FEATURES)})")
    submit.add_argument("--no-wait", action="store_true",
                        help="only queue it durably; the tray app or `replay` sends it")
    submit.add_argument("--timeout", type=float, default=300.0, metavar="S")
    submit.add_argument("--offline-wait", type=float, default=10.0, metavar="S",
                        help="how long to wait for an unreachable cloud before leaving the "
                        "photo queued (default 10)")
    submit.add_argument("--json", action="store_true", help="print one JSON object")
    submit.set_defaults(func=run_submit)

    queue = sub.add_parser("queue", parents=[common], help="list queued and recent AI jobs")
    queue.add_argument("--all", action="store_true",
                       help="include removed jobs and the runs a retry replaced")
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
        offered = jp.features()
        if args.feature not in offered:
            print(f"'{args.feature}' is not a feature this cloud offers: "
                  f"{', '.join(sorted(offered))}.", file=sys.stderr)
            return 2
        intook = jp.intake.submit(Path(args.path), args.feature, "cli")
        job = intook.job
        assert job is not None
        stopped = "queued"
        if not args.no_wait and not jp.job_settled(job.id):
            stopped = jp.drive(lambda: jp.job_settled(job.id), timeout=args.timeout,
                               offline_grace=args.offline_wait)
        job = jp.repo.get(job.id) or job
        counts = jp.repo.counts()
        if args.json:
            print(json.dumps({"created": intook.created, "stopped": stopped,
                              "job": job.to_json(jp.repo.history(job.id))}, indent=2))
        else:
            verb = "Queued" if intook.created else "Already queued"
            print(f"{verb} {Path(job.source_path).name} for {_label(job.feature)} as {job.id}.")
            _print_outcome(job, stopped, counts)
        if stopped == "queued" and job.is_open:
            return EXIT_OK  # --no-wait: queuing it durably is all that was asked
        _raise_unless_done(job, stopped, counts, jp, args.timeout)
        return EXIT_OK

    return _with_job_path(options, body)


def _print_outcome(job: Job, stopped: str, counts: QueueCounts) -> None:
    if job.state is JobState.SUCCEEDED:
        print(f"Result   {job.result_path}")
    elif job.state in (JobState.FAILED, JobState.GIVEN_UP):
        print(f"{job.state.value.replace('_', ' ').capitalize()}: {job.last_error}")
    elif job.state is JobState.HELD:
        print("Held     the link is too slow; `send-anyway` sends it now.")
    elif job.state is JobState.DUPLICATE:
        print(f"Same     {job.last_error or 'photo as an earlier job'}: not sent again")
    else:
        why = STOP_WORDS.get(stopped, "")
        if stopped == "paused" and counts.pause is not None:
            why = f"the queue is paused: {counts.pause.message}"
        print(f"Queued   {job.state.value}" + (f" ({why})" if why else ""))
        if job.last_error:
            print(f"Problem  {job.last_error}")


def _raise_unless_done(job: Job, stopped: str, counts: QueueCounts, jp: JobPath,
                       timeout: float) -> None:
    """The one stderr line for a photo that was not delivered: failed (1), or still queued
    (3) with what it waits for."""
    name = Path(job.source_path).name
    if job.state in (JobState.SUCCEEDED, JobState.DUPLICATE):
        return
    if job.state in (JobState.FAILED, JobState.GIVEN_UP):
        todo = ("A refund claim is filed on its own (`refunds`)." if job.charged_cents
                else f"`retry {job.id}` tries again.")
        raise CommandFailed(f"{name} {job.state.value.replace('_', ' ')}: "
                            f"{lower_first(job.last_error or 'no reason given')}", todo)
    if job.state is JobState.REMOVED:
        raise CommandFailed(f"{name} was removed from the queue", "`queue --all` shows it.")
    if job.state is JobState.HELD:
        raise CommandFailed(f"{name} is held: the link is too slow for AI jobs",
                            f"`send-anyway {job.id}` sends it now; otherwise it goes when the "
                            "link is fast enough.", code=EXIT_STILL_QUEUED)
    raise _still_queued(f"{name} is queued but not sent", stopped, counts, jp, timeout, job)


def _still_queued(what: str, stopped: str, counts: QueueCounts, jp: JobPath, timeout: float,
                  job: Job | None) -> CommandFailed:
    """`job`: the one whose last problem explains the wait best."""
    if stopped == "paused" and counts.pause is not None:
        return CommandFailed(f"{what}: {lower_first(counts.pause.message)}",
                             "`replay` sends it once that is fixed.", code=EXIT_STILL_QUEUED)
    last_error = job.last_error if job else None
    if job is not None and last_error and job.last_error_kind in ("auth", "credits"):
        # Only the operator can fix these, whatever else the link is doing.
        return CommandFailed(f"{what}: {lower_first(last_error)}",
                             "`replay` sends it once that is fixed.", code=EXIT_STILL_QUEUED)
    if stopped == "timeout":
        return CommandFailed(f"{what} within --timeout {timeout:g} s",
                             "The tray app or `replay` goes on with it; `queue` shows where it "
                             "is.", code=EXIT_STILL_QUEUED)
    reason = last_error or jp.runtime.view().contact.message or "the cloud cannot be reached"
    return CommandFailed(f"{what}: {lower_first(reason)}", SENDS_LATER, code=EXIT_STILL_QUEUED)


# -- queue ----------------------------------------------------------------------------------


def run_queue(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        counts = jp.repo.counts()
        if args.job:
            _print_one(jp, args.job, as_json=args.json)
            return EXIT_OK
        every = jp.repo.jobs(limit=args.limit)
        names = {j.id: Path(j.source_path).name for j in every}
        # A photo an operator retried shows once, as its newest run (as in the queue window).
        jobs = [j for j in every if args.all or (
            j.state is not JobState.REMOVED and j.superseded_by is None)]
        if args.json:
            print(json.dumps({"counts": counts.to_json(),
                              "folders": {k: str(v) for k, v in vars(jp.folders).items()},
                              "jobs": [j.to_json(jp.repo.history(j.id)) for j in jobs]},
                             indent=2))
        else:
            _print_table(jp, counts, jobs, names)
        jp.runtime.check_configured()  # a queue nothing can send: say so
        return EXIT_OK

    return _with_job_path(options, body)


def _print_one(jp: JobPath, wanted: str, *, as_json: bool) -> None:
    job = jp.repo.find(wanted)
    if job is None:
        raise CommandFailed(f"No job {wanted} in the queue (or more than one starts like that)",
                            "`queue` lists the ids.")
    events = jp.repo.history(job.id)
    if as_json:
        print(json.dumps(job.to_json(events), indent=2))
        return
    _print_job(job)
    for e in events:
        before = e.from_state.value if e.from_state else "-"
        print(f"  {_when(e.at)}  {before:>14} -> {e.to_state.value:<14} {e.note}")


def _print_table(jp: JobPath, counts: QueueCounts, jobs: list[Job],
                 names: dict[str, str]) -> None:
    print(_counts_line(counts))
    print(f"Hot folder {jp.folders.hot}  ->  results in {jp.folders.output}")
    if counts.pause is not None:
        print(f"PAUSED   {counts.pause.message} (since {_when(counts.pause.since)})")
    if not jobs:
        print("No jobs yet.")
        return
    now, offline = utc_now(), jp.runtime.view().offline  # the link state every surface shows
    print(f"{'ID':<18} {'FILE':<24} {'FEATURE':<18} {'STATE':<14} {'TRIES':>5}  "
          f"{'NEXT':<28} NOTE")
    for job in jobs:
        upcoming = next_step(job, now, offline=offline, pause=counts.pause) or "-"
        print(f"{job.id:<18} {_short(Path(job.source_path).name, 24):<24} "
              f"{job.feature:<18} {job.state.value:<14} {job.sends:>5}  "
              f"{_short(upcoming, 28):<28} {_short(job_note(job, names), 70)}")


def _print_job(job: Job) -> None:
    print(f"Job      {job.id} ({job.state.value}, sent {job.sends} time"
          f"{'s' if job.sends != 1 else ''})")
    print(f"Photo    {job.source_path} for {_label(job.feature)}")
    print(f"Result   {job.result_path}")
    print(f"Cloud    {job.cloud_job_id or '-'}  key {job.idempotency_key}"
          + (f"  charged {job.charged_cents} cents" if job.charged_cents else ""))
    if job.duplicate_of:
        print(f"Same     photo as job {job.duplicate_of}: not sent again")
    if job.superseded_by:
        print(f"Retried  as job {job.superseded_by}")
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
        failed = (after.count(JobState.FAILED, JobState.GIVEN_UP)
                  - before.count(JobState.FAILED, JobState.GIVEN_UP))
        if args.json:
            print(json.dumps({"stopped": stopped, "before": before.to_json(),
                              "after": after.to_json()}, indent=2))
        else:
            done = after.count(JobState.SUCCEEDED) - before.count(JobState.SUCCEEDED)
            print(f"Replayed {done} succeeded, {failed} failed; {after.open} still open.")
            if stopped != "done":
                reason = (after.pause.message if stopped == "paused" and after.pause
                          else STOP_WORDS[stopped])
                print(f"Stopped  {reason}")
            if after.count(JobState.HELD):
                print(f"Held     {after.count(JobState.HELD)} (slow link; `send-anyway ID`)")
        _raise_unless_replayed(jp, stopped, after, failed, args.timeout)
        return EXIT_OK

    return _with_job_path(options, body)


def _raise_unless_replayed(jp: JobPath, stopped: str, after: QueueCounts, failed: int,
                           timeout: float) -> None:
    """Still queued (3) wins over failed (1): those photos are the ones still to act on."""
    waiting, held = after.count(*WORKABLE), after.count(JobState.HELD)
    also = f" ({failed} failed meanwhile)" if failed else ""
    if waiting:
        last = next((j for j in jp.repo.jobs(include_final=False)
                     if j.state in WORKABLE and j.last_error), None)
        raise _still_queued(f"{_photos(waiting, 'is')} queued but not sent{also}", stopped,
                            after, jp, timeout, last)
    if held:
        raise CommandFailed(f"{_photos(held, 'is')} held: the link is too slow for AI jobs{also}",
                            "`send-anyway ID` sends them now; otherwise they go when the link "
                            "is fast enough.", code=EXIT_STILL_QUEUED)
    if failed:
        raise CommandFailed(f"{_photos(failed)} failed", "`queue` says why; refund claims for "
                            "charged ones are filed on their own.")


def run_operator_action(args: argparse.Namespace, options: Options) -> int:
    def body(jp: JobPath) -> int:
        act = getattr(jp.repo, args.action)
        changed: list[Job] = act(args.ids, utc_now())  # an unknown id is one line, exit 1
        if args.json:
            print(json.dumps({"changed": [j.to_json() for j in changed]}, indent=2))
        else:
            for job in changed:
                print(f"{job.id}  {job.state.value}  {Path(job.source_path).name}")
        if not changed:
            states = ", ".join(sorted({(jp.repo.find(i) or _missing(i)).state.value
                                       for i in args.ids}))
            raise CommandFailed(f"Nothing to {args.action.replace('_', ' ')}: the job"
                                f"{'s are' if len(args.ids) > 1 else ' is'} {states}",
                                _ACTION_HINTS[args.action])
        return EXIT_OK

    return _with_job_path(options, body)


_ACTION_HINTS = {
    "retry": "Retry works on failed, given-up and waiting jobs.",
    "send_anyway": "Send anyway works on jobs held for a slow link.",
    "remove": "It is already off the queue.",
}


def _missing(job_id: str) -> Job:
    raise CommandFailed(f"No job {job_id} in the queue", "`queue` lists the ids.")


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
    return feature_label(feature)


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _photos(n: int, verb: str = "") -> str:
    """'1 photo is', '2 photos are' (verb "is"), or just '2 photos'."""
    words = f"{n} photo{'s' if n != 1 else ''}"
    return f"{words} {'are' if n != 1 else 'is'}" if verb == "is" else words


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
