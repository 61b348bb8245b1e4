"""A real broker, started the way an operator starts it, for end-to-end tests.

``emo run --port 0`` runs as a child process with its own configuration and
data folders; the tests read the port it chose from ``emo.state.json`` and
talk to it over plain HTTP (``http.client``), exactly like a backoffice
application would. One broker with both official schema distributions serves
the whole session, because compiling them takes a few seconds.

Helpers here take the answers apart: :func:`read_fault` turns a SOAP 1.1 Fault
carrying a StUF foutbericht into a :class:`Fault`, :func:`assert_fault`
checks everything the standard asks of one, and :func:`assert_dispatched`
says that a message got past envelope, identification and validation.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest
from lxml import etree

from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES, ROOT, ZDS_12, ZDS_1102

EMO = ROOT / ".venv" / "bin" / "emo"

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_STUF = "http://www.egem.nl/StUF/StUF0301"
NS_EMO_FOUT = "urn:emo:fout"
ZKN_ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/"
ZDS12_ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/"

# How long a broker may take to compile its schemas and listen.
START_TIMEOUT = 60.0

# Faults raised before a message reaches the dispatcher: the envelope, the
# identification and strict validation. Each has plek "client".
PRE_DISPATCH_CODES = frozenset(
    {"StUF001", "StUF004", "StUF013", "StUF022", "StUF025", "StUF055"}
)

# What a Python traceback or exception leaking into an answer looks like.
LEAK = re.compile(
    rb"Traceback|File \"|\b(?:[A-Z][A-Za-z]*(?:Error|Exception)|KeyError|"
    rb"StopIteration|AssertionError)\b"
)

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


# HTTP -----------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP answer as the client saw it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body, _SAFE_PARSER)


def _read(connection: http.client.HTTPConnection) -> Response:
    answer = connection.getresponse()
    body = answer.read()
    headers = {name.lower(): value for name, value in answer.getheaders()}
    return Response(answer.status, headers, body)


@dataclass
class RunningBroker:
    """One ``emo run`` child process and the way to talk to it."""

    process: subprocess.Popen[bytes]
    config_dir: Path
    data_dir: Path
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str | bytes] | None = None,
    ) -> Response:
        """One request on a fresh connection; header values given as bytes go
        out as they are (to send bytes that are not UTF-8)."""
        connection = self.connect()
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            return _read(connection)
        finally:
            connection.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(
        self,
        body: bytes,
        soap_action: str | None = None,
        *,
        path: str = "/stuf/zds",
        content_type: str | None = "text/xml; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """POST a SOAP request; ``soap_action`` is sent as given (quote it)."""
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if soap_action is not None:
            sent["SOAPAction"] = soap_action
        return self.request("POST", path, body, sent)

    def post_stream(
        self,
        chunks: Iterable[bytes],
        *,
        content_length: int | None,
        path: str = "/stuf/zds",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """POST a body from an iterable, never holding it whole.

        With ``content_length`` the bytes go out as they are; without it, in
        HTTP/1.1 chunked transfer encoding.
        """
        connection = self.connect()
        try:
            connection.putrequest("POST", path, skip_accept_encoding=True)
            for name, value in {"Content-Type": "text/xml", **(headers or {})}.items():
                connection.putheader(name, value)
            if content_length is None:
                connection.putheader("Transfer-Encoding", "chunked")
            else:
                connection.putheader("Content-Length", str(content_length))
            connection.endheaders()
            try:
                for chunk in chunks:
                    if content_length is None:
                        connection.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    else:
                        connection.send(chunk)
                if content_length is None:
                    connection.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                # A server may answer and close before the upload ends; the
                # answer is still there to read.
                pass
            return _read(connection)
        finally:
            connection.close()

    # The process ------------------------------------------------------------

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def metrics(self) -> dict[tuple[str, str, str], float]:
        return messages_counted(self.get("/metrics").body.decode())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not finished in time."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def emo_environment() -> dict[str, str]:
    """The environment for ``emo`` children: the journal in the data folder."""
    env = {k: v for k, v in os.environ.items() if k != "EMO_DATABASE_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_config(folder: Path, **settings: object) -> Path:
    """An ``emo.yaml`` in ``folder`` with ``settings`` (as YAML scalars)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# written by tests/esb/conftest.py"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    (folder / "emo.yaml").write_text("\n".join(lines) + "\n")
    return folder


def wait_until_listening(
    process: subprocess.Popen[bytes], data_dir: Path, log_path: Path
) -> tuple[str, int]:
    """Poll the state file and /healthz until the broker answers."""
    state_file = data_dir / "emo.state.json"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"emo run exited with {process.returncode} before listening:\n"
                + log_path.read_text(errors="replace")
            )
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = None
        if state and state.get("pid") == process.pid:
            host, port = str(state["host"]), int(state["port"])
            try:
                connection = http.client.HTTPConnection(host, port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return host, port
            except OSError:
                pass
            finally:
                connection.close()
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(
        f"emo run did not answer /healthz within {START_TIMEOUT:.0f} s:\n"
        + log_path.read_text(errors="replace")
    )


def start_broker(
    base: Path,
    *,
    schemas: Iterable[Path] = (ZDS_12, ZDS_1102),
    **settings: object,
) -> RunningBroker:
    """``emo run --port 0`` in ``base``/config and ``base``/data."""
    config_dir = write_config(base / "config", **settings)
    data_dir = base / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = base / "emo-run.log"
    command = [
        str(EMO),
        "run",
        "--config",
        str(config_dir),
        "--data",
        str(data_dir),
        "--port",
        "0",
    ]
    for folder in schemas:
        command += ["--schemas", str(folder)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=emo_environment(),
            cwd=base,
        )
    broker = RunningBroker(process, config_dir, data_dir, log_path)
    try:
        broker.host, broker.port = wait_until_listening(process, data_dir, log_path)
    except BaseException:
        broker.stop()
        raise
    return broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """The session's broker: both ZDS distributions, default limits, no routes
    file (so every valid message is validated strictly, then refused for
    want of a route)."""
    running = start_broker(tmp_path_factory.mktemp("broker"))
    yield running
    running.stop()
    if running.process.returncode not in (0, -signal.SIGTERM):
        print(running.log_text(), file=sys.stderr)


@pytest.fixture(scope="session")
def small_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """A broker that takes bodies up to 64 KiB and nests up to 40 levels."""
    running = start_broker(
        tmp_path_factory.mktemp("small-broker"),
        max_body_bytes=SMALL_LIMIT,
        max_depth=40,
    )
    yield running
    running.stop()


SMALL_LIMIT = 64 * 1024


@pytest.fixture(scope="session")
def official() -> SchemaRegistry:
    """The official zds-1.2 schemas, compiled in the test process, to check
    EMO's own answers against."""
    return SchemaRegistry.load([ZDS_12])


# Memory ---------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """The resident set size of a process, in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Samples a process's RSS in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.before = rss_kib(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, AssertionError):
                return
            self._done.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


# Metrics --------------------------------------------------------------------

_SAMPLE = re.compile(
    r"^emo_messages_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)$", re.M
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def messages_counted(exposition: str) -> dict[tuple[str, str, str], float]:
    """``emo_messages_total`` by (source, operation, outcome)."""
    counted: dict[tuple[str, str, str], float] = {}
    for sample in _SAMPLE.finditer(exposition):
        labels = dict(_LABEL.findall(sample["labels"]))
        key = (labels["source"], labels["operation"], labels["outcome"])
        counted[key] = float(sample["value"])
    return counted


def counted_for(
    counts: Mapping[tuple[str, str, str], float], source: str, operation: str
) -> float:
    return sum(
        value
        for (src, op, _), value in counts.items()
        if src == source and op == operation
    )


# Answers --------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaError:
    """One ``emo:schemafout`` of a StUF055 foutbericht's detailsXML."""

    line: int | None
    path: str
    rule: str


@dataclass(frozen=True)
class Fault:
    """A SOAP 1.1 Fault with a StUF foutbericht in its detail."""

    status: int
    faultcode: str
    faultstring: str
    bericht: etree._Element  # the Fo01Bericht / Fo02Bericht / Fo03Bericht
    berichtcode: str
    code: str
    plek: str
    omschrijving: str
    details: str
    schema_errors: list[SchemaError] = field(default_factory=list)

    def stuurgegeven(self, path: str) -> str | None:
        """A stuurgegeven of the foutbericht: ``zender/applicatie``, ..."""
        element = self.bericht.find(
            "StUF:stuurgegevens/" + "/".join(f"StUF:{p}" for p in path.split("/")),
            {"StUF": NS_STUF},
        )
        return None if element is None else (element.text or "")


def is_fault(response: Response) -> bool:
    try:
        root = response.xml()
    except etree.XMLSyntaxError:
        return False
    return root.find(f"{{{NS_SOAP11}}}Body/{{{NS_SOAP11}}}Fault") is not None


def read_fault(response: Response) -> Fault:
    """The fault in ``response``; fails the test when it is not one."""
    assert_no_leak(response)
    try:
        root = response.xml()
    except etree.XMLSyntaxError as exc:
        pytest.fail(f"answer is not XML ({exc}): {response.body[:500]!r}")
    assert root.tag == f"{{{NS_SOAP11}}}Envelope", response.body[:500]
    fault = root.find(f"{{{NS_SOAP11}}}Body/{{{NS_SOAP11}}}Fault")
    assert fault is not None, f"no SOAP Fault in {response.body[:800]!r}"
    detail = fault.find("detail")
    assert detail is not None and len(detail) == 1, "detail holds one foutbericht"
    bericht = detail[0]
    s = {"StUF": NS_STUF}
    errors = [
        SchemaError(
            int(regel) if (regel := item.get("regel")) else None,
            item.get("pad", ""),
            item.text or "",
        )
        for item in bericht.iterfind(f"StUF:body/StUF:detailsXML/{{{NS_EMO_FOUT}}}*", s)
    ]
    return Fault(
        status=response.status,
        faultcode=fault.findtext("faultcode", ""),
        faultstring=fault.findtext("faultstring", ""),
        bericht=bericht,
        berichtcode=bericht.findtext("StUF:stuurgegevens/StUF:berichtcode", "", s),
        code=bericht.findtext("StUF:body/StUF:code", "", s),
        plek=bericht.findtext("StUF:body/StUF:plek", "", s),
        omschrijving=bericht.findtext("StUF:body/StUF:omschrijving", "", s),
        details=bericht.findtext("StUF:body/StUF:details", "", s),
        schema_errors=errors,
    )


def assert_no_leak(response: Response) -> None:
    """No traceback and no Python exception name in what the sender sees."""
    leaked = LEAK.search(response.body)
    assert leaked is None, f"answer leaks {leaked.group(0)!r}: {response.body[:1000]!r}"


@dataclass(frozen=True)
class Request:
    """What a foutbericht is checked against: the request's stuurgegevens."""

    berichtcode: str | None = None
    zender: Mapping[str, str] = field(default_factory=dict)
    ontvanger: Mapping[str, str] = field(default_factory=dict)
    referentienummer: str | None = None


def _by_local_name(element: etree._Element, local: str) -> etree._Element | None:
    return next((c for c in element.iterchildren("{*}" + local, local)), None)


def request_stuurgegevens(raw: bytes) -> Request:
    """The stuurgegevens of a request, found by local names (as sent, right
    namespace or not)."""
    root = etree.fromstring(raw, _SAFE_PARSER)
    stuurgegevens = next(root.iter("{*}stuurgegevens", "stuurgegevens"), None)
    if stuurgegevens is None:
        return Request()

    def text(path: str) -> str | None:
        element: etree._Element | None = stuurgegevens
        for step in path.split("/"):
            element = _by_local_name(element, step) if element is not None else None
        if element is None or not element.text or not element.text.strip():
            return None
        return element.text.strip()

    def party(name: str) -> dict[str, str]:
        fields = ("organisatie", "applicatie", "administratie", "gebruiker")
        return {f: v for f in fields if (v := text(f"{name}/{f}"))}

    # A message without a berichtcode is a kennisgeving, vraag or vrij
    # bericht by its name (edcLk01, ..._Di02): that is what the broker answers.
    parent = stuurgegevens.getparent()
    name = etree.QName(parent).localname if parent is not None else ""
    named = re.search(r"[A-Z][a-z]\d\d$", name)
    return Request(
        berichtcode=text("berichtcode") or (named[0] if named else None),
        zender=party("zender"),
        ontvanger=party("ontvanger"),
        referentienummer=text("referentienummer"),
    )


def expected_fo(berichtcode: str | None) -> str:
    """StUF 03.01: a kennisgeving or Di01 is refused with a Fo03, a vraag or
    Di02 (and anything whose berichtcode is unknown) with a Fo02."""
    if berichtcode and berichtcode[:2] in ("Lk", "Di", "Sa", "Sh"):
        return "Fo02" if berichtcode == "Di02" else "Fo03"
    return "Fo02"


def assert_fault(
    response: Response,
    code: str,
    *,
    official: SchemaRegistry,
    request: Request | None = None,
    plek: str | None = None,
    status: int = 500,
    faultcode: str | None = None,
) -> Fault:
    """Check a fault answer the way a StUF client would, and return it.

    HTTP ``status`` (500 for a SOAP Fault, SOAP 1.1 section 6.2), a text/xml
    SOAP 1.1 Fault whose faultcode follows the plek, the StUF ``code``, the
    Fo02 or Fo03 the request's berichtcode calls for (with zender and
    ontvanger swapped and the referentienummer as crossRefnummer for a Fo03),
    and a foutbericht that validates against the official StUF schema.
    """
    fault = read_fault(response)
    assert response.status == status, (response.status, fault)
    assert response.content_type.startswith("text/xml"), response.content_type
    assert fault.code == code, fault
    if plek is not None:
        assert fault.plek == plek, fault
    assert fault.plek in ("client", "server"), fault
    expected_code = faultcode or fault.plek.capitalize()
    assert fault.faultcode == f"soap:{expected_code}", fault
    assert fault.faultstring.startswith(code), fault.faultstring
    assert fault.omschrijving, "a foutbericht has an omschrijving"

    if request is not None:
        fo = expected_fo(request.berichtcode)
        applicatie = request.zender.get("applicatie") or ""
        if fo == "Fo03" and not 3 <= len(applicatie) <= 50:
            # A Fo03 is sent to the zender; one that StUF:Systeem cannot hold
            # (applicatie is 3 to 50 characters) leaves only the Fo02.
            fo = "Fo02"
        assert fault.berichtcode == fo, (fault.berichtcode, fo)
        assert etree.QName(fault.bericht).localname == f"{fo}Bericht"
        if fo == "Fo03":
            assert_swapped(fault, request)

    violations = official.validate(fault.bericht)
    assert violations == [], (
        "foutbericht breaks stuf0301.xsd: "
        + "; ".join(map(str, violations))
        + "\n"
        + etree.tostring(fault.bericht).decode()[:2000]
    )
    return fault


def assert_swapped(fault: Fault, request: Request) -> None:
    """StUF 03.01: an answer goes from the ontvanger to the zender, and names
    the referentienummer it answers as its crossRefnummer."""
    for name, value in request.zender.items():
        assert fault.stuurgegeven(f"ontvanger/{name}") == value, (name, fault)
    for name, value in request.ontvanger.items():
        assert fault.stuurgegeven(f"zender/{name}") == value, (name, fault)
    assert fault.stuurgegeven("crossRefnummer") == request.referentienummer
    assert fault.stuurgegeven("referentienummer"), "an answer has its own"


def assert_dispatched(response: Response, *, official: SchemaRegistry) -> Fault | None:
    """The message got past envelope, identification and validation.

    Without routes the dispatcher answers StUF040 (plek server, "Geen
    route"); with routes it may be an answer or a fault of the destination.
    Either way it is not a fault the broker gives before routing.
    """
    assert_no_leak(response)
    if not is_fault(response):
        assert response.status == 200, response
        return None
    fault = assert_fault(response, read_fault(response).code, official=official)
    assert fault.code not in PRE_DISPATCH_CODES, fault
    if fault.code == "StUF040":
        assert fault.plek == "server", f"StUF040 from identification: {fault}"
    return fault


# Real messages --------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A real request from the shared examples, with the SOAPAction its
    client sent."""

    path: Path
    soap_action: str

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def raw(self) -> bytes:
        return self.path.read_bytes()


def body_element(raw: bytes) -> etree._Element:
    root = etree.fromstring(raw, _SAFE_PARSER)
    body = root.find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    return next(child for child in body if isinstance(child.tag, str))


def soap_action_for(path: Path) -> str:
    """The SOAPAction a real client sends with this example.

    The gisvg-flow, regressions and error-handling files are named after
    their ZDS 1.1 operation (``creeerZaak_Lk01``; soapactions.txt lists
    GISvg's), the haarlem files speak ZDS 1.2, whose SOAPAction is the body
    element's name in the zds0120 namespace.
    """
    if path.parent.name == "haarlem":
        return ZDS12_ACTION + etree.QName(body_element(path.read_bytes())).localname
    stem = path.name.removesuffix(".request.xml")
    found = re.search(r"([a-z][A-Za-z]+_(?:Lk|Lv|Di)0\d)", stem)
    if found is None:
        # error-handling 01 to 04 are named after what is wrong with them
        # (03 is not even XML); the operation is in their body element.
        found = re.search(r"<(?:\w+:)?([a-z]\w+_(?:Lk|Lv|Di)0\d)\b", path.read_text())
        assert found is not None, path
    return ZKN_ACTION + found[1]


def examples(folder: str) -> list[Example]:
    paths = sorted((EXAMPLES / folder).glob("*.xml"))
    return [
        Example(path, soap_action_for(path))
        for path in paths
        if not path.name.endswith(".response.xml")
    ]


class HeldBackoffice(http.server.ThreadingHTTPServer):
    """An HTTP destination that holds each request until :attr:`let_go` is
    set: to catch the broker with a message under way."""

    answer = (
        f'<s:Envelope xmlns:s="{NS_SOAP11}"><s:Body><antwoord>traag maar zeker'
        "</antwoord></s:Body></s:Envelope>"
    ).encode()

    def __init__(self, wait: float = 30.0) -> None:
        self.arrived = threading.Event()
        self.let_go = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.arrived.set()
                server.let_go.wait(wait)
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(server.answer)))
                self.end_headers()
                self.wfile.write(server.answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def held_backoffice() -> Iterator[HeldBackoffice]:
    server = HeldBackoffice()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.let_go.set()
    server.shutdown()
    server.server_close()
