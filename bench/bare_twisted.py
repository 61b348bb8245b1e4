"""The ceiling for the broker: a bare Twisted web server that only parses and
validates.

Same HTTP stack as the broker (``twisted.web`` Site and Resource on the same
reactor), same hardened lxml parser options, same compiled schemas
(:class:`esb.schemaset.SchemaRegistry` over the ``--schemas`` given), and
nothing else: no identification, no journal, no routing, no delivery, no
logging per message. A valid message gets a fixed Bv03 (so ``emo bench``
counts it as ``200 Bv03``), an invalid one a fixed StUF055 fault. Driven by
``emo bench`` with the same options as the broker, the gap between the two
is what the broker's own path costs.

Run::

    .venv/bin/python bench/bare_twisted.py --port 8471 --schemas ../shared/stuf/zds-1.2
    .venv/bin/emo bench --url http://127.0.0.1:8471/stuf/zds --message FILE ...

It prints ``bare server listening on http://HOST:PORT/`` once it listens.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lxml import etree
from twisted.internet import reactor
from twisted.web import resource, server

from esb.message import NS_SOAP11
from esb.schemaset import SchemaRegistry

_BODY = f"{{{NS_SOAP11}}}Body"

_BV03 = b"""<?xml version='1.0' encoding='UTF-8'?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>\
<StUF:Bv03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>\
<StUF:berichtcode>Bv03</StUF:berichtcode></StUF:stuurgegevens></StUF:Bv03Bericht>\
</soap:Body></soap:Envelope>"""

_FAULT = b"""<?xml version='1.0' encoding='UTF-8'?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>\
<soap:Fault><faultcode>soap:Client</faultcode><faultstring>StUF055</faultstring>\
<detail><StUF:Fo03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:body>\
<StUF:code>StUF055</StUF:code></StUF:body></StUF:Fo03Bericht></detail></soap:Fault>\
</soap:Body></soap:Envelope>"""


def _parser() -> etree.XMLParser:
    # The options of esb.envelope's parser: no DTD, no entities, no network.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
        remove_comments=True,
        remove_pis=True,
    )


class ParseAndValidate(resource.Resource):
    """Every POST: parse, take the body element, validate, answer."""

    isLeaf = True

    def __init__(self, registry: SchemaRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web is untyped
        self.registry = registry
        self.parser = _parser()

    def render_POST(self, request: server.Request) -> bytes:
        assert request.content is not None
        request.setHeader(b"content-type", b"text/xml; charset=utf-8")
        try:
            root = etree.fromstring(request.content.read(), self.parser)
            body = root.find(_BODY)
            element = body[0] if body is not None and len(body) else root
            valid = self.registry.knows(str(element.tag)) and not (
                self.registry.validate(element)
            )
        except etree.XMLSyntaxError:
            valid = False
        if valid:
            return _BV03
        request.setResponseCode(500)
        return _FAULT


def make_site(registry: SchemaRegistry) -> server.Site:
    site = server.Site(ParseAndValidate(registry), parsePOSTFormSubmission=False)
    site.noisy = False
    # No access log: the broker writes none per request either.
    site.log = lambda request: None  # type: ignore[method-assign]
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8471)
    parser.add_argument("--schemas", type=Path, action="append", required=True)
    args = parser.parse_args(argv)
    registry = SchemaRegistry.load(args.schemas)
    port = reactor.listenTCP(
        args.port,
        make_site(registry),  # type: ignore[arg-type]  # Site is a ServerFactory
        interface=args.host,
    )
    address = port.getHost()
    print(
        f"bare server listening on http://{args.host}:{address.port}/",  # type: ignore[attr-defined]
        flush=True,
    )
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
