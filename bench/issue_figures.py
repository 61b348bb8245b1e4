"""The figures of issues 3 and 5 in one run, with their references beside them.

Performance on a shared machine varies by a third from one quarter hour to
the next, so a figure means something only next to a reference measured in
the same run. This script starts everything itself, one after another, and
prints one table:

1. the broker with ``bench/forward-strict.yaml`` forwarding to ``bench/sink.py``
   (strict validation, SQLite journal): throughput at concurrency 32, and the
   latency at 500 messages per second (open loop); the sink's count shows
   that every accepted message was delivered;
2. ``bench/bare_twisted.py`` (parse and validate, nothing else) at concurrency
   32, and parse+validate in-process (``emo bench --ceiling``);
3. the general-purpose flow engine of the issue: Node-RED running
   ``bench/flow_engine/flows.json`` (parse and switch, no validation, no
   journal), when ``npm ci --prefix bench/flow_engine`` installed it;
4. creeerZaak into the zaakregister with the default ``config/`` (``emo bench
   --unique-zaak``), on SQLite and, given ``--postgres URL``, with both
   registers on PostgreSQL (in schemas it creates and drops).

Run from the project's root::

    .venv/bin/python bench/issue_figures.py --schemas ../shared/stuf/zds-1.2 \\
        [--seconds 60] [--postgres postgresql+psycopg://postgres@127.0.0.1/test]

It takes about five times ``--seconds`` plus start-up. The message is the
3 KB haarlem creeerZaak of the shared examples unless ``--message`` says
otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
EMO = Path(sys.executable).with_name("emo")
FLOW_ENGINE = ROOT / "bench" / "flow_engine"
NODE_RED = FLOW_ENGINE / "node_modules" / "node-red" / "red.js"
MESSAGE = (
    ROOT.parent / "shared" / "stuf" / "examples" / "haarlem" / "creeerzaakRequest.xml"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} ended with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers, if not with 200
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered at {url} within {seconds:g} s")


@contextmanager
def running(
    command: list[str],
    probe: str,
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up (``probe`` answers) until the block ends."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=log
    )
    try:
        wait_until_up(probe, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User and system time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(url: str, message: Path, *options: str) -> dict[str, Any]:
    """``emo bench --json`` against ``url``; its result."""
    done = subprocess.run(
        [
            str(EMO),
            "bench",
            "--url",
            url,
            "--message",
            str(message),
            "--json",
            *options,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"emo bench failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def closed_loop(url: str, message: Path, seconds: int, *extra: str) -> dict[str, Any]:
    return bench(
        url,
        message,
        "--concurrency",
        "32",
        "--duration",
        str(seconds),
        *extra,
    )


def forwarding(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    sink_port, broker_port = free_port(), free_port()
    sink = f"http://127.0.0.1:{sink_port}"
    url = f"http://127.0.0.1:{broker_port}/stuf/zds"
    with (
        tempfile.TemporaryDirectory() as data,
        running(
            [sys.executable, "bench/sink.py", "--port", str(sink_port)], f"{sink}/count"
        ),
        running(
            [
                str(EMO),
                "run",
                "--routes",
                "bench/forward-strict.yaml",
                *schemas(args),
                "--data",
                data,
                "--port",
                str(broker_port),
            ],
            f"http://127.0.0.1:{broker_port}/healthz",
            env={"FORWARD_URL": f"{sink}/stuf"},
        ) as broker,
    ):
        warm = closed_loop(url, args.message, 2)
        before = cpu_seconds(broker.pid)
        figures["forward"] = closed_loop(url, args.message, args.seconds)
        spent = cpu_seconds(broker.pid) - before
        figures["forward_cpu_us"] = spent / figures["forward"]["answered"] * 1e6
        time.sleep(2)  # the last deliveries reach the sink
        with urllib.request.urlopen(f"{sink}/count") as answer:
            figures["sink"] = json.loads(answer.read())
        figures["acknowledged"] = warm["answered"] + figures["forward"]["answered"]
        figures["forward_at_500"] = bench(
            url,
            args.message,
            *("--rate", "500", "--concurrency", "64", "--warmup", "2"),
            *("--duration", str(max(10, args.seconds // 2))),
        )


def references(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    port = free_port()
    with running(
        [sys.executable, "bench/bare_twisted.py", "--port", str(port), *schemas(args)],
        f"http://127.0.0.1:{port}/",
    ):
        figures["bare"] = closed_loop(
            f"http://127.0.0.1:{port}/stuf/zds",
            args.message,
            max(10, args.seconds // 2),
            *("--warmup", "2", "--ceiling", *schemas(args)),
        )


def flow_engine(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Node-RED with ``bench/flow_engine/flows.json``, if it is installed."""
    if not NODE_RED.exists():
        return
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as user_dir,
        running(
            [
                *("node", str(NODE_RED), "--userDir", user_dir),
                *("--port", str(port), str(FLOW_ENGINE / "flows.json")),
            ],
            f"http://127.0.0.1:{port}/",
        ),
    ):
        figures["flow_engine"] = closed_loop(
            f"http://127.0.0.1:{port}/stuf/zds",
            args.message,
            max(10, args.seconds // 2),
            *("--warmup", "2"),
        )


def creeer_zaak(
    args: argparse.Namespace, figures: dict[str, Any], key: str, env: Mapping[str, str]
) -> None:
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        running(
            [
                str(EMO),
                "run",
                "--config",
                str(ROOT / "config"),
                *schemas(args),
                "--data",
                "data",
                "--port",
                str(port),
            ],
            f"http://127.0.0.1:{port}/healthz",
            cwd=Path(folder),
            env=env,
        ),
    ):
        figures[key] = closed_loop(
            f"http://127.0.0.1:{port}/stuf/zds",
            args.message,
            args.seconds,
            *("--warmup", "2", "--unique-zaak"),
        )


@contextmanager
def postgres_schemas(url: str) -> Iterator[dict[str, str]]:
    """Two fresh schemas for the registers; their URLs; dropped afterwards."""
    engine = sa.create_engine(url)
    names = [f"bench_{part}_{uuid.uuid4().hex[:8]}" for part in ("zrg", "krg")]
    try:
        with engine.begin() as connection:
            for name in names:
                connection.exec_driver_sql(f"CREATE SCHEMA {name}")
        base = url + ("&" if "?" in url else "?") + "options=-csearch_path%3D"
        yield {
            "EMO_ZAAKREGISTER_URL": base + names[0],
            "EMO_KLANTREGISTER_URL": base + names[1],
        }
    finally:
        with engine.begin() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        engine.dispose()


def schemas(args: argparse.Namespace) -> list[str]:
    return [word for path in args.schemas for word in ("--schemas", str(path))]


def _p(result: Mapping[str, Any], which: str) -> str:
    return f"{which} {result['latency_ms'][which]:.1f} ms"


def table(figures: Mapping[str, Any]) -> str:
    """One row per figure: what, the result, the issue's target."""
    forward, at_500, bare = (
        figures["forward"],
        figures["forward_at_500"],
        figures["bare"],
    )
    per_second = forward["throughput"]
    ceiling = bare["ceiling"]["per_second"]
    sink = figures["sink"]["distinct"]
    rows = [
        (
            "forwarded, accepted and delivered (32 connections)",
            f"{per_second:,.0f}/s, {_p(forward, 'p99')}; {figures['acknowledged']:,} "
            f"acknowledged (with the warm-up), the sink saw {sink:,} distinct; "
            f"{figures['forward_cpu_us']:.0f} us CPU each",
            ">= 700/s",
        ),
        (
            "forwarded at 500/s (open loop)",
            f"{_p(at_500, 'p50')}, {_p(at_500, 'p99')}",
            "p99 < 50 ms",
        ),
        (
            "bare Twisted, parse + validate",
            f"{bare['throughput']:,.0f}/s: the broker does "
            f"{per_second / bare['throughput']:.2f} of it",
            "issue: about 1,200/s, so >= 0.58",
        ),
        (
            "parse + validate in-process",
            f"{ceiling:,.0f}/s: {ceiling / per_second:.1f} x the broker",
            "",
        ),
    ]
    flow = figures.get("flow_engine")
    rows.append(
        (
            "flow engine (Node-RED), parse + switch",
            "not measured: npm ci --prefix bench/flow_engine installs it"
            if flow is None
            else f"{flow['throughput']:,.0f}/s, {_p(flow, 'p99')}: the broker does "
            f"{per_second / flow['throughput']:.2f} of it",
            "issue: about 820/s, so >= 0.85",
        )
    )
    for key, label, target in (
        ("zaak_sqlite", "SQLite", ">= 400/s"),
        ("zaak_postgres", "PostgreSQL", "reported"),
    ):
        if key in figures:
            zaak = figures[key]
            ratio = zaak["throughput"] / bare["throughput"]
            versus_flow = ""
            if flow is not None:
                share = zaak["throughput"] / flow["throughput"]
                versus_flow = f", {share:.2f} of the flow engine"
            rows.append(
                (
                    f"creeerZaak into the registers, {label} (32 connections)",
                    f"{zaak['throughput']:,.0f}/s, {_p(zaak, 'p99')}, "
                    f"{zaak['outcomes']}; {ratio:.3f} of bare Twisted{versus_flow}",
                    target,
                )
            )
    width = max(len(row[0]) for row in rows)
    return "\n".join(
        f"{what:<{width}}  {result}  [{target}]" for what, result, target in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Absolute: the creeerZaak broker runs in a folder of its own.
    parser.add_argument(
        "--schemas",
        type=lambda path: Path(path).resolve(),
        action="append",
        required=True,
    )
    parser.add_argument(
        "--message", type=lambda path: Path(path).resolve(), default=MESSAGE
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL database")
    args = parser.parse_args()

    figures: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    forwarding(args, figures)
    references(args, figures)
    flow_engine(args, figures)
    creeer_zaak(args, figures, "zaak_sqlite", {})
    if args.postgres:
        with postgres_schemas(args.postgres) as env:
            creeer_zaak(args, figures, "zaak_postgres", env)
    load = os.getloadavg()[0]
    print(f"started {figures['started']}, load average {load:.1f} at the end")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
