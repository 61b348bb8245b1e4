"""WSDLs for SOAP clients: ``GET /stuf/zds?wsdl`` and ``GET /stuf/bg?wsdl``.

The official WSDLs and schemas (VNG Realisatie) are served from the schema
distributions the broker was started with, unmodified except for one thing:
every ``wsdl:import``, ``xs:import``, ``xs:include`` and ``xs:redefine``
location becomes an absolute URL on the broker, at the endpoint that was
asked::

    /stuf/zds?wsdl=zds-1.2/zds0120/berichten/zds0120_beantwoordVraag_zs-dms.wsdl
    /stuf/zds?xsd=zds-1.2/0301/stuf0301.xsd

(the distribution's name, then the path inside it). A client that follows
the imports therefore reads every file from the broker, and nothing outside
the distributions can be asked for: a path is looked up among the files the
distribution holds, never opened as given.

``?wsdl`` alone gives a small WSDL of EMO's own (:data:`WRAPPER`) that
imports the official WSDLs of the interface the endpoint answers (ZDS 1.2 at
``/stuf/zds``, StUF-BG 03.10 at ``/stuf/bg``) and adds one service whose
ports bind their bindings to the broker's own address, as the request
reached it (its Host header). The official files keep their
``http://example.com/...`` addresses. ``?wsdl=zkn0310`` gives the same for
ZDS 1.1 (the operations in the ZKN namespace) when a 1.1 distribution is
configured.

Why a wrapper and not one merged WSDL: the official WSDLs are to be used
unmodified, and WSDL 1.1 section 2.1.1 lets one document import several of
the same namespace, which is all a merge would do.

Files are read and rewritten once, on first use, and kept; only the broker's
address is filled in per request.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote

from lxml import etree
from twisted.logger import Logger
from twisted.web import http, server

from esb.answers import Answer
from esb.message import NS_BG, NS_ZDS, NS_ZKN
from esb.schemaset import SchemaRegistry

log = Logger()

NS_WSDL = "http://schemas.xmlsoap.org/wsdl/"
NS_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"

XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# Stands for the broker's address while a file is kept; no official file
# contains it (checked when a file is read).
_BASE = "urn:emo:wsdl:base"

# A Host header as RFC 9110 section 7.2 allows it: a name, an IPv4 or a
# bracketed IPv6 address, and an optional port. Anything else is refused,
# since it would be written into the WSDLs.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")

WRAPPER = """<?xml version="1.0" encoding="UTF-8"?>
<!-- {title}, answered by EMO at {address}.
     The imported WSDLs are the official ones of schema distribution
     {distribution}, unmodified except for their import locations; the
     service below binds their bindings to the broker's address. -->
<wsdl:definitions xmlns:wsdl="{ns_wsdl}" xmlns:soap="{ns_soap}"
    xmlns:svc="{namespace}" name="EMO-{name}" targetNamespace="urn:emo:wsdl:{name}">
{imports}
  <wsdl:service name="{service}">
{ports}
  </wsdl:service>
</wsdl:definitions>
"""
_IMPORT = '  <wsdl:import namespace="{namespace}" location="{location}"/>'
_PORT = """    <wsdl:port name="{port}" binding="svc:{binding}">
      <soap:address location="{address}"/>
    </wsdl:port>"""


@dataclass(frozen=True, slots=True)
class Interface:
    """A koppelvlak the broker answers at an endpoint, described by official
    WSDLs (paths inside a distribution) whose SOAP ports EMO serves."""

    name: str
    title: str
    namespace: str
    wsdls: tuple[str, ...]


ZDS_12 = Interface(
    "zds0120",
    "Zaak- en Documentservices 1.2",
    NS_ZDS,
    tuple(
        f"zds0120/berichten/zds0120_{part}_zs-dms.wsdl"
        for part in ("beantwoordVraag", "ontvangAsynchroon_mutatie", "vrijeBerichten")
    ),
)
ZDS_11 = Interface(
    "zkn0310",
    "Zaak- en Documentservices 1.1",
    NS_ZKN,
    tuple(
        f"zkn0310/zs-dms/zkn0310_{part}_zs-dms.wsdl"
        for part in ("beantwoordVraag", "ontvangAsynchroon_mutatie", "vrijeBerichten")
    ),
)
BG_0310 = Interface(
    "bg0310",
    "StUF-BG 03.10",
    NS_BG,
    (
        "bg0310/vraagAntwoord/bg0310_beantwoordVraag_vraagAntwoord.wsdl",
        "bg0310/mutatie/bg0310_ontvangAsynchroon_mutatie.wsdl",
    ),
)

# What each SOAP endpoint offers; the first one found is ``?wsdl`` alone.
ENDPOINTS: Mapping[str, tuple[Interface, ...]] = {
    "soap:/stuf/zds": (ZDS_12, ZDS_11),
    "soap:/stuf/bg": (BG_0310,),
}


class NotServed(Exception):
    """What was asked is not here; the text says what was asked and why.

    ``status`` is 404 for what does not exist, 500 for a file of the
    distribution that cannot be read.
    """

    def __init__(self, text: str, status: int = http.NOT_FOUND) -> None:
        super().__init__(text)
        self.status = status


@dataclass(frozen=True, slots=True)
class Template:
    """A document kept with the broker's address left out."""

    parts: tuple[bytes, ...]

    def render(self, base: str) -> bytes:
        return base.encode("ascii").join(self.parts)


def _template(document: bytes) -> Template:
    return Template(tuple(document.split(_BASE.encode("ascii"))))


# The request -----------------------------------------------------------------


def query(request: server.Request) -> dict[str, list[str]]:
    """The request's query, names lower-cased.

    Twisted's ``request.args`` drops a name without ``=``, and ``?wsdl`` is
    exactly that, so the query is read from the URI here.
    """
    raw = request.uri.partition(b"?")[2].decode("latin-1")
    parsed = parse_qs(raw, keep_blank_values=True)
    return {name.lower(): values for name, values in parsed.items()}


def wants_document(request: server.Request) -> bool:
    """Whether a GET asks for a WSDL or schema (``?wsdl``, ``?xsd=...``)."""
    return any(name in ("wsdl", "xsd") for name in query(request))


def render(request: server.Request, source: str, schemas: SchemaRegistry) -> bytes:
    """Answer a GET for a WSDL or schema at the endpoint of ``source``."""
    try:
        catalogue = catalogue_for(distributions_of(schemas))
    except NotServed as exc:
        answer = Answer(exc.status, f"{exc}\n".encode(), TEXT)
    else:
        answer = answer_for(
            catalogue,
            source,
            query(request),
            host=_header(request, b"host") or _listening(request),
            secure=request.isSecure(),
            path=request.path.decode("ascii", "replace").rstrip("/"),
        )
    request.setResponseCode(answer.status)
    request.setHeader("content-type", answer.content_type)
    return answer.body


def answer_for(
    catalogue: Catalogue,
    source: str,
    args: Mapping[str, Sequence[str]],
    *,
    host: str,
    secure: bool,
    path: str,
) -> Answer:
    """The document asked for in ``args``, or a plain-text refusal."""
    if not _HOST.fullmatch(host):
        return Answer(
            http.BAD_REQUEST,
            f"Host header {host[:100]!r} is not a host name with an optional "
            "port; the WSDLs name the broker's address by it.\n".encode(),
            TEXT,
        )
    base = f"{'https' if secure else 'http'}://{host}{path}"
    try:
        if "xsd" in args:
            document = catalogue.file(_first(args["xsd"]), "xsd")
        else:
            name = _first(args.get("wsdl", ()))
            if "/" in name:
                document = catalogue.file(name, "wsdl")
            else:
                document = catalogue.wrapper(source, name)
    except NotServed as exc:
        return Answer(exc.status, f"{exc}\n".encode(), TEXT)
    return Answer(http.OK, document.render(base), XML)


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def _header(request: server.Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _listening(request: server.Request) -> str:
    # An HTTP/1.0 request may come without a Host header: the address it
    # reached is the next best thing.
    address = request.getHost()
    host = str(getattr(address, "host", "127.0.0.1"))
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{getattr(address, 'port', 80)}"


# The distributions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Distribution:
    """The ``.wsdl`` and ``.xsd`` files of one folder or zip, by path."""

    name: str
    source: Path
    paths: frozenset[str]

    def read(self, path: str) -> bytes:
        if self.source.is_dir():
            return (self.source / path).read_bytes()
        with zipfile.ZipFile(self.source) as archive:
            return archive.read(path)


def distributions_of(schemas: SchemaRegistry) -> tuple[Path, ...]:
    """The distributions the broker compiled, in the order it was given them."""
    return tuple(dict.fromkeys(Path(info.source) for info in schemas.sets))


def list_distribution(source: Path) -> Distribution:
    """The WSDL and schema files a folder or zip file holds.

    Raises :class:`NotServed` (500) when the source cannot be read.
    """
    suffixes = (".wsdl", ".xsd")
    try:
        if source.is_dir():
            paths = {
                file.relative_to(source).as_posix()
                for file in source.rglob("*")
                if file.suffix.lower() in suffixes and file.is_file()
            }
            return Distribution(source.name, source, frozenset(paths))
        with zipfile.ZipFile(source) as archive:
            names = {
                info.filename
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(suffixes)
                and not info.filename.startswith(("__MACOSX/", "/", "../"))
                # A member named a/../../x would be a way out of the zip.
                and posixpath.normpath(info.filename) == info.filename
            }
            return Distribution(source.stem, source, frozenset(names))
    except (OSError, zipfile.BadZipFile) as exc:
        raise NotServed(
            f"schema distribution {source} cannot be read: {exc}",
            http.INTERNAL_SERVER_ERROR,
        ) from exc


class Catalogue:
    """Every WSDL and schema of the configured distributions, rewritten on
    first use and kept."""

    def __init__(self, distributions: Iterable[Distribution]) -> None:
        self.distributions = {d.name: d for d in distributions}
        self._files: dict[str, Template] = {}
        self._wrappers: dict[tuple[str, str], Template] = {}

    def file(self, asked: str, kind: str) -> Template:
        """The file ``<distribution>/<path>``; ``kind`` is "wsdl" or "xsd"."""
        if not asked:
            raise NotServed(
                f"?{kind}= names a file as <distribution>/<path>, for example "
                f"?{kind}={self._example(kind)}"
            )
        name, _, path = asked.partition("/")
        distribution = self.distributions.get(name)
        if distribution is None:
            raise NotServed(
                f"No schema distribution {name[:100]!r} (asked: {asked[:300]}); "
                f"configured: {', '.join(self.distributions) or 'none'}"
            )
        if path not in distribution.paths:
            raise NotServed(f"Schema distribution {name} holds no file {path[:300]!r}")
        if not path.lower().endswith(f".{kind}"):
            other = "xsd" if kind == "wsdl" else "wsdl"
            raise NotServed(f"{asked[:300]} is not a .{kind} file; ask ?{other}=")
        key = f"{name}/{path}"
        template = self._files.get(key)
        if template is None:
            template = self._files[key] = _template(_rewrite(distribution, path))
        return template

    def _example(self, kind: str) -> str:
        for name, distribution in self.distributions.items():
            found = sorted(p for p in distribution.paths if p.endswith(f".{kind}"))
            if found:
                return f"{name}/{found[0]}"
        return f"zds-1.2/0301/stuf0301.{kind}"

    def wrapper(self, source: str, name: str) -> Template:
        """``?wsdl`` (``name`` empty) or ``?wsdl=<interface>`` at ``source``."""
        interfaces = ENDPOINTS.get(source, ())
        if not interfaces:
            raise NotServed(
                f"{source} takes bare StUF messages over plain HTTP and has no "
                "WSDL; the SOAP endpoints /stuf/zds and /stuf/bg have"
            )
        if not self.distributions:
            raise NotServed(
                "No WSDL: the broker was started without schema distributions "
                "(name them with --schemas or 'schemas' in emo.yaml)"
            )
        chosen = [i for i in interfaces if not name or i.name == name]
        if not chosen:
            raise NotServed(
                f"No WSDL {name[:100]!r} at {source.removeprefix('soap:')}; there "
                f"are {', '.join(i.name for i in interfaces)} and the "
                "distributions' own files (?wsdl=<distribution>/<path>)"
            )
        for interface in chosen:
            key = (source, interface.name)
            template = self._wrappers.get(key)
            if template is not None:
                return template
            found = self._locate(interface)
            if found is not None:
                template = _template(_wrapper(interface, *found))
                self._wrappers[key] = template
                return template
        wanted = "; ".join(f"{i.name}: {', '.join(i.wsdls)}" for i in chosen)
        raise NotServed(
            "No configured schema distribution holds the WSDLs of "
            f"{wanted} (configured: {', '.join(self.distributions)})"
        )

    def _locate(
        self, interface: Interface
    ) -> tuple[Distribution, str, list[tuple[str, bytes]]] | None:
        """The first distribution holding every WSDL of ``interface``, the
        folder they are under in it (a zip often adds one), and the files."""
        first = interface.wsdls[0]
        for distribution in self.distributions.values():
            for path in sorted(distribution.paths):
                if path != first and not path.endswith("/" + first):
                    continue
                prefix = path.removesuffix(first)
                wanted = [prefix + wsdl for wsdl in interface.wsdls]
                if all(p in distribution.paths for p in wanted):
                    return (
                        distribution,
                        prefix,
                        [(p, distribution.read(p)) for p in wanted],
                    )
        return None


def catalogue_for(sources: Sequence[Path]) -> Catalogue:
    """The catalogue of these distributions, built once per process."""
    key = tuple(sources)
    catalogue = _CATALOGUES.get(key)
    if catalogue is None:
        catalogue = Catalogue(list_distribution(source) for source in key)
        _CATALOGUES[key] = catalogue
        log.info(
            "WSDLs and schemas served from {names}",
            names=", ".join(catalogue.distributions) or "no distribution",
        )
    return catalogue


_CATALOGUES: dict[tuple[Path, ...], Catalogue] = {}


# Rewriting -------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# The elements whose location attribute names another file.
_REFERENCES = (
    (f"{{{NS_WSDL}}}import", "location"),
    (f"{{{XSD}}}import", "schemaLocation"),
    (f"{{{XSD}}}include", "schemaLocation"),
    (f"{{{XSD}}}redefine", "schemaLocation"),
)


def _rewrite(distribution: Distribution, path: str) -> bytes:
    """The file with every relative import location pointing at the broker.

    The file is parsed and written again (in UTF-8): its content is the
    same, its bytes may differ in quoting and in how empty elements are
    written.
    """
    name = f"{distribution.name}/{path}"
    try:
        content = distribution.read(path)
        root = etree.fromstring(content, _PARSER, base_url=name)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise NotServed(
            f"{name} cannot be read: {exc}", http.INTERNAL_SERVER_ERROR
        ) from exc
    except etree.XMLSyntaxError as exc:
        raise NotServed(
            f"{name} is not well-formed XML: {exc}", http.INTERNAL_SERVER_ERROR
        ) from exc
    if _BASE.encode("ascii") in content:
        raise NotServed(
            f"{name} contains {_BASE}, which EMO reserves", http.INTERNAL_SERVER_ERROR
        )

    for tag, attribute in _REFERENCES:
        for element in root.iter(tag):
            location = element.get(attribute)
            if location is None or "://" in location or location.startswith("/"):
                # Absolute locations (W3C's own xml.xsd) stay as they are.
                continue
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(path), unquote(location))
            )
            if target == ".." or target.startswith("../"):
                log.warn(
                    "{name}, line {line}: {location} points outside the "
                    "distribution; left as it is",
                    name=name,
                    line=element.sourceline,
                    location=location,
                )
                continue
            kind = "wsdl" if target.lower().endswith(".wsdl") else "xsd"
            element.set(attribute, _url(distribution.name, target, kind))
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _url(distribution: str, path: str, kind: str) -> str:
    return f"{_BASE}?{kind}={quote(f'{distribution}/{path}', safe='/')}"


def _wrapper(
    interface: Interface,
    distribution: Distribution,
    prefix: str,
    files: list[tuple[str, bytes]],
) -> bytes:
    """EMO's WSDL importing ``files`` and serving each of their SOAP ports."""
    imports: list[str] = []
    ports: list[str] = []
    for path, content in files:
        imports.append(
            _IMPORT.format(
                namespace=interface.namespace,
                location=_url(distribution.name, path, "wsdl"),
            )
        )
        ports += [
            _PORT.format(port=port, binding=binding, address=_BASE)
            for port, binding in _soap_ports(content, interface.namespace)
        ]
    return WRAPPER.format(
        title=interface.title,
        address=_BASE,
        distribution=f"{distribution.name}/{prefix}".rstrip("/"),
        ns_wsdl=NS_WSDL,
        ns_soap=NS_WSDL_SOAP,
        namespace=interface.namespace,
        name=interface.name,
        service=f"EMO-{interface.name}",
        imports="\n".join(imports),
        ports="\n".join(ports),
    ).encode("utf-8")


def _soap_ports(content: bytes, namespace: str) -> list[tuple[str, str]]:
    """(port name, binding name) of each SOAP 1.1 port an official WSDL
    declares; its port names are kept, so a client generated from the
    official file finds the same names here."""
    root = etree.fromstring(content, _PARSER)
    found: list[tuple[str, str]] = []
    for port in root.iterfind(f"{{{NS_WSDL}}}service/{{{NS_WSDL}}}port"):
        if port.find(f"{{{NS_WSDL_SOAP}}}address") is None:
            continue
        prefix, _, binding = (port.get("binding") or "").rpartition(":")
        if port.nsmap.get(prefix or None) != namespace:
            continue
        found.append((port.get("name") or binding, binding))
    return found
