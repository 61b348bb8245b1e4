"""Klantregister destination: EMO's own client register, in this process.

Settings in the routes file::

    klantregister:
      type: klantregister
      database: postgresql+psycopg://emo@db/emo   # optional
      applicatie: EMO                             # optional: the answers'
                                                  # zender when the request
                                                  # names no ontvanger

Without ``database`` the register uses ``EMO_KLANTREGISTER_URL``, else
``sqlite:///./var/klantregister.db`` (relative to the broker's working
folder). The register migrates its tables when the adapter is built.

For each message the adapter takes the StUF body out of the payload, hands
it with the broker's identification to the register in a worker thread (the
register's database calls block), and puts the register's answer in a SOAP
envelope. A StUF fault from the register becomes a SOAP Fault with status
500, which the broker passes to the sender as it is; one with plek
``server`` (the database is away) is worth a retry, one with plek ``client``
is not. A zaak message that is none of the register's business (a wiretap
of all ZDS traffic) is delivered without an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from esb.adapters.base import Delivered, DeliveryError, Outbound
from esb.adapters.blocking import run_blocking
from esb.answers import fault_answer
from esb.broker import mask_numbers
from esb.envelope import open_envelope, parse_xml, soap_envelope
from esb.errors import ConfigError, StufFault
from esb.identify import identify
from esb.message import NS_BG, NS_SOAP11, NS_ZDS, NS_ZKN, Party
from registers.klantregister import Klantregister

log = Logger()

KEYS = ("database", "applicatie")


class KlantregisterAdapter:
    """Delivers messages to a :class:`Klantregister`."""

    def __init__(self, name: str, register: Klantregister) -> None:
        self.name = name
        self.register = register

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> KlantregisterAdapter:
        unknown = sorted(set(settings) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"destination '{name}' (klantregister) does not know the "
                f"setting(s) {', '.join(unknown)}; it knows {', '.join(KEYS)}"
            )
        system = Party(applicatie=str(settings.get("applicatie") or "EMO"))
        database = settings.get("database")
        try:
            register = Klantregister.open(
                str(database) if database else None, system=system
            )
        except StufFault as exc:
            raise ConfigError(
                f"destination '{name}': the klantregister's database cannot be "
                f"opened: {exc.details or exc.omschrijving}"
            ) from exc
        except Exception as exc:
            # Every failure to open is a configuration problem the admin must
            # see at start-up or reload; the URL may hold a password, so it is
            # not quoted.
            raise ConfigError(
                f"destination '{name}': the klantregister's database cannot be "
                f"opened ({type(exc).__name__})"
            ) from exc
        return cls(name, register)

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        return run_blocking(self.deliver_now, outbound)

    def deliver_now(self, outbound: Outbound) -> Delivered:
        """What :meth:`deliver` does, in the calling thread; raises
        DeliveryError."""
        known = outbound.identification
        if known is not None and self.register.ignores(known):
            # Not for the klantregister (documents, vragen): not even parsed.
            return Delivered(note=f"{known.operation}: niet voor het klantregister")
        # Parse: the body element of the envelope (or a bare message).
        try:
            root = parse_xml(outbound.payload)
            body = (
                open_envelope(root).body
                if root.tag == f"{{{NS_SOAP11}}}Envelope"
                else root
            )
            identification = outbound.identification or identify(
                body, outbound.soap_action, (NS_BG, NS_ZKN, NS_ZDS)
            )
        except StufFault as exc:
            raise self._refused(exc, None, outbound) from exc

        # Answer: the register's work, in this worker thread.
        try:
            answer = self.register.handle(
                body, identification, referentienummer=outbound.message_id
            )
        except StufFault as exc:
            raise self._refused(exc, identification.stuurgegevens, outbound) from exc
        if answer is None:
            return Delivered(
                note=f"{identification.operation}: niet voor het klantregister"
            )
        return Delivered(
            answer=soap_envelope(answer),
            content_type="text/xml; charset=utf-8",
            status=200,
        )

    def _refused(
        self, fault: StufFault, stuurgegevens: Any, outbound: Outbound
    ) -> DeliveryError:
        answer = fault_answer(
            fault,
            stuurgegevens,
            system=self.register.system,
            referentienummer=outbound.message_id,
        )
        # The reason goes to the journal and the log: no BSN in it.
        reason = mask_numbers(f"{fault.code} (plek {fault.plek}): {fault.omschrijving}")
        return DeliveryError(
            f"klantregister: {reason}",
            retryable=fault.plek == "server",
            answer=answer.body,
            status=answer.status,
        )

    def close(self) -> None:
        self.register.close()
