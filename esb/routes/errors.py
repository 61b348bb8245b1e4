"""What is wrong with a routes file, said so that an admin can fix it.

The checker never stops at the first mistake: it collects a
:class:`RouteProblem` for every one it finds, each with the file, the line and
the column (both counted from 1, as editors do) and what was expected there.
:class:`RoutesError` carries them all when a file cannot be loaded::

    EmoError
    └── ConfigError
        └── RoutesError     problems: every RouteProblem in the file
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from esb.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RouteProblem:
    """One mistake in a routes file.

    ``line`` and ``column`` are 1-based; ``line`` is 0 when the problem is
    about the file as a whole (it cannot be read, or it is empty).
    """

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RoutesError(ConfigError):
    """A routes file that cannot be loaded; ``problems`` says every reason."""

    def __init__(self, problems: Sequence[RouteProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{count} problem{'s' if count != 1 else ''} in the routes file"
        super().__init__("\n".join([heading + ":", *map(str, self.problems)]))
