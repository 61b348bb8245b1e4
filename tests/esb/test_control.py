"""End to end: an operator running the broker from the shell.

``emo start``, ``status``, ``reload``, ``stop``, ``run`` and ``routes check``
run as processes, the way an operator types them, against configuration and
data folders of their own. The daemons here load no schemas, so they start in
a fraction of a second; every daemon a test starts is stopped by the test (or
killed by its pid, should the stop fail).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.esb.conftest import (
    EMO,
    ZKN_ACTION,
    HeldBackoffice,
    emo_environment,
    write_config,
)

DI02 = (EXAMPLES / "error-handling" / "01_Valid_SoapMessage.request.xml").read_bytes()
DI02_ACTION = f'"{ZKN_ACTION}genereerZaakIdentificatie_Di02"'
STARTED = re.compile(
    r"EMO started \(pid (\d+)\), listening on http://127\.0\.0\.1:(\d+)/"
)
# How long to wait for a daemon to do what it logs (start, stop, reload).
WAIT = 30.0


def emo(*words: str | Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``.venv/bin/emo`` with ``words`` and capture what it says."""
    return subprocess.run(
        [str(EMO), *map(str, words)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=emo_environment(),
        cwd=ROOT,
        check=False,
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"waited {timeout:.0f} s for {what}")


@dataclass
class Daemon:
    """A broker started with ``emo start``, and its folders."""

    config: Path
    data: Path
    start: subprocess.CompletedProcess[str] | None = None
    pid: int = 0
    port: int = 0

    @property
    def folders(self) -> tuple[str, ...]:
        return ("--config", str(self.config), "--data", str(self.data))

    @property
    def log(self) -> str:
        try:
            return (self.data / "emo.log").read_text(errors="replace")
        except OSError:
            return ""

    def launch(self, *extra: str) -> subprocess.CompletedProcess[str]:
        started = emo("start", *self.folders, "--port", "0", *extra)
        self.start = started
        found = STARTED.search(started.stdout)
        if started.returncode == 0 and found:
            self.pid, self.port = int(found[1]), int(found[2])
        return started

    def get(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def health(self) -> dict[str, object]:
        status, body = self.get("/healthz")
        assert status == 200
        health: dict[str, object] = json.loads(body)
        return health

    def kill(self) -> None:
        """The last resort of a teardown: SIGKILL to this daemon's pid only."""
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
            wait_for(lambda: not alive(self.pid), f"pid {self.pid} to die")


def new_daemon(base: Path, **settings: object) -> Daemon:
    config = write_config(base / "config", **settings)
    return Daemon(config=config, data=base / "data")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """Folders for one daemon; whatever runs there is stopped afterwards."""
    running = new_daemon(tmp_path)
    yield running
    if running.pid and alive(running.pid):
        emo("stop", *running.folders, "--timeout", "20")
        running.kill()


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon started with ``emo start`` for the tests that only look."""
    running = new_daemon(tmp_path_factory.mktemp("started"))
    result = running.launch()
    assert result.returncode == 0, result.stdout + result.stderr + running.log
    yield running
    emo("stop", *running.folders, "--timeout", "20")
    running.kill()


# start, status, reload ---------------------------------------------------------


def test_start_detaches_and_prints_pid_and_port(started: Daemon) -> None:
    """``emo start`` returns 0 once the broker listens, saying its pid and
    URL; the broker runs on in a session of its own, with its pid file."""
    assert started.start is not None
    assert started.start.returncode == 0
    assert STARTED.search(started.start.stdout), started.start.stdout
    assert str(started.data / "emo.log") in started.start.stdout
    assert alive(started.pid)
    assert os.getsid(started.pid) == started.pid, "detached: a session of its own"
    assert (started.data / "emo.pid").read_text().strip() == str(started.pid)
    assert started.health()["pid"] == started.pid


def test_status_says_running_since_when_and_where(started: Daemon) -> None:
    """``emo status`` exits 0 and says the pid, the start time and the URL."""
    result = emo("status", *started.folders)
    assert result.returncode == 0, result.stdout
    assert re.search(
        rf"running \(pid {started.pid}\) since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d, "
        rf"on http://127\.0\.0\.1:{started.port}/",
        result.stdout,
    ), result.stdout


def test_second_start_is_refused(started: Daemon) -> None:
    """A second ``emo start`` with the same data folder exits 1 naming the
    running broker, and that broker keeps running."""
    result = emo("start", *started.folders, "--port", "0")
    assert result.returncode == 1
    assert f"already running (pid {started.pid})" in result.stdout
    assert alive(started.pid)
    assert (started.data / "emo.pid").read_text().strip() == str(started.pid)


def test_run_is_refused_while_a_daemon_runs(started: Daemon) -> None:
    """``emo run`` in the foreground refuses a data folder in use."""
    result = emo("run", *started.folders, "--port", "0", timeout=30)
    assert result.returncode == 1
    assert f"pid {started.pid}" in result.stdout


def test_reload_without_a_routes_file(started: Daemon) -> None:
    """``emo reload`` asks the running broker over its admin port; without a
    routes file there is nothing to refuse."""
    result = emo("reload", *started.folders)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "routes reloaded"


def routes_to(url: str) -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        validation:
          default: "off"
        routes:
          - id: alles
            from: soap:/stuf/zds
            reply: achterkant
        destinations:
          achterkant:
            type: http
            url: {url}
            timeout: 30
        """
    )


BROKEN_ROUTES = textwrap.dedent(
    """\
    version: 1
    validation:
      default: strikt
    routes:
      - id: zds
        from: soap:/stuf/zds
        match:
          berichtcode: Lk99
        reply: nergens
    destinations:
      zaakregister:
        type: zaakregister
        timeout: -3
    """
)
# (line, column, what the message says) for every problem in BROKEN_ROUTES.
BROKEN_PROBLEMS = [
    (3, 12, "unknown validation mode 'strikt'"),
    (8, 20, "unknown berichtcode 'Lk99'"),
    (9, 12, "'nergens', which is not declared"),
    (13, 14, "timeout must be more than 0"),
]


def test_reload_with_a_broken_routes_file_is_refused_and_routes_stay(
    started: Daemon,
) -> None:
    """A broken routes file makes ``emo reload`` exit 1 with every problem
    and its line; the broker keeps the routes it had and keeps serving. A
    corrected file then reloads."""
    routes = started.config / "routes.yaml"
    routes.write_text(BROKEN_ROUTES)
    try:
        result = emo("reload", *started.folders)
        assert result.returncode == 1, result.stdout
        assert "reload refused" in result.stdout
        for line, column, text in BROKEN_PROBLEMS:
            assert re.search(
                rf":{line}:{column}: .*{re.escape(text)}", result.stdout
            ), (
                line,
                result.stdout,
            )
        assert started.health()["last_reload"] == {
            "ok": False,
            "text": result.stdout.strip(),
        }

        routes.write_text(routes_to("http://127.0.0.1:9/"))
        result = emo("reload", *started.folders)
        assert result.returncode == 0, result.stdout
        assert result.stdout.strip() == "routes reloaded"
    finally:
        routes.unlink(missing_ok=True)
        emo("reload", *started.folders)


def last_reload_ok(daemon: Daemon) -> object:
    """What /healthz says of the last reload: True, False, or None (none yet)."""
    last = daemon.health().get("last_reload")
    return last.get("ok") if isinstance(last, dict) else None


def test_sighup_reloads_routes(started: Daemon) -> None:
    """SIGHUP does what ``emo reload`` does; /healthz tells the outcome."""
    routes = started.config / "routes.yaml"
    routes.write_text(BROKEN_ROUTES)
    try:
        os.kill(started.pid, signal.SIGHUP)
        wait_for(
            lambda: last_reload_ok(started) is False,
            "the refused reload to show in /healthz",
        )
    finally:
        routes.unlink(missing_ok=True)
        os.kill(started.pid, signal.SIGHUP)
        wait_for(
            lambda: last_reload_ok(started) is True,
            "the reload without routes",
        )


# stop ---------------------------------------------------------------------------


def test_stop_ends_the_broker_and_removes_its_files(daemon: Daemon) -> None:
    """``emo stop`` exits 0 once the broker has ended; its pid and state files
    are gone, and ``emo status`` then says "not running" with exit 3."""
    assert daemon.launch().returncode == 0
    result = emo("stop", *daemon.folders)
    assert result.returncode == 0, result.stdout + daemon.log
    assert f"EMO stopped (pid {daemon.pid})" in result.stdout
    assert not alive(daemon.pid)
    assert not (daemon.data / "emo.pid").exists()
    assert not (daemon.data / "emo.state.json").exists()
    assert "Stopped" in daemon.log

    status = emo("status", *daemon.folders)
    assert status.returncode == 3
    assert "not running" in status.stdout


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_pid_file_is_reported_and_removed(daemon: Daemon) -> None:
    """A pid file naming a dead process: ``emo status`` exits 1 and says the
    pid file is stale; ``emo stop`` removes it and exits 0."""
    daemon.data.mkdir(parents=True)
    pid = dead_pid()
    (daemon.data / "emo.pid").write_text(f"{pid}\n")

    status = emo("status", *daemon.folders)
    assert status.returncode == 1
    assert f"stale pid file names pid {pid}" in status.stdout

    stop = emo("stop", *daemon.folders)
    assert stop.returncode == 0
    assert "removed the stale pid file" in stop.stdout
    assert not (daemon.data / "emo.pid").exists()
    assert emo("status", *daemon.folders).returncode == 3


def test_start_over_a_stale_pid_file(daemon: Daemon) -> None:
    """A stale pid file does not keep ``emo start`` from starting."""
    daemon.data.mkdir(parents=True)
    (daemon.data / "emo.pid").write_text(f"{dead_pid()}\n")
    result = daemon.launch()
    assert result.returncode == 0, result.stdout + daemon.log
    assert (daemon.data / "emo.pid").read_text().strip() == str(daemon.pid)


# Start-up failures ------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_start_on_a_port_in_use_fails_naming_the_port(
    daemon: Daemon, busy_port: int
) -> None:
    """``emo start`` on a port another program holds exits 1, and what it
    prints names the port; no pid file is left behind."""
    result = emo("start", *daemon.folders, "--port", str(busy_port))
    assert result.returncode == 1, result.stdout
    assert "did not start" in result.stdout
    assert f"127.0.0.1:{busy_port}" in result.stdout
    assert not (daemon.data / "emo.pid").exists()


def test_run_on_a_port_in_use_exits_2_naming_the_port(
    daemon: Daemon, busy_port: int
) -> None:
    """``emo run`` on a port in use exits 2 and logs why, naming the port."""
    result = emo("run", *daemon.folders, "--port", str(busy_port), timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("port: [8470\n", "cannot be read", id="yaml-syntax"),
        pytest.param("prot: 8470\n", "unknown setting(s) prot", id="unknown-key"),
        pytest.param(
            "max_body_bytes: veel\n", "'max_body_bytes' must be", id="bad-value"
        ),
        pytest.param("port: -1\n", "'port' must be", id="negative-port"),
        pytest.param("system:\n  organisatie: '1900'\n", "'system' needs", id="system"),
        pytest.param("- 1\n- 2\n", "mapping of settings", id="not-a-mapping"),
    ],
)
def test_run_with_a_broken_emo_yaml_exits_2_saying_why(
    tmp_path: Path, text: str, says: str
) -> None:
    """A broken emo.yaml stops ``emo run`` (and ``emo start``) with exit 2
    and one line naming the file and what is wrong."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "emo.yaml").write_text(text)
    folders = ("--config", str(config), "--data", str(tmp_path / "data"))
    for command in ("run", "start"):
        result = emo(command, *folders, "--port", "0", timeout=60)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.startswith("emo: "), result.stderr
        assert str(config / "emo.yaml") in result.stderr
        assert says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr + result.stdout


# routes check --------------------------------------------------------------------


def test_routes_check_lists_every_error_with_its_line(tmp_path: Path) -> None:
    """``emo routes check FILE`` on a broken file exits 1, printing each
    problem as file:line:column: message, and a count."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(BROKEN_ROUTES)
    result = emo("routes", "check", routes)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for line, column, text in BROKEN_PROBLEMS:
        assert any(
            entry.startswith(f"{routes}:{line}:{column}: ") and text in entry
            for entry in lines
        ), (line, result.stdout)
    assert lines[-1] == f"{routes}: {len(BROKEN_PROBLEMS)} problem(s)"


def test_routes_check_points_at_a_yaml_syntax_error(tmp_path: Path) -> None:
    """A file that is not YAML at all: exit 1 and the line where it breaks."""
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nroutes:\n  - id: zds\n    from: [soap:/stuf/zds\n")
    result = emo("routes", "check", routes)
    assert result.returncode == 1
    assert re.search(rf"{re.escape(str(routes))}:\d+:\d+: ", result.stdout), (
        result.stdout
    )


def test_routes_check_accepts_the_default_routes() -> None:
    """The routes file shipped in config/ passes the check."""
    result = emo("routes", "check", ROOT / "config" / "routes.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


# Graceful stop ---------------------------------------------------------------------


class Answered(threading.Thread):
    """Sends one request in a thread and keeps what came back."""

    def __init__(self, send: Callable[[], tuple[int, bytes]]) -> None:
        super().__init__(daemon=True)
        self._send = send
        self.result: tuple[int, bytes] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._send()
        except BaseException as exc:  # reported by the test
            self.error = exc


def begin_stop(daemon: Daemon) -> subprocess.Popen[str]:
    """``emo stop`` in the background, returned once the broker says it stops."""
    stopping = subprocess.Popen(
        [str(EMO), "stop", *daemon.folders],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=emo_environment(),
    )
    wait_for(lambda: "Stopping" in daemon.log, "the broker to begin stopping")
    return stopping


@pytest.mark.slow
def test_stop_lets_a_message_waiting_for_its_destination_finish(
    daemon: Daemon, held_backoffice: HeldBackoffice
) -> None:
    """``emo stop`` while a message waits for its destination's answer: the
    broker takes no new connections but the sender still gets the answer."""
    (daemon.config / "routes.yaml").write_text(routes_to(held_backoffice.url))
    assert daemon.launch().returncode == 0, daemon.log

    def send() -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
        connection.request(
            "POST",
            "/stuf/zds",
            DI02,
            {"Content-Type": "text/xml", "SOAPAction": DI02_ACTION},
        )
        answer = connection.getresponse()
        return answer.status, answer.read()

    sender = Answered(send)
    sender.start()
    assert held_backoffice.arrived.wait(WAIT), daemon.log
    stopping = begin_stop(daemon)
    held_backoffice.let_go.set()

    sender.join(WAIT)
    stopped, _ = stopping.communicate(timeout=WAIT)
    assert sender.error is None, f"{sender.error!r}\n{daemon.log}"
    assert sender.result == (200, HeldBackoffice.answer)
    assert stopping.returncode == 0, stopped
    assert not alive(daemon.pid)


@pytest.mark.slow
def test_stop_lets_a_request_still_uploading_finish(daemon: Daemon) -> None:
    """``emo stop`` while a sender is still uploading its request: the broker
    reads the rest, answers it completely, and only then ends."""
    assert daemon.launch().returncode == 0, daemon.log
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
    connection.putrequest("POST", "/stuf/zds")
    connection.putheader("Content-Type", "text/xml")
    connection.putheader("SOAPAction", DI02_ACTION)
    connection.putheader("Content-Length", str(len(DI02)))
    connection.endheaders()
    half = len(DI02) // 2
    connection.send(DI02[:half])
    # The broker has the headers and half the body when the stop begins.
    wait_for(lambda: _connected(daemon.pid), "the broker to hold the connection")

    stopping = begin_stop(daemon)
    try:
        connection.send(DI02[half:])
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
    except (OSError, http.client.HTTPException) as exc:
        stopping.communicate(timeout=WAIT)
        pytest.fail(
            f"the request in flight was cut off by the stop: {exc!r}\n{daemon.log}"
        )
    finally:
        connection.close()
    stopped, _ = stopping.communicate(timeout=WAIT)
    assert status == 500, body
    assert b"StUF040" in body, "the complete answer: no route for it"
    assert body.rstrip().endswith(b"Envelope>")
    assert stopping.returncode == 0, stopped


def _connected(pid: int) -> bool:
    """Whether the process holds an established TCP connection (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
                return True
    return False
