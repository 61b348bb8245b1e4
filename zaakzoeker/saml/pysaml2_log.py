"""pysaml2's logging, kept from quoting assertions and NameIDs in EMO's log.

Its info lines name the subject (response.py: "Subject NameID: ...") and
one error line prints a whole assertion. Only warnings and errors go on to
EMO's log, with digit runs as long as a BSN blotted out, cut short.
"""

from __future__ import annotations

import logging
import re

from twisted.logger import Logger

_DIGITS = re.compile(r"[0-9]{9,}")
_pysaml2_log = Logger(namespace="saml2")
_quieted = False


class _ToTwisted(logging.Handler):
    """pysaml2's warnings and errors as EMO log events, BSN-like runs blotted."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = _DIGITS.sub("#########", record.getMessage())[:500]
        except Exception:  # a bad format string in pysaml2 must not break a login
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            _pysaml2_log.error("{text}", text=text)
        else:
            _pysaml2_log.warn("{text}", text=text)


def quiet_pysaml2() -> None:
    """Send pysaml2's warnings and errors only, cleaned, to EMO's log.

    Idempotent: the first call sets it up for the whole process.
    """
    global _quieted
    if _quieted:
        return
    _quieted = True
    logger = logging.getLogger("saml2")
    logger.setLevel(logging.WARNING)
    # A filter on a logger only sees records logged on that very logger, not
    # those of saml2.response and friends, so all of them go through a
    # handler of our own instead of propagating to the root.
    logger.addHandler(_ToTwisted())
    logger.propagate = False
