"""The hot folder: settle before taking, backfill at start, skip done photos, quarantine junk."""

from __future__ import annotations

import os

import pytest

from app.adapters.intake.hot_folder import FolderRules, HotFolderScanner, Intake, NotAPhoto
from app.adapters.store import Database
from app.adapters.store.jobs_repo import JobsRepo
from app.core.jobs import JobState
from app.democloud.images import make_jpeg, make_png
from tests.jobs.fakes import Clock

FEATURES = frozenset({"background_removal", "ai_headshot", "draw_me"})


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def folders(tmp_path):
    hot, out, bad = tmp_path / "hot", tmp_path / "out", tmp_path / "quarantine"
    hot.mkdir()
    return hot, out, bad


@pytest.fixture
def intake(tmp_path, folders):
    db = Database(tmp_path / "m.sqlite3")
    yield Intake(JobsRepo(db), folders[1], folders[2], Clock())
    db.close()


def rules(**kw) -> FolderRules:
    return FolderRules(default_feature=kw.pop("default", "background_removal"),
                       features=FEATURES, **kw)


def test_a_file_is_taken_only_after_it_stopped_changing(folders):
    hot = folders[0]
    ticks = Ticks()
    scanner = HotFolderScanner(hot, rules(), quiet_seconds=2.0, monotonic=ticks)
    photo = hot / "a.jpg"
    photo.write_bytes(b"\xff\xd8\xffpart")
    first = scanner.scan()
    assert first.ready == [] and first.recheck_in == 2.0
    ticks.t += 1.5
    with photo.open("ab") as f:  # the booth is still writing
        f.write(b"more\xff\xd9")
    os.utime(photo, ns=(10**9, 10**9))  # mtime moves on every write
    assert scanner.scan().ready == []
    ticks.t += 1.0
    assert scanner.scan().recheck_in == pytest.approx(1.0)
    ticks.t += 1.0
    assert scanner.scan().ready == [(photo, "background_removal")]
    scanner.taken(photo)
    ticks.t += 10
    assert scanner.scan() .ready == [], "taken once, not again while unchanged"


def test_files_already_there_at_start_are_picked_up_and_temp_names_ignored(folders):
    hot = folders[0]
    for name in ("old1.jpg", "old2.png", ".hidden.jpg", "b.jpg.part", "~lock.jpg", "c.tmp"):
        (hot / name).write_bytes(b"x")
    ticks = Ticks()
    scanner = HotFolderScanner(hot, rules(), quiet_seconds=1.0, monotonic=ticks)
    scanner.scan()
    ticks.t += 1.0
    assert sorted(p.name for p, _ in scanner.scan().ready) == ["old1.jpg", "old2.png"]


def test_features_by_subfolder_mapping_and_name_rule(folders):
    hot = folders[0]
    for sub in ("draw_me", "heads", "unknown"):
        (hot / sub).mkdir()
        (hot / sub / "p.jpg").write_bytes(b"x")
    (hot / "guest_bw.jpg").write_bytes(b"x")
    (hot / "guest.jpg").write_bytes(b"x")
    ticks = Ticks()
    scanner = HotFolderScanner(
        hot, rules(folder_features={"heads": "ai_headshot"},
                   name_rules=(("*_bw.jpg", "draw_me"),)), quiet_seconds=0.5, monotonic=ticks)
    assert {p.name for p in scanner.folders()} == {"hot", "draw_me", "heads"}
    scanner.scan()
    ticks.t += 1
    found = {(p.parent.name, p.name): f for p, f in scanner.scan().ready}
    assert found == {("draw_me", "p.jpg"): "draw_me", ("heads", "p.jpg"): "ai_headshot",
                     ("hot", "guest_bw.jpg"): "draw_me",
                     ("hot", "guest.jpg"): "background_removal"}


def test_output_and_quarantine_inside_the_hot_folder_are_not_watched(folders):
    hot = folders[0]
    (hot / "draw_me").mkdir()
    scanner = HotFolderScanner(hot, rules(), exclude=[hot / "draw_me"])
    assert scanner.folders() == [hot]


@pytest.mark.parametrize(("name", "content", "why"), [
    ("empty.jpg", b"", "empty"),
    ("notes.jpg", b"hello, not a photo", "not a JPEG or PNG"),
])
def test_a_file_that_cannot_be_a_job_is_quarantined_with_a_note(intake, folders, name,
                                                                  content, why):
    hot, _, quarantine = folders
    (hot / name).write_bytes(content)
    result = intake.take(hot / name, "draw_me")
    assert result.job is None and why in result.reason
    assert not (hot / name).exists()
    assert (quarantine / name).read_bytes() == content
    note = (quarantine / f"{name}.why.txt").read_text(encoding="utf-8")
    assert why in note and name in note


def test_a_photo_already_done_is_skipped_by_content_even_under_another_name(intake, folders):
    hot = folders[0]
    data = make_png(8, 8)
    (hot / "a.png").write_bytes(data)
    (hot / "copy-of-a.png").write_bytes(data)
    first = intake.take(hot / "a.png", "draw_me")
    second = intake.take(hot / "copy-of-a.png", "draw_me")
    assert first.created and first.job.result_path.endswith("a.draw_me.png")
    # The copy is not sent, but it is not invisible either: a row says which photo it repeats.
    assert second.created and second.job.state is JobState.DUPLICATE
    assert second.job.duplicate_of == first.job.id and "a.png" in second.job.last_error
    assert intake.take(hot / "a.png", "draw_me").job.id == first.job.id  # seen again: no row
    again = intake.take(hot / "copy-of-a.png", "draw_me")
    assert not again.created and again.job.id == second.job.id
    assert intake.repo.counts().count(JobState.PENDING) == 1
    (hot / "a.png").write_bytes(make_png(9, 9))  # a new photo under the old name
    assert intake.take(hot / "a.png", "draw_me").created


def test_submit_reports_a_bad_file_instead_of_moving_it(intake, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"nope")
    with pytest.raises(NotAPhoto):
        intake.submit(junk, "draw_me", "cli")
    assert junk.exists()
    with pytest.raises(NotAPhoto, match="No file"):
        intake.submit(tmp_path / "missing.jpg", "draw_me", "cli")


def test_a_photo_with_a_name_near_the_limit_is_queued_and_the_scan_goes_on(intake, folders):
    """Issue 10 #9: a 244-byte name made the result name too long; the OSError escaped and
    stopped every later scan. Now the result name is shortened to fit."""
    hot, out, _ = folders
    long_photo = hot / ("x" * 240 + ".png")
    long_photo.write_bytes(make_png(8, 8))
    result = intake.take(long_photo, "background_removal")
    assert result.created and result.job is not None
    assert len(os.path.basename(result.job.result_path).encode()) <= 255
    assert os.path.dirname(result.job.result_path) == str(out)
    (hot / "next.png").write_bytes(make_png(9, 9))
    assert intake.take(hot / "next.png", "background_removal").created


def test_any_unexpected_error_on_one_file_quarantines_that_file(intake, folders, monkeypatch):
    """Issue 10 #9: only NotAPhoto/FileBusy were handled; any other error on one file must set
    that file aside with a note, not escape the scan."""
    hot, _, quarantine = folders
    photo = hot / "odd.png"
    photo.write_bytes(make_png(8, 8))

    def broken(*_args, **_kw):
        raise OSError(36, "File name too long")

    monkeypatch.setattr("app.adapters.intake.hot_folder.spool.store", broken)
    result = intake.take(photo, "draw_me")
    assert result.job is None and "File name too long" in result.reason
    assert (quarantine / "odd.png").exists() and not photo.exists()
    assert "File name too long" in (quarantine / "odd.png.why.txt").read_text(encoding="utf-8")


def test_a_photo_written_with_long_pauses_waits_for_its_end_marker(intake, folders):
    """Issue 10 #10: a writer pausing longer than the quiet time got a half-written photo sent.
    Quiet alone is not enough: the JPEG must end with its EOI marker; one that never does is
    set aside after the longer deadline."""
    hot, _, quarantine = folders
    ticks = Ticks()
    scanner = HotFolderScanner(hot, rules(), quiet_seconds=2.0, incomplete_seconds=60.0,
                               monotonic=ticks)
    photo, cut = hot / "slow.jpg", hot / "cut.jpg"
    whole = make_jpeg()
    photo.write_bytes(whole[:20])
    cut.write_bytes(whole[:20])
    scanner.scan()
    ticks.t += 5  # the writer pauses 5 s: the file is quiet but not whole
    later = scanner.scan()
    assert later.ready == [] and later.incomplete == [] and later.recheck_in is not None
    photo.write_bytes(whole)  # the rest arrives
    os.utime(photo, ns=(2 * 10**9, 2 * 10**9))
    scanner.scan()
    ticks.t += 2
    assert scanner.scan().ready == [(photo, "background_removal")]
    scanner.taken(photo)
    ticks.t += 60
    assert scanner.scan().incomplete == [(cut, "background_removal")]
    assert intake.set_aside(cut, "not whole").quarantined_to == quarantine / "cut.jpg"


def test_a_photo_with_data_after_its_end_marker_is_whole(intake, folders):
    """Issue 10 #10 (limit found after the fix): cameras append previews or maker notes after
    EOI/IEND; such a file is whole and must be sent, not quarantined as never finished. A file
    cut inside its scan data still waits."""
    hot, _, _ = folders
    ticks = Ticks()
    scanner = HotFolderScanner(hot, rules(), quiet_seconds=2.0, incomplete_seconds=60.0,
                               monotonic=ticks)
    jpeg, png, cut = hot / "trailer.jpg", hot / "trailer.png", hot / "cut.jpg"
    whole = make_jpeg()
    jpeg.write_bytes(whole + b"MPF\x01" + bytes(range(1, 250)) * 4)
    png.write_bytes(make_png(8, 8) + b"camera notes" * 10)
    cut.write_bytes(whole[: len(whole) - 6])
    scanner.scan()
    ticks.t += 3
    ready = {path for path, _ in scanner.scan().ready}
    assert ready == {jpeg, png}
    ticks.t += 60
    assert [path for path, _ in scanner.scan().incomplete] == [cut]
