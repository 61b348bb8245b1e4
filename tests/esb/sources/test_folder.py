"""The folder side of the file source: completeness, claiming, finishing.

These are the blocking file system steps the source runs in threads; here
they run directly, on real folders, with time given explicitly.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from esb.sources.folder import (
    DONE,
    ERROR,
    WORK,
    Completeness,
    Inbox,
    Sighting,
    move_new,
)

MAX = 1024 * 1024


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    folder = Inbox(tmp_path / "inbox")
    folder.prepare()
    return folder


def seen(name: str, size: int, mtime: int = 1, marked: bool = False) -> Sighting:
    return Sighting(name, size, mtime, marked)


# Completeness -----------------------------------------------------------------


def test_a_file_is_complete_once_unchanged_for_stable_seconds() -> None:
    """Size and time the same for stable_seconds: complete; not before."""
    completeness = Completeness(2.0)

    assert completeness.complete([seen("a.xml", 10)], now=100.0) == []
    assert completeness.complete([seen("a.xml", 10)], now=101.9) == []
    assert completeness.complete([seen("a.xml", 10)], now=102.0) == ["a.xml"]


def test_a_file_that_grows_starts_its_wait_again() -> None:
    """A change of size (or time) means it is still being written."""
    completeness = Completeness(1.0)

    completeness.complete([seen("a.xml", 10)], now=0.0)
    assert completeness.complete([seen("a.xml", 20)], now=1.5) == []
    assert completeness.complete([seen("a.xml", 20, mtime=2)], now=2.4) == []
    assert completeness.complete([seen("a.xml", 20, mtime=2)], now=3.4) == ["a.xml"]


def test_a_file_that_disappears_and_returns_is_watched_afresh() -> None:
    """A name gone from the folder is forgotten; a new file of that name
    waits its own stable_seconds."""
    completeness = Completeness(1.0)

    completeness.complete([seen("a.xml", 10)], now=0.0)
    completeness.complete([], now=0.5)
    assert completeness.complete([seen("a.xml", 10)], now=1.2) == []
    assert completeness.complete([seen("a.xml", 10)], now=2.2) == ["a.xml"]


def test_with_stable_seconds_zero_a_file_is_complete_when_first_seen() -> None:
    """For producers that rename finished files into the inbox."""
    assert Completeness(0.0).complete([seen("a.xml", 1)], now=5.0) == ["a.xml"]


def test_with_a_marker_only_marked_files_are_complete() -> None:
    """marker mode ignores time: the marker alone says a file is done."""
    completeness = Completeness(60.0, marker=True)
    sightings = [seen("a.xml", 1, marked=True), seen("b.xml", 1, marked=False)]

    assert completeness.complete(sightings, now=0.0) == ["a.xml"]


# Looking ----------------------------------------------------------------------


def test_look_skips_dot_files_folders_links_and_other_patterns(tmp_path: Path) -> None:
    """Only regular, visible files matching the pattern are candidates."""
    folder = Inbox(tmp_path / "inbox", pattern="*.xml")
    folder.prepare()
    (folder.folder / "a.xml").write_bytes(b"12345")
    (folder.folder / ".b.xml").write_bytes(b"half")
    (folder.folder / "c.txt").write_bytes(b"note")
    (folder.folder / "sub.xml").mkdir()
    (folder.folder / "link.xml").symlink_to(folder.folder / "a.xml")

    (found,) = folder.look()

    assert found.name == "a.xml" and found.size == 5 and not found.marked


def test_look_reports_markers_and_removes_those_left_over(tmp_path: Path) -> None:
    """NAME.ready marks NAME; a marker whose file is gone is removed."""
    folder = Inbox(tmp_path / "inbox", marker=".ready")
    folder.prepare()
    (folder.folder / "a.xml").write_bytes(b"a")
    (folder.folder / "a.xml.ready").write_bytes(b"")
    (folder.folder / "b.xml").write_bytes(b"b")
    (folder.folder / "gone.xml.ready").write_bytes(b"")

    found = {sighting.name: sighting.marked for sighting in folder.look()}

    assert found == {"a.xml": True, "b.xml": False}
    assert not (folder.folder / "gone.xml.ready").exists()


# Claiming -----------------------------------------------------------------------


def test_a_claim_moves_the_file_to_work_and_holds_it(inbox: Inbox) -> None:
    """The claimed file is in work/, read, and locked against others."""
    (inbox.folder / "a.xml").write_bytes(b"<a/>")

    claim = inbox.claim("a.xml", MAX)

    assert claim is not None
    assert claim.path == inbox.work / "a.xml" and claim.data == b"<a/>"
    assert not (inbox.folder / "a.xml").exists()
    other = os.open(claim.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
        claim.release()


def test_two_claimers_racing_take_each_file_exactly_once(tmp_path: Path) -> None:
    """Two brokers' claimers on one folder, all at once: every file is
    claimed by exactly one of them, and none is lost."""
    first, second = Inbox(tmp_path / "inbox"), Inbox(tmp_path / "inbox")
    first.prepare()
    names = [f"bericht-{number:04}.xml" for number in range(400)]
    for name in names:
        (first.folder / name).write_bytes(name.encode())
    taken: dict[str, list[str]] = {"first": [], "second": []}
    start = threading.Barrier(2)

    def claim_all(who: str, inbox: Inbox) -> None:
        start.wait()
        for name in names:
            claim = inbox.claim(name, MAX)
            if claim is not None:
                assert claim.data == name.encode()
                taken[who].append(claim.path.name)
                claim.release()

    threads = [
        threading.Thread(target=claim_all, args=("first", first)),
        threading.Thread(target=claim_all, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    both = taken["first"] + taken["second"]
    assert sorted(both) == names, "each file claimed once"
    assert sorted(os.listdir(first.work)) == names
    assert taken["first"] and taken["second"], "both claimers had a share"


def test_a_file_locked_by_another_claimer_is_not_claimed(inbox: Inbox) -> None:
    """Holding the lock is holding the file: a second claimer passes."""
    (inbox.folder / "a.xml").write_bytes(b"<a/>")
    holder = os.open(inbox.folder / "a.xml", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert inbox.claim("a.xml", MAX) is None
        assert (inbox.folder / "a.xml").exists()
    finally:
        os.close(holder)


def test_a_claim_of_a_file_already_gone_is_none(inbox: Inbox) -> None:
    """Another broker was quicker: nothing to claim, nothing raised."""
    assert inbox.claim("weg.xml", MAX) is None


def test_a_name_taken_in_work_gets_a_new_one(inbox: Inbox) -> None:
    """A file of the same name still in work/ is never overwritten."""
    (inbox.work / "a.xml").write_bytes(b"older")
    (inbox.folder / "a.xml").write_bytes(b"newer")

    claim = inbox.claim("a.xml", MAX)

    assert claim is not None and claim.path.name != "a.xml"
    assert claim.path.name.startswith("a.") and claim.path.suffix == ".xml"
    assert (inbox.work / "a.xml").read_bytes() == b"older"
    claim.release()


def test_a_file_larger_than_the_limit_is_claimed_but_not_read(inbox: Inbox) -> None:
    """Its size is known; its bytes are not loaded."""
    (inbox.folder / "big.xml").write_bytes(b"x" * 100)

    claim = inbox.claim("big.xml", 99)

    assert claim is not None and claim.data is None and claim.size == 100
    claim.release()


# Recovering ---------------------------------------------------------------------


def test_orphans_are_the_unlocked_files_in_work(inbox: Inbox) -> None:
    """A file in work/ without a lock is a dead process's: it is claimed; a
    locked one, and one this process holds, are not."""
    (inbox.work / "dead.xml").write_bytes(b"dead")
    (inbox.work / "alive.xml").write_bytes(b"alive")
    (inbox.work / "mine.xml").write_bytes(b"mine")
    holder = os.open(inbox.work / "alive.xml", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        claims = inbox.orphans({inbox.work / "mine.xml"}, MAX)
    finally:
        os.close(holder)

    assert [(claim.name, claim.data, claim.recovered) for claim in claims] == [
        ("dead.xml", b"dead", True)
    ]
    for claim in claims:
        claim.release()


# Finishing ------------------------------------------------------------------------


def test_done_moves_the_file_and_keeps_an_earlier_one_of_that_name(
    inbox: Inbox,
) -> None:
    """done/ never loses a file to a name clash."""
    (inbox.done_folder / "a.xml").write_bytes(b"earlier")
    (inbox.folder / "a.xml").write_bytes(b"later")
    claim = inbox.claim("a.xml", MAX)
    assert claim is not None

    target = inbox.finish_done(claim)
    claim.release()

    assert target.parent == inbox.done_folder and target.name != "a.xml"
    assert target.read_bytes() == b"later"
    assert (inbox.done_folder / "a.xml").read_bytes() == b"earlier"
    assert os.listdir(inbox.work) == []


def test_error_writes_the_reason_beside_the_file(inbox: Inbox) -> None:
    """error/NAME and error/NAME.reason, both under the same free name."""
    (inbox.error_folder / "a.xml").write_bytes(b"earlier")
    (inbox.error_folder / "a.xml.reason").write_text("earlier reason")
    (inbox.folder / "a.xml").write_bytes(b"broken")
    claim = inbox.claim("a.xml", MAX)
    assert claim is not None

    target = inbox.finish_error(claim, "code: StUF055\n")
    claim.release()

    assert target.read_bytes() == b"broken"
    assert (target.parent / (target.name + ".reason")).read_text() == "code: StUF055\n"
    assert (inbox.error_folder / "a.xml.reason").read_text() == "earlier reason"
    assert sorted(os.listdir(inbox.error_folder)) == sorted(
        ["a.xml", "a.xml.reason", target.name, target.name + ".reason"]
    )


def test_move_new_never_replaces_a_file(tmp_path: Path) -> None:
    """The rename refuses an existing target instead of overwriting it."""
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")

    with pytest.raises(FileExistsError):
        move_new(tmp_path / "a", tmp_path / "b")
    move_new(tmp_path / "a", tmp_path / "c")

    assert (tmp_path / "b").read_bytes() == b"b"
    assert (tmp_path / "c").read_bytes() == b"a"


def test_prepare_makes_work_done_and_error(tmp_path: Path) -> None:
    """The folders a file goes through exist once the source has started."""
    Inbox(tmp_path / "deep" / "inbox").prepare()

    assert sorted(os.listdir(tmp_path / "deep" / "inbox")) == sorted(
        [WORK, DONE, ERROR]
    )
