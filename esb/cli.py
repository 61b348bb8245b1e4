"""``emo``: the command line of the broker.

emo run    [--config DIR] [--data DIR] [--port N] [--schemas DIR ...]
emo start  (the same options; runs detached, log in DATA/emo.log)
emo stop | status | reload   [--config DIR] [--data DIR]
emo routes check [FILE]
emo zaakzoeker account add NAME --rol ROL | list | disable NAME
emo zaakzoeker api-client add NAME [--vertrouwelijk] | list | revoke NAME
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from esb.config import Settings, load_settings
from esb.errors import EmoError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=Path("config"), help="configuration folder"
    )
    parser.add_argument("--data", type=Path, help="data folder (default ./var)")


def _serving(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--port", type=int, help="TCP port (default 8470)")
    parser.add_argument(
        "--schemas",
        type=Path,
        action="append",
        help="folder or zip of an official StUF schema distribution "
        "(repeat for several; overrides the configuration)",
    )
    parser.add_argument(
        "--routes", type=Path, help="routes file (default CONFIG/routes.yaml)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emo", description="EMO, the simple mid-office: StUF message broker"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _serving(commands.add_parser("run", help="run the broker in the foreground"))
    _serving(commands.add_parser("start", help="start the broker as a daemon"))
    stop = commands.add_parser("stop", help="stop the daemon gracefully")
    _common(stop)
    stop.add_argument("--timeout", type=float, default=60.0)
    _common(commands.add_parser("status", help="is the daemon running?"))
    _common(commands.add_parser("reload", help="reload routes in the daemon"))
    commands.add_parser(
        "bench", help="drive a running broker and measure it", add_help=False
    )
    klanten = commands.add_parser("klanten", help="the klantregister")
    klanten.add_subparsers(dest="klanten_command", required=True).add_parser(
        "import", help="bulk import of persons or companies from CSV", add_help=False
    )
    from esb import operators

    operators.add_parser(commands)
    from zaakzoeker import accounts as zaakzoeker_accounts

    zaakzoeker_accounts.add_parser(commands)
    routes = commands.add_parser("routes", help="work with routes files")
    route_commands = routes.add_subparsers(dest="routes_command", required=True)
    check = route_commands.add_parser("check", help="validate a routes file")
    check.add_argument("file", nargs="?", type=Path)
    _common(check)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        Path(args.config),
        data_dir=Path(args.data) if args.data else None,
        port=getattr(args, "port", None),
        schemas=getattr(args, "schemas", None),
        routes=getattr(args, "routes", None),
    )


def _run_args(args: argparse.Namespace) -> list[str]:
    """The options of ``start`` passed on to the detached ``run``."""
    words = ["--config", str(args.config.resolve())]
    if args.data is not None:
        words += ["--data", str(args.data.resolve())]
    if args.port is not None:
        words += ["--port", str(args.port)]
    if args.routes is not None:
        words += ["--routes", str(args.routes.resolve())]
    for folder in args.schemas or ():
        words += ["--schemas", str(folder.resolve())]
    return words


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["klanten", "import"]:
        # The klantregister's bulk import has options of its own.
        from registers.klantregister.importer import main as import_klanten

        return import_klanten(words[2:])
    if words[:1] == ["bench"]:
        # emo bench has options of its own (esb/bench.py).
        from esb.bench import main as bench

        return bench(words[1:])
    args = build_parser().parse_args(words)
    try:
        settings = _settings(args)
        if args.command == "run":
            from esb.daemon import run

            return run(settings)
        from esb import control

        if args.command == "start":
            return control.start(settings, _run_args(args))
        if args.command == "stop":
            return control.stop(settings, timeout=args.timeout)
        if args.command == "status":
            return control.status(settings)
        if args.command == "reload":
            return control.reload(settings)
        if args.command == "messages":
            from esb import operators

            return operators.run(settings, args)
        if args.command == "zaakzoeker":
            from zaakzoeker.accounts import command as zaakzoeker_command

            return zaakzoeker_command(settings, args)
        if args.command == "routes":
            from esb.daemon import check_routes_command

            return check_routes_command(args.file or settings.routes_path)
    except EmoError as exc:
        print(f"emo: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
