"""The folder side of the file-drop source: listing, claiming, finishing.

Plain blocking file system calls, run by :mod:`esb.sources.files` in
threads. A file moves through the folder in renames that never replace
anything (``renameat2`` with ``RENAME_NOREPLACE``), held under an exclusive
``flock`` from the moment it is claimed until it has left ``work/``::

    inbox/NAME  --claim-->  work/NAME  --finish-->  done/NAME
                                                or  error/NAME + NAME.reason

:class:`Completeness` decides which files in the inbox are completely
written; it is given the time, so it is tested without a clock.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import fnmatch
import os
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IDelayedCall

WORK, DONE, ERROR = "work", "done", "error"
REASON_SUFFIX = ".reason"


@dataclass(frozen=True, slots=True)
class Sighting:
    """One file seen in the inbox: its size and time, and its marker."""

    name: str
    size: int
    mtime_ns: int
    marked: bool = False


@dataclass(eq=False)
class Claim:
    """A file this process holds: in ``work/``, locked, read.

    ``data`` is None when the file is larger than the broker takes.
    """

    name: str
    path: Path
    fd: int
    size: int
    data: bytes | None
    recovered: bool = False
    attempts: int = 0
    retry: IDelayedCall | None = field(default=None, repr=False)

    def release(self) -> None:
        """Close the file, and so give up the lock on it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Inbox:
    """The folder's side of a file source: listing, claiming, finishing.

    Plain blocking file system calls, to run in a thread; each method stands
    on its own, so several threads (and processes) may use one folder.
    """

    def __init__(
        self, folder: Path, pattern: str = "*", marker: str | None = None
    ) -> None:
        self.folder = folder
        self.pattern = pattern
        self.marker = marker
        self.work = folder / WORK
        self.done_folder = folder / DONE
        self.error_folder = folder / ERROR

    def prepare(self) -> None:
        """Create the folder and its work/, done/ and error/ folders."""
        for folder in (self.work, self.done_folder, self.error_folder):
            folder.mkdir(parents=True, exist_ok=True)

    def look(self) -> list[Sighting]:
        """The files in the inbox that may be messages, with their markers.

        A marker whose file is gone is left over from a claim (the claimer
        died before removing it) and is removed: the file it announced was
        written before it, so it can no longer be on its way.
        """
        files: dict[str, os.stat_result] = {}
        markers: set[str] = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                if self.marker and name.endswith(self.marker):
                    markers.add(name[: -len(self.marker)])
                    continue
                if fnmatch.fnmatchcase(name, self.pattern):
                    try:
                        files[name] = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # claimed (by us or another) while listing
        for name in markers - set(files):
            if not os.path.lexists(self.folder / name):
                _unlink(self.folder / (name + (self.marker or "")))
        return [
            Sighting(name, stat.st_size, stat.st_mtime_ns, name in markers)
            for name, stat in sorted(files.items())
        ]

    def claim(self, name: str, max_bytes: int) -> Claim | None:
        """Take the inbox file ``name`` into work/; None if another took it."""
        source = self.folder / name
        fd = _open_locked(source)
        if fd is None:
            return None
        try:
            target = _move_to_free_name(source, self.work, name)
            if self.marker:
                _unlink(self.folder / (name + self.marker))
            size, data = _read(fd, max_bytes)
        except BaseException:
            os.close(fd)
            raise
        return Claim(name, target, fd, size, data)

    def orphans(self, held: Collection[Path], max_bytes: int) -> list[Claim]:
        """The files in work/ that no living process holds, claimed.

        ``held`` are this process's own (locked by it too, but through
        another open file, which flock does not tell apart).
        """
        claims: list[Claim] = []
        with os.scandir(self.work) as entries:
            names = [
                entry.name
                for entry in entries
                if not entry.name.startswith(".")
                and entry.is_file(follow_symlinks=False)
            ]
        for name in sorted(names):
            path = self.work / name
            if path in held:
                continue
            fd = _open_locked(path)
            if fd is None:
                continue
            try:
                size, data = _read(fd, max_bytes)
            except BaseException:
                os.close(fd)
                raise
            claims.append(Claim(name, path, fd, size, data, recovered=True))
        return claims

    def finish_done(self, claim: Claim) -> Path:
        """Move a claimed file to done/; where it went."""
        return _move_to_free_name(claim.path, self.done_folder, claim.path.name)

    def finish_error(self, claim: Claim, reason: str) -> Path:
        """Move a claimed file to error/ with its reason beside it.

        The reason is written first, under the name the file will get, so a
        file in error/ always has its reason, even after a crash.
        """
        base = claim.path.name
        temporary = self.error_folder / f".{base}.{secrets.token_hex(4)}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(reason)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            for candidate in _candidates(base):
                try:
                    move_new(temporary, self.error_folder / (candidate + REASON_SUFFIX))
                except FileExistsError:
                    continue
                target = self.error_folder / candidate
                move_new(claim.path, target)
                return target
        finally:
            _unlink(temporary)
        raise AssertionError("unreachable: candidates never end")


def _open_locked(path: Path) -> int | None:
    """``path`` opened and exclusively locked, if it is still there under
    that name and nobody else holds it; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link: never taken
            return None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The name may have moved on between open and lock (the holder
        # finished with it and let go): only the file still at the name is
        # ours to take.
        now = os.stat(path, follow_symlinks=False)
        held = os.fstat(fd)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
        os.close(fd)
        return None
    return fd


def _read(fd: int, max_bytes: int) -> tuple[int, bytes | None]:
    """The file's size, and its bytes unless it has more than ``max_bytes``."""
    size = os.fstat(fd).st_size
    if size > max_bytes:
        return size, None
    chunks = []
    total = 0
    while total <= max_bytes:
        chunk = os.pread(fd, 1024 * 1024, total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        return total, None
    return total, b"".join(chunks)


def _candidates(name: str) -> Iterable[str]:
    """``name``, then ``name`` with random characters before its extension."""
    yield name
    stem, dot, extension = name.rpartition(".")
    while True:
        token = secrets.token_hex(4)
        yield f"{stem}.{token}.{extension}" if dot and stem else f"{name}.{token}"


def _move_to_free_name(source: Path, folder: Path, name: str) -> Path:
    for candidate in _candidates(name):
        target = folder / candidate
        try:
            move_new(source, target)
        except FileExistsError:
            continue
        return target
    raise AssertionError("unreachable: candidates never end")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# renameat2(2) with RENAME_NOREPLACE renames only if the target does not
# exist, in one step; os.rename would silently replace it.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
try:
    _renameat2: Any = ctypes.CDLL(None, use_errno=True).renameat2
except (AttributeError, OSError):  # not Linux, or a C library without it
    _renameat2 = None


def move_new(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; FileExistsError if ``target`` exists."""
    if _renameat2 is not None:
        result = _renameat2(
            _AT_FDCWD,
            os.fsencode(source),
            _AT_FDCWD,
            os.fsencode(target),
            _RENAME_NOREPLACE,
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    # A file system without RENAME_NOREPLACE: check, then rename. Two brokers
    # finishing two files of one name in the same instant could then keep
    # only one of them in done/; their messages are journaled either way.
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "File exists", str(target))
    os.rename(source, target)


# -- completeness ---------------------------------------------------------------


class Completeness:
    """Decides which files in the inbox are completely written.

    With a marker, a file is complete once its marker is there. Without, it
    is complete once its size and modification time have stayed the same
    for ``stable_seconds`` as seen by this process: a file still being
    written grows (and its time moves), one that is done does not.
    """

    def __init__(self, stable_seconds: float, *, marker: bool = False) -> None:
        self.stable_seconds = stable_seconds
        self.marker = marker
        self._since: dict[str, tuple[int, int, float]] = {}

    def complete(self, sightings: Iterable[Sighting], now: float) -> list[str]:
        """The names of the complete files among ``sightings``, seen at ``now``."""
        if self.marker:
            return [seen.name for seen in sightings if seen.marked]
        complete: list[str] = []
        since: dict[str, tuple[int, int, float]] = {}
        for seen in sightings:
            before = self._since.get(seen.name)
            if before is None or before[:2] != (seen.size, seen.mtime_ns):
                since[seen.name] = (seen.size, seen.mtime_ns, now)
            else:
                since[seen.name] = before
            if now - since[seen.name][2] >= self.stable_seconds:
                complete.append(seen.name)
        # Names no longer seen are forgotten, so a new file of an old name
        # starts afresh.
        self._since = since
        return complete
