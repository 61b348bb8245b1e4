"""``emo routes check [FILE]``: say whether a routes file is right, and if not, why.

The CLI calls :func:`run_check`; it prints every problem as
``file:line:column: message`` (the form editors and CI logs link to) and a
summary, and returns the exit status: 0 when the file would load, 1 when not.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from esb.routes.loader import SettingsCheck, check_routes

DEFAULT_ROUTES = Path("config") / "routes.yaml"


def run_check(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    adapters: Mapping[str, SettingsCheck | None] | None = None,
    out: TextIO | None = None,
) -> int:
    """Check the routes file (default ``config/routes.yaml``), print the outcome."""
    path = DEFAULT_ROUTES if path is None else path
    out = sys.stdout if out is None else out
    problems = check_routes(path, environ, adapters=adapters)
    for problem in problems:
        print(problem, file=out)
    if problems:
        count = len(problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=out)
        return 1
    print(f"{path}: OK", file=out)
    return 0
