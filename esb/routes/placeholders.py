"""``${NAME}`` placeholders in routes files, filled from the environment.

One routes file serves test and production: what differs (a URL, a folder,
an organisatie code) is written as a placeholder and taken from the
environment when the file is loaded. The forms, as in a POSIX shell:

``${NAME}``
    the value of ``NAME``; an unset variable is an error.
``${NAME:-default}``
    the value of ``NAME``, or ``default`` when it is unset or empty.
``$${``
    a literal ``${``, for the rare value that needs one.

A ``$`` not followed by ``{`` is an ordinary character. Placeholders are
filled in values only, never in keys, and only once: a variable's value is
not searched for further placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"\$\$\{|\$\{")


@dataclass(frozen=True, slots=True)
class PlaceholderError:
    """Why one placeholder could not be filled, and where in the text it is."""

    offset: int
    message: str


def fill(text: str, environ: Mapping[str, str]) -> tuple[str, list[PlaceholderError]]:
    """``text`` with its placeholders filled, and what went wrong.

    Every placeholder is tried, so one call reports all the missing
    variables of a value; a placeholder that fails is left as written.
    """
    if "$" not in text:
        return text, []
    parts: list[str] = []
    errors: list[PlaceholderError] = []
    position = 0
    for token in _TOKEN.finditer(text):
        if token.start() < position:
            continue  # inside a placeholder already consumed
        parts.append(text[position : token.start()])
        if token.group() == "$${":
            parts.append("${")
            position = token.end()
            continue
        end = text.find("}", token.end())
        if end < 0:
            errors.append(
                PlaceholderError(token.start(), "placeholder '${' is not closed by '}'")
            )
            parts.append(text[token.start() :])
            position = len(text)
            break
        written = text[token.start() : end + 1]
        value, error = _resolve(text[token.end() : end], environ)
        if error is not None:
            errors.append(PlaceholderError(token.start(), error))
            value = written
        parts.append(value)
        position = end + 1
    parts.append(text[position:])
    return "".join(parts), errors


def _resolve(inner: str, environ: Mapping[str, str]) -> tuple[str, str | None]:
    name, has_default, default = inner.partition(":-")
    if not _NAME.match(name):
        return "", (
            f"'${{{inner}}}' is not a placeholder; expected ${{NAME}} or "
            "${NAME:-default}, NAME being letters, digits and '_'"
        )
    value = environ.get(name)
    if has_default:
        return (value or default), None
    if value is None:
        return "", f"environment variable '{name}' is not set (used as ${{{name}}})"
    return value, None
