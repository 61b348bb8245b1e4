"""Operating a broker from the shell: start, stop, status and reload.

A running broker writes two files in its data folder: ``emo.pid`` and
``emo.state.json`` (pid, start time, port and the admin token, readable by its
owner only). These commands read them; they never guess a process by name.
Exit codes follow the LSB init-script conventions for ``status`` (0 running,
1 dead with a pid file left, 3 not running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from esb.config import Settings

STATUS_RUNNING = 0
STATUS_DEAD = 1
STATUS_STOPPED = 3


@dataclass(frozen=True, slots=True)
class RunState:
    pid: int
    started: float
    host: str
    port: int
    admin_token: str


def read_pid(settings: Settings) -> int | None:
    try:
        return int(settings.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def read_state(settings: Settings) -> RunState | None:
    try:
        data = json.loads(settings.state_file.read_text())
        return RunState(
            pid=int(data["pid"]),
            started=float(data["started"]),
            host=str(data["host"]),
            port=int(data["port"]),
            admin_token=str(data["admin_token"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_broker(pid: int) -> bool:
    """Whether ``pid`` is alive and is an EMO broker (not a recycled pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            return True
        text = b" ".join(words)
        return b"esb" in text or b"emo" in text
    return True


def running_pid(settings: Settings) -> int | None:
    pid = read_pid(settings)
    return pid if pid is not None and is_broker(pid) else None


def start(settings: Settings, run_args: list[str], wait: float = 60.0) -> int:
    """Start ``emo run`` detached; wait until it listens or fails."""
    pid = running_pid(settings)
    if pid is not None:
        print(f"EMO is already running (pid {pid}); 'emo stop' first.")
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "emo.log"
    with open(log_path, "ab") as log_file, open(os.devnull, "rb") as devnull:
        child = subprocess.Popen(
            [sys.executable, "-m", "esb.cli", "run", *run_args],
            stdin=devnull,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = read_state(settings)
        if state is not None and state.pid == child.pid:
            print(
                f"EMO started (pid {child.pid}), listening on "
                f"http://{state.host}:{state.port}/; log: {log_path}"
            )
            return 0
        code = child.poll()
        if code is not None:
            print(f"EMO did not start (exit code {code}). End of {log_path}:")
            print(_tail(log_path))
            return 1
        time.sleep(0.1)
    print(f"EMO (pid {child.pid}) did not report listening within {wait:.0f} s;")
    print(f"it is left running; see {log_path}")
    return 1


def stop(settings: Settings, timeout: float = 60.0) -> int:
    """Ask the broker to stop (SIGTERM) and wait until it has."""
    pid = read_pid(settings)
    if pid is None:
        print("EMO is not running (no pid file).")
        return 0
    if not is_broker(pid):
        settings.pid_file.unlink(missing_ok=True)
        settings.state_file.unlink(missing_ok=True)
        print(f"EMO is not running; removed the stale pid file (pid {pid}).")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_broker(pid) or _is_zombie(pid):
            print(f"EMO stopped (pid {pid}).")
            return 0
        time.sleep(0.1)
    print(
        f"EMO (pid {pid}) is still finishing after {timeout:.0f} s. Wait, or end "
        f"it with 'kill -9 {pid}' (acknowledged messages are in the journal)."
    )
    return 1


def _is_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] == "Z"


def status(settings: Settings) -> int:
    pid = read_pid(settings)
    if pid is None:
        print("EMO is not running.")
        return STATUS_STOPPED
    if not is_broker(pid):
        print(f"EMO is not running, but a stale pid file names pid {pid}.")
        return STATUS_DEAD
    state = read_state(settings)
    if state is None or state.pid != pid:
        print(f"EMO is starting (pid {pid}); not listening yet.")
        return STATUS_RUNNING
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started))
    print(
        f"EMO is running (pid {pid}) since {since}, "
        f"on http://{state.host}:{state.port}/"
    )
    return STATUS_RUNNING


def reload(settings: Settings) -> int:
    """Ask the running broker to reload its routes and print what it says.

    The broker answers once the new routes are in force, or refused; it
    serves messages meanwhile, while it reads the routes and their WSDLs.
    """
    state = read_state(settings)
    if state is None or not is_broker(state.pid):
        print("EMO is not running; nothing to reload.")
        return STATUS_STOPPED
    host = "127.0.0.1" if state.host in ("0.0.0.0", "") else state.host
    request = urllib.request.Request(
        f"http://{host}:{state.port}/admin/reload",
        data=b"",
        method="POST",
        headers={"X-EMO-Admin-Token": state.admin_token},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            print(response.read().decode().rstrip())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode().rstrip())
        return 1
    except OSError as exc:
        print(f"could not reach the broker on port {state.port}: {exc}")
        return 1


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
