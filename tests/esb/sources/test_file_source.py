"""The file-drop source inside a running broker service: files in, answers out.

Each test starts an in-process :class:`~esb.app.BrokerService` whose routes
file declares a file source and publishes what it reads to a file
destination (the outbox), and then watches the folders as an operator
would.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from esb.sources.files import FileSource
from esb.sources.folder import DONE, ERROR, WORK
from tests.esb.sources.conftest import Service, kennisgeving, referentienummer_of
from tests.esb.sources.reactor_thread import in_reactor, wait_for

MakeService = Callable[[str], Service]


def routes(inbox: Path, outbox: Path, *, match: str = "", extra: str = "") -> str:
    return f"""
        sources:
          inbox:
            type: file
            path: {inbox}
            stable_seconds: 0
            poll_seconds: 0.05
            retry_seconds: 0.05
            {extra}
        routes:
          - id: inbox
            from: file:inbox
            {match}
            publish: [outbox]
        destinations:
          outbox:
            type: file
            path: {outbox}
            name: "{{referentienummer}}.xml"
        """


def drop(inbox: Path, name: str, data: bytes) -> Path:
    """Write a file the way a careful producer does: a dot-file, renamed."""
    inbox.mkdir(parents=True, exist_ok=True)
    temporary = inbox / f".{name}.part"
    temporary.write_bytes(data)
    temporary.rename(inbox / name)
    return inbox / name


def names(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {path.name for path in folder.iterdir() if not path.name.startswith(".")}


def test_a_dropped_kennisgeving_is_published_and_moved_to_done(
    service: MakeService, tmp_path: Path
) -> None:
    """A complete file goes the whole message path: journaled, published to
    the outbox, and the file itself to done/."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox))
    running.start()

    drop(inbox, "zaak-1.xml", kennisgeving("ref-file-1"))

    wait_for(lambda: names(inbox / DONE) == {"zaak-1.xml"}, what="zaak-1 in done/")
    wait_for(lambda: names(outbox) == {"ref-file-1.xml"}, what="the outbox file")
    assert names(inbox) == {WORK, DONE, ERROR}
    assert names(inbox / WORK) == set()
    assert referentienummer_of((outbox / "ref-file-1.xml").read_bytes()) == "ref-file-1"


def test_a_broken_file_goes_to_error_with_a_reason_naming_the_fault(
    service: MakeService, tmp_path: Path
) -> None:
    """A file that is not XML is refused (StUF055, plek client): it lands in
    error/ with NAME.reason giving the code, omschrijving and details."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox))
    running.start()

    drop(inbox, "kapot.xml", b"<zakLk01><stuurgegevens>")

    wait_for(lambda: (inbox / ERROR / "kapot.xml.reason").exists(), what="a reason")
    assert names(inbox / ERROR) == {"kapot.xml", "kapot.xml.reason"}
    reason = (inbox / ERROR / "kapot.xml.reason").read_text()
    assert "file: kapot.xml" in reason
    assert "source: file:inbox" in reason
    assert "code: StUF055" in reason
    assert "plek: client" in reason
    assert "omschrijving: Bericht is geen welgevormde XML" in reason
    assert "details:" in reason and "regel 1" in reason
    assert (inbox / ERROR / "kapot.xml").read_bytes() == b"<zakLk01><stuurgegevens>"
    assert names(outbox) == set()


def test_a_file_left_in_work_by_a_dead_process_is_taken_again_at_start(
    service: MakeService, tmp_path: Path
) -> None:
    """A file in work/ that no process holds is what a crash left behind:
    it is processed at start-up like any other."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / WORK).mkdir(parents=True)
    (inbox / WORK / "half.xml").write_bytes(kennisgeving("ref-crashed"))
    running = service(routes(inbox, outbox))
    running.start()

    wait_for(lambda: names(inbox / DONE) == {"half.xml"}, what="half.xml in done/")
    wait_for(lambda: names(outbox) == {"ref-crashed.xml"}, what="the outbox file")
    assert names(inbox / WORK) == set()


def test_a_file_another_process_holds_in_work_is_left_alone(
    service: MakeService, tmp_path: Path
) -> None:
    """A file in work/ locked by a living process is that process's; this
    broker takes it only once the lock is gone."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / WORK).mkdir(parents=True)
    held = inbox / WORK / "busy.xml"
    held.write_bytes(kennisgeving("ref-busy"))
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        running = service(routes(inbox, outbox))
        running.start()
        drop(inbox, "other.xml", kennisgeving("ref-other"))
        wait_for(lambda: names(inbox / DONE) == {"other.xml"}, what="other.xml")
        assert names(inbox / WORK) == {"busy.xml"}
    finally:
        os.close(fd)

    source = running.source("file:inbox")
    assert isinstance(source, FileSource)
    source.recover_seconds = 0.0  # look in work/ again at the next poll
    wait_for(lambda: "busy.xml" in names(inbox / DONE), what="busy.xml in done/")
    wait_for(
        lambda: names(outbox) == {"ref-other.xml", "ref-busy.xml"},
        what="both outbox files",
    )


def test_a_repeated_file_is_answered_from_the_journal_and_not_published_again(
    service: MakeService, tmp_path: Path
) -> None:
    """The same message dropped twice (as a restart after a crash would feed
    it again) goes to done/ twice but reaches the outbox once."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox))
    running.start()

    drop(inbox, "a.xml", kennisgeving("ref-twice"))
    wait_for(lambda: names(inbox / DONE) == {"a.xml"}, what="a.xml in done/")
    wait_for(lambda: names(outbox) == {"ref-twice.xml"}, what="the outbox file")
    os.remove(outbox / "ref-twice.xml")
    drop(inbox, "a.xml", kennisgeving("ref-twice"))

    wait_for(lambda: len(names(inbox / DONE)) == 2, what="the second a.xml in done/")
    (again,) = names(inbox / DONE) - {"a.xml"}
    assert again.startswith("a.") and again.endswith(".xml"), "a new name, a.xml kept"
    in_reactor(running.service.sources.settled)
    assert names(outbox) == set(), "published a second time"


def test_a_fault_on_emos_side_is_retried_until_a_reload_fixes_the_routes(
    service: MakeService, tmp_path: Path
) -> None:
    """No route takes the message (StUF040, plek server): the file stays in
    work/ and is tried again; once the routes are fixed and reloaded, it is
    published and done."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(
        routes(inbox, outbox, match="match: {operation: geefZaakdetails}")
    )
    running.start()

    drop(inbox, "wacht.xml", kennisgeving("ref-wait"))
    source = running.source("file:inbox")
    assert isinstance(source, FileSource)
    wait_for(lambda: source.counts["retried"] >= 2, what="two retries")
    assert names(inbox / WORK) == {"wacht.xml"}
    assert names(inbox / ERROR) == set()

    running.write_routes(routes(inbox, outbox))
    running.reload()

    wait_for(lambda: names(inbox / DONE) == {"wacht.xml"}, what="wacht.xml in done/")
    # done/ means journaled; the outbox delivery follows on its own.
    wait_for(lambda: names(outbox) == {"ref-wait.xml"}, what="the outbox file")
    # The definition did not change, so the same source went on reading.
    assert running.source("file:inbox") is source


def test_a_file_larger_than_the_broker_takes_goes_to_error_unread(
    service: MakeService, tmp_path: Path
) -> None:
    """A file over max_body_bytes is refused without being read whole."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox)).with_max_bytes(1000)
    running.start()

    drop(inbox, "groot.xml", kennisgeving("ref-big") + b" " * 2000)

    wait_for(lambda: (inbox / ERROR / "groot.xml.reason").exists(), what="a reason")
    reason = (inbox / ERROR / "groot.xml.reason").read_text()
    assert "code: StUF055" in reason
    assert "groter dan de grens van 1000 bytes" in reason


def test_with_a_marker_only_marked_files_are_taken_and_the_marker_goes(
    service: MakeService, tmp_path: Path
) -> None:
    """marker: .ready — a file without NAME.ready waits; with it, it is taken
    and the marker removed."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox, extra="marker: .ready"))
    running.start()

    drop(inbox, "wacht.xml", kennisgeving("ref-unmarked"))
    drop(inbox, "klaar.xml", kennisgeving("ref-marked"))
    (inbox / "klaar.xml.ready").write_bytes(b"")

    wait_for(lambda: names(inbox / DONE) == {"klaar.xml"}, what="klaar.xml in done/")
    assert "wacht.xml" in names(inbox)
    assert "klaar.xml.ready" not in names(inbox)
    (inbox / "wacht.xml.ready").write_bytes(b"")
    wait_for(lambda: "wacht.xml" in names(inbox / DONE), what="wacht.xml in done/")


def test_reloading_with_another_path_moves_the_source(
    service: MakeService, tmp_path: Path
) -> None:
    """A changed source definition is stopped and started anew; files in the
    old folder stay where they are."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox))
    running.start()
    first = running.source("file:inbox")

    other = tmp_path / "other-inbox"
    running.write_routes(routes(other, outbox))
    running.reload()
    drop(inbox, "old.xml", kennisgeving("ref-old"))
    drop(other, "new.xml", kennisgeving("ref-new"))

    wait_for(lambda: names(other / DONE) == {"new.xml"}, what="new.xml in done/")
    assert running.source("file:inbox") is not first
    assert "old.xml" in names(inbox)


def test_status_describes_the_running_sources(
    service: MakeService, tmp_path: Path
) -> None:
    """/healthz's status names each source with what it has done."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    running = service(routes(inbox, outbox))
    running.start()
    drop(inbox, "a.xml", kennisgeving("ref-status"))
    wait_for(lambda: names(inbox / DONE) == {"a.xml"}, what="a.xml in done/")

    (described,) = in_reactor(running.service.status)["sources"]
    assert described["source"] == "file:inbox"
    assert described["done"] == 1 and described["error"] == 0
