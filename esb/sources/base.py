"""What every source EMO drives itself shares: its interface, and reading answers.

A file folder or an AMQP queue has nobody waiting for the answer, so the
source itself must decide what the broker's answer means for the message it
holds: let go of it (done), set it aside with the reason (error), or keep it
and try again later. :func:`read_answer` turns the broker's
:class:`~esb.answers.Answer` into that :class:`Verdict`:

- status 2xx: the message is journaled (the dispatcher answers only after
  the journal has committed), so the source may let go of it;
- a StUF foutbericht with plek ``client``: the message itself is wrong and
  will be refused the same way every time; it is set aside, with the code,
  omschrijving and details saying why;
- any other fault (plek ``server``: the journal could not store it, no route
  took it, a destination failed): EMO's side failed, and the same message may
  well be taken later, so it is kept and tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree
from twisted.internet import defer

from esb.answers import NS_EMO_FOUT, Answer
from esb.broker import Broker
from esb.errors import StufFault
from esb.message import NS_SOAP11, NS_STUF

BrokerRef = Callable[[], Broker]
"""The broker of the moment: looked up per message, so a reload takes effect
for the next message a source reads."""

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_S = f"{{{NS_STUF}}}"


# The longest wait before a source tries again after faults on EMO's side.
RETRY_CAP_SECONDS = 300.0


def retry_wait(first: float, failures: int) -> float:
    """The wait after ``failures`` faults on EMO's side in a row: ``first``,
    doubling with each further one, at most five minutes. Every source
    (files, queues, the zaakregister's outbox) backs off the same way."""
    return min(RETRY_CAP_SECONDS, first * 2.0 ** max(0, failures - 1))


class InboundSource(Protocol):
    """A source EMO reads itself: a watched folder, an AMQP queue.

    ``start`` begins reading and never raises: what cannot be reached now is
    logged and tried again. ``stop`` stops taking new messages and fires once
    the messages already taken have been answered and let go of (or left
    where the next start finds them again).
    """

    name: str

    def start(self) -> None: ...

    def stop(self) -> defer.Deferred[None]: ...

    def describe(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the broker's answer means for the message a source holds.

    ``answer`` is the bare StUF element of the answer (the Bv03Bericht, the
    destination's answer, or the foutbericht), as bytes; ``message_id`` is
    EMO's id for the message where the answer names it (the referentienummer
    of a Bv03 or Fo03), so the log lines of source and broker can be joined.
    """

    ok: bool
    status: int
    answer: bytes
    message_id: str | None = None
    code: str | None = None
    plek: str | None = None
    omschrijving: str | None = None
    details: str | None = None
    schema_errors: tuple[str, ...] = ()

    @property
    def retry(self) -> bool:
        """A fault on EMO's side: the same message may be taken later."""
        return not self.ok and self.plek != "client"

    @property
    def summary(self) -> str:
        """One line for the log: ``ok`` or the fault code and omschrijving."""
        if self.ok:
            return "ok"
        return f"{self.code or 'fault'} ({self.plek or '?'}): {self.omschrijving}"

    def reason(self, **facts: str) -> str:
        """The text of a ``.reason`` file: what was wrong, exactly.

        ``facts`` (the file name, when it was received) come first, then the
        foutbericht's code, plek, omschrijving and details, then every schema
        violation if the details had to be cut short.
        """
        lines = [f"{name.replace('_', ' ')}: {value}" for name, value in facts.items()]
        if self.message_id:
            lines.append(f"EMO message id: {self.message_id}")
        lines += [
            f"code: {self.code or '-'}",
            f"plek: {self.plek or '-'}",
            f"omschrijving: {self.omschrijving or '-'}",
        ]
        if self.details:
            lines.append("details:")
            lines += [f"  {line}" for line in self.details.splitlines()]
        # Foutdetails holds 1000 characters (stuf0301.xsd); detailsXML has
        # every violation, so the list is complete even when details is cut.
        if self.schema_errors and (not self.details or self.details.endswith("…")):
            lines.append(f"schema violations ({len(self.schema_errors)}):")
            lines += [f"  {error}" for error in self.schema_errors]
        return "\n".join(lines) + "\n"


def read_answer(answer: Answer) -> Verdict:
    """The verdict on the broker's answer to one message."""
    element = _answer_element(answer.body)
    if element is None:
        # Not a SOAP answer EMO would give; only the status is left to judge.
        ok = 200 <= answer.status < 300
        return Verdict(ok, answer.status, answer.body)
    bare = etree.tostring(element, xml_declaration=True, encoding="UTF-8")
    if 200 <= answer.status < 300:
        # Journaled, whatever the destination answered: trying again would
        # only be answered from the journal, as before.
        return Verdict(True, answer.status, bare, _referentienummer(element))
    return Verdict(
        ok=False,
        status=answer.status,
        answer=bare,
        message_id=_referentienummer(element),
        code=_text(element, "body/StUF:code"),
        plek=_text(element, "body/StUF:plek"),
        omschrijving=_text(element, "body/StUF:omschrijving"),
        details=_text(element, "body/StUF:details"),
        schema_errors=tuple(_schema_errors(element)),
    )


def fault_verdict(fault: StufFault) -> Verdict:
    """The verdict for a message a source refuses before the broker sees it
    (a file too large to read, say), in the same terms as the broker's."""
    return Verdict(
        ok=False,
        status=fault.http_status,
        answer=b"",
        code=fault.code,
        plek=fault.plek,
        omschrijving=fault.omschrijving,
        details=fault.full_details,
    )


def _answer_element(body: bytes) -> etree._Element | None:
    """The StUF element in a SOAP answer: the body's child, or the
    foutbericht in a Fault's detail."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return None
    soap_body = root.find(f"{{{NS_SOAP11}}}Body")
    if soap_body is None:
        return root if isinstance(root.tag, str) else None
    element = next((child for child in soap_body if isinstance(child.tag, str)), None)
    if element is None:
        return None
    if element.tag == f"{{{NS_SOAP11}}}Fault":
        detail = element.find("detail")
        found = (
            None
            if detail is None
            else next((child for child in detail if isinstance(child.tag, str)), None)
        )
        if found is None:
            # A SOAP Fault without a foutbericht: keep what it says.
            return _bare_fault(element)
        return found
    return element


def _bare_fault(fault: etree._Element) -> etree._Element:
    """A Fo02 standing in for a SOAP Fault that carried no foutbericht."""
    bericht = etree.Element(f"{_S}Fo02Bericht", nsmap={"StUF": NS_STUF})
    stuurgegevens = etree.SubElement(bericht, f"{_S}stuurgegevens")
    etree.SubElement(stuurgegevens, f"{_S}berichtcode").text = "Fo02"
    body = etree.SubElement(bericht, f"{_S}body")
    faultcode = (fault.findtext("faultcode") or "").rpartition(":")[2]
    etree.SubElement(body, f"{_S}code").text = "-"
    etree.SubElement(body, f"{_S}plek").text = (
        "client" if faultcode == "Client" else "server"
    )
    etree.SubElement(body, f"{_S}omschrijving").text = (
        fault.findtext("faultstring") or "SOAP Fault"
    )
    return bericht


_NS = {"StUF": NS_STUF}


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find("StUF:" + path, _NS)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _referentienummer(element: etree._Element) -> str | None:
    """EMO's message id: the referentienummer EMO gives its Bv03 and Fo03."""
    return _text(element, "stuurgegevens/StUF:referentienummer")


def _schema_errors(element: etree._Element) -> list[str]:
    errors = []
    for item in element.iterfind(f"{_S}body/{_S}detailsXML/{{{NS_EMO_FOUT}}}*"):
        where = f"regel {item.get('regel')}" if item.get("regel") else "regel ?"
        errors.append(f"{where}, {item.get('pad', '')}: {item.text or ''}")
    return errors
