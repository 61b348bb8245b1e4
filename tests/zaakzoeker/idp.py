"""A real SAML 2.0 identity provider on 127.0.0.1 that plays DigiD, for tests.

pysaml2's ``Server`` reads the AuthnRequest (checking its redirect
signature with xmlsec1) and builds and signs the answer; a small WSGI app
served by wsgiref in a background thread puts a login form in front of it.
Keys and certificates are made per test with ``cryptography``. Usage::

    keys = make_sp_keys(tmp_path)
    settings = SamlSettings(..., sp_key_file=keys.key_file,
                            sp_cert_file=keys.cert_file,
                            idp_metadata_file=tmp_path / "idp.xml")
    sp_md = tmp_path / "sp.xml"
    sp_md.write_bytes(sp_metadata(settings))
    idp = start_idp(tmp_path, sp_md, {"burger1": "999993653"})
    # idp.metadata_path is tmp_path / "idp.xml" unless told otherwise
    ...
    idp.stop()

In a browser: ``begin()``'s URL shows a login page ("Gebruikersnaam", button
"Inloggen", or "Annuleren"); logging in answers with a page that POSTs the
signed SAMLResponse to the SP's ACS by itself (a ``noscript`` button
"Doorgaan" for browsers without JavaScript). Without a browser:
``idp.respond(url, "burger1")`` gives the same answer as an :class:`Antwoord`,
and its keyword arguments spoil it in one chosen way for refusal tests.

When the AuthnRequest asks for HTTP-Artifact (an SP with
``acs_binding="artifact"``, as DigiD works), logging in answers with a 303
to the ACS carrying ``SAMLart`` and ``RelayState``; the SP resolves it at
``/ars``.

Endpoints: ``/sso`` (HTTP-Redirect), ``/login`` (the form's POST),
``/ars`` (SOAP ArtifactResolve; the ArtifactResponse is signed),
``/slo`` (HTTP-Redirect LogoutRequest; answers with a signed LogoutResponse
redirect to the SP's SLS, or a page when the SP has none), ``/metadata``.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import html
import ipaddress
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypedDict, Unpack
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import (  # type: ignore[import-untyped]
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    BINDING_SOAP,
    VERSION,
    class_name,
    samlp,
)
from saml2.config import IdPConfig  # type: ignore[import-untyped]
from saml2.entity import create_artifact  # type: ignore[import-untyped]
from saml2.metadata import entity_descriptor  # type: ignore[import-untyped]
from saml2.s_utils import sid  # type: ignore[import-untyped]
from saml2.saml import (  # type: ignore[import-untyped]
    NAMEID_FORMAT_ENTITY,
    NAMEID_FORMAT_UNSPECIFIED,
    Issuer,
    NameID,
)
from saml2.server import Server  # type: ignore[import-untyped]
from saml2.sigver import (  # type: ignore[import-untyped]
    pre_signature_part,
    signed_instance_factory,
)
from saml2.soap import (  # type: ignore[import-untyped]
    parse_soap_enveloped_saml_artifact_resolve,
)
from saml2.time_util import (  # type: ignore[import-untyped]
    instant,
    str_to_time,
)
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # type: ignore[import-untyped]

from zaakzoeker.saml.answer import BSN_SECTOR
from zaakzoeker.saml.config import LEVELS

XMLSEC = "/usr/bin/xmlsec1"
_RANK = list(LEVELS)


class SpKeys(NamedTuple):
    key_file: Path
    cert_file: Path


class Knobs(TypedDict, total=False):
    """The ways :meth:`RunningIdp.respond` spoils an answer, each one way;
    a knob left out answers as a real IdP would.

    ``level`` a DigiD level name to claim; ``shift`` moves every time in
    the answer (negative: issued in the past, so expired); ``audience``
    another SP's entity id in the AudienceRestriction; ``name_id`` the
    NameID text instead of "s00000000:<BSN>" (None leaves the Subject
    without NameID); ``attributes`` added to an AttributeStatement;
    ``in_response_to`` another request id (None: unsolicited);
    ``sign_assertion=False`` signs the Response only.
    """

    level: str
    shift: datetime.timedelta
    audience: str
    name_id: str | None
    attributes: Mapping[str, list[str]]
    in_response_to: str | None
    sign_assertion: bool


@dataclass(frozen=True)
class Antwoord:
    """What the IdP sends the browser back to the SP's ACS with.

    ``saml_response`` is the signed Response (base64), POSTed as is for an
    SP with an HTTP-POST ACS. For an SP whose AuthnRequest asked for
    HTTP-Artifact, ``saml_art`` is the artifact the browser carries instead;
    the SP gets the same Response from ``/ars``. The IdP keeps it in
    :attr:`RunningIdp.artifacts` until resolved, where tests may spoil it.
    """

    saml_response: str
    relay_state: str
    acs_url: str
    saml_art: str | None = None


def make_keys(folder: Path, name: str) -> SpKeys:
    """An RSA key and a self-signed certificate (one day) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        # Also a TLS server certificate for the IdP on 127.0.0.1.
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_file = folder / f"{name}.key"
    cert_file = folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SpKeys(key_file, cert_file)


def make_sp_keys(tmp_path: Path) -> SpKeys:
    """The service provider's signing key and certificate, under tmp_path/sp."""
    return make_keys(tmp_path / "sp", "sp")


@dataclass
class RunningIdp:
    """A started IdP. Tests may change ``users`` and ``level`` at any time.

    ``level``: None answers with the level the AuthnRequest asked for
    (DigiD's behaviour when the citizen can reach it); a level name forces
    that level, e.g. "basis" to test a refusal.
    ``authn_requests`` and ``logout_requests`` keep every request the IdP
    accepted (pysaml2 message objects), newest last. ``artifacts`` maps each
    artifact not yet resolved to the Response XML it stands for (DigiD
    hands out each artifact once).
    """

    url: str
    entity_id: str
    metadata_path: Path
    users: dict[str, str]
    level: str | None
    server: Any
    tls_cert: Path
    authn_requests: list[Any] = field(default_factory=list)
    logout_requests: list[Any] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    _httpd: WSGIServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def respond(
        self, redirect_url: str, username: str, **knobs: Unpack[Knobs]
    ) -> Antwoord:
        """Log ``username`` in for the AuthnRequest in ``redirect_url``;
        the :class:`Knobs` given spoil the answer."""
        query = _query(urlsplit(redirect_url).query)
        request = self._authn_request(query)
        return self._answer(request, query.get("RelayState", ""), username, **knobs)

    def cancel(self, redirect_url: str) -> Antwoord:
        """The signed AuthnFailed answer DigiD sends when the citizen cancels."""
        query = _query(urlsplit(redirect_url).query)
        return self._cancelled(self._authn_request(query), query.get("RelayState", ""))

    # -- the IdP's work -----------------------------------------------------

    def _authn_request(self, query: Mapping[str, str]) -> Any:
        with self._lock:
            parsed = self.server.parse_authn_request(
                query["SAMLRequest"], BINDING_HTTP_REDIRECT, **_signed(query)
            )
            self.authn_requests.append(parsed.message)
            return parsed.message

    def _answer(
        self, request: Any, relay_state: str, username: str, **knobs: Unpack[Knobs]
    ) -> Antwoord:
        bsn = self.users[username]
        claimed = knobs.get("level") or self.level or _requested_level(request)
        args = self._response_args(request)
        name_id = knobs.get("name_id", BSN_SECTOR + bsn)
        subject = (
            None
            if name_id is None
            else NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=name_id)
        )
        with self._lock:
            response = self.server.create_authn_response(
                identity=dict(knobs.get("attributes", {})),
                in_response_to=args["in_response_to"],
                destination=args["destination"],
                sp_entity_id=args["sp_entity_id"],
                # Without a NameID pysaml2 would invent one; a placeholder
                # is made and taken out again below.
                name_id=subject or NameID(text="placeholder"),
                authn={"class_ref": LEVELS[claimed], "authn_auth": self.entity_id},
                sign_response=False,
                sign_assertion=False,
            )
            assertion = response.assertion
            if subject is None:
                assertion.subject.name_id = None
            if "audience" in knobs:
                restriction = assertion.conditions.audience_restriction[0]
                restriction.audience[0].text = knobs["audience"]
            if "in_response_to" in knobs:
                in_response_to = knobs["in_response_to"]
                response.in_response_to = in_response_to
                for confirmation in assertion.subject.subject_confirmation:
                    confirmation.subject_confirmation_data.in_response_to = (
                        in_response_to
                    )
            if knobs.get("shift"):
                _shift_times(response, knobs["shift"])
            xml = self._sign(response, knobs.get("sign_assertion", True))
        return self._antwoord(request, args, relay_state, xml)

    def _cancelled(self, request: Any, relay_state: str) -> Antwoord:
        args = self._response_args(request)
        with self._lock:
            response = self.server.create_error_response(
                args["in_response_to"],
                args["destination"],
                (
                    samlp.STATUS_AUTHN_FAILED,
                    "De gebruiker heeft het inloggen afgebroken",
                ),
                sign=True,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
        return self._antwoord(request, args, relay_state, str(response))

    def _response_args(self, request: Any) -> dict[str, Any]:
        """Where and to whom the answer to ``request`` goes."""
        args: dict[str, Any] = self.server.response_args(
            request, [BINDING_HTTP_POST, BINDING_HTTP_ARTIFACT]
        )
        return args

    def _antwoord(
        self, request: Any, args: Mapping[str, Any], relay_state: str, xml: str
    ) -> Antwoord:
        """The signed answer ``xml`` as the browser carries it back."""
        return Antwoord(
            saml_response=base64.b64encode(xml.encode("utf-8")).decode("ascii"),
            relay_state=relay_state,
            acs_url=args["destination"],
            saml_art=self._artifact(request, xml),
        )

    def _artifact(self, request: Any, xml: str) -> str | None:
        """An artifact for the answer, when the SP asked for HTTP-Artifact."""
        if request.protocol_binding != BINDING_HTTP_ARTIFACT:
            return None
        handle = hashlib.sha1(xml.encode("utf-8") + os.urandom(8)).digest()
        saml_art = str(create_artifact(self.entity_id, handle, 0))
        self.artifacts[saml_art] = xml
        return saml_art

    def _sign(self, response: Any, sign_assertion: bool) -> str:
        # The assertion first, then the Response around it: the Response's
        # digest covers the assertion's signature.
        parts = [(response.assertion, 1)] if sign_assertion else []
        parts.append((response, 2))
        for part, number in parts:
            part.signature = self._signature(part.id, number)
        to_sign = [(class_name(part), part.id) for part, _number in parts]
        return str(signed_instance_factory(response, self.server.sec, to_sign))

    def _signature(self, element_id: str, number: int) -> Any:
        """An empty Signature (RSA-SHA256, this IdP's certificate) for the
        element ``element_id``, to be filled in by signing; its Id is
        "Signature<number>"."""
        return pre_signature_part(
            element_id,
            self.server.sec.my_cert,
            number,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )

    def _resolve(self, envelope: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Answer a SOAP ArtifactResolve with a signed ArtifactResponse."""
        with self._lock:
            xml = parse_soap_enveloped_saml_artifact_resolve(envelope)
            resolve = self.server.sec.correctly_signed_message(
                xml, "artifact_resolve", must=True
            )
            message = self.artifacts.pop(resolve.artifact.text, None)
            answer = samlp.ArtifactResponse(
                id=sid(),
                version=VERSION,
                issue_instant=instant(),
                in_response_to=resolve.id,
                issuer=Issuer(text=self.entity_id, format=NAMEID_FORMAT_ENTITY),
                status=samlp.Status(
                    status_code=samlp.StatusCode(value=samlp.STATUS_SUCCESS)
                ),
            )
            answer.signature = self._signature(answer.id, 3)
            # SAML bindings 3.6.6: an unknown or used artifact gets a
            # Success without a message inside.
            text = answer.to_string().decode("utf-8")
            if message is not None:
                inner = message.split("?>", 1)[-1]
                closing = text.rindex("</")
                text = text[:closing] + inner + text[closing:]
            signed = self.server.sec.sign_statement(
                text, class_name(answer), node_id=answer.id
            )
        body = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<soap:Body>{signed.split('?>', 1)[-1]}</soap:Body></soap:Envelope>"
        )
        return "200 OK", [("Content-Type", "text/xml")], body.encode("utf-8")

    def _logout(
        self, query: Mapping[str, str]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        with self._lock:
            parsed = self.server.parse_logout_request(
                query["SAMLRequest"], BINDING_HTTP_REDIRECT, **_signed(query)
            )
            request = parsed.message
            self.logout_requests.append(request)
            sp = request.issuer.text
            try:
                services = self.server.metadata.single_logout_service(
                    sp, BINDING_HTTP_REDIRECT, "spsso"
                )
            except Exception:
                services = []
            if not services:
                return _page("Uitgelogd", "<p>U bent uitgelogd bij DigiD (test).</p>")
            response = self.server.create_logout_response(
                request, [BINDING_HTTP_REDIRECT], sign=False
            )
            http_info = self.server.apply_binding(
                BINDING_HTTP_REDIRECT,
                str(response),
                services[0]["location"],
                query.get("RelayState", ""),
                response=True,
                sign=True,
                sigalg=SIG_RSA_SHA256,
            )
        location = dict(http_info["headers"])["Location"]
        return "302 Found", [("Location", location)], b""

    # -- HTTP ---------------------------------------------------------------

    def app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/metadata":
                status, headers, body = (
                    "200 OK",
                    [("Content-Type", "application/samlmetadata+xml")],
                    self.metadata_path.read_bytes(),
                )
            elif path == "/sso" and method == "GET":
                query = _query(environ.get("QUERY_STRING", ""))
                self._authn_request(query)
                status, headers, body = self._login_form(query, "")
            elif path == "/login" and method == "POST":
                status, headers, body = self._login(_form(environ))
            elif path == "/ars" and method == "POST":
                status, headers, body = self._resolve(_body(environ))
            elif path == "/slo" and method == "GET":
                status, headers, body = self._logout(
                    _query(environ.get("QUERY_STRING", ""))
                )
            else:
                status, headers, body = _page(
                    "Niet gevonden", "<p>Onbekend adres.</p>", "404 Not Found"
                )
        except Exception as exc:  # a test IdP says what went wrong, in the page
            status, headers, body = _page(
                "Fout",
                f"<p>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>",
                "400 Bad Request",
            )
        start_response(status, headers)
        return [body]

    def _login_form(
        self, query: Mapping[str, str], error: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
            if k in ("SAMLRequest", "RelayState", "SigAlg", "Signature")
        )
        message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
        body = (
            f"{message}"
            '<form method="post" action="/login">'
            f"{hidden}"
            '<label for="gebruikersnaam">Gebruikersnaam</label> '
            '<input id="gebruikersnaam" name="gebruikersnaam" autocomplete="username"> '
            '<button type="submit" name="actie" value="inloggen">Inloggen</button> '
            '<button type="submit" name="actie" value="annuleren">Annuleren</button>'
            "</form>"
        )
        return _page("DigiD (test): inloggen", body)

    def _login(
        self, form: Mapping[str, str]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        request = self._authn_request(form)
        relay_state = form.get("RelayState", "")
        if form.get("actie") == "annuleren":
            antwoord = self._cancelled(request, relay_state)
        else:
            username = form.get("gebruikersnaam", "").strip()
            if username not in self.users:
                return self._login_form(form, "Onbekende gebruikersnaam.")
            antwoord = self._answer(request, relay_state, username)
        if antwoord.saml_art is not None:
            # HTTP-Artifact binding (SAML bindings 3.6.3): the browser only
            # carries the reference, by a redirect.
            query = urlencode({"SAMLart": antwoord.saml_art, "RelayState": relay_state})
            location = f"{antwoord.acs_url}?{query}"
            return "303 See Other", [("Location", location)], b""
        acs = html.escape(antwoord.acs_url)
        relay_state = html.escape(antwoord.relay_state)
        body = (
            f'<form method="post" action="{acs}">'
            '<input type="hidden" name="SAMLResponse" '
            f'value="{antwoord.saml_response}">'
            f'<input type="hidden" name="RelayState" value="{relay_state}">'
            '<noscript><button type="submit">Doorgaan</button></noscript>'
            "</form>"
            "<script>document.forms[0].submit()</script>"
        )
        return _page("DigiD (test): doorsturen", body)


def start_idp(
    tmp_path: Path,
    sp_metadata_path: Path,
    users: Mapping[str, str],
    *,
    level: str | None = None,
    metadata_path: Path | None = None,
    host: str = "127.0.0.1",
    pose_as: str | None = None,
    slo: bool = True,
    tls_client_ca: Path | None = None,
) -> RunningIdp:
    """Start the IdP on a free port of 127.0.0.1 and write its metadata.

    ``users`` maps a login name to a BSN. ``metadata_path`` defaults to
    ``tmp_path / "idp.xml"``. ``host`` is the name in the IdP's URLs:
    "localhost" makes it another site than an SP on 127.0.0.1, as DigiD is
    for a municipality (SameSite cookies!). ``pose_as``, the URL of another
    running IdP, makes this one claim that IdP's entity id and endpoints
    while signing with its own key: an impostor, for use through
    :meth:`RunningIdp.respond`. ``slo=False`` leaves SingleLogoutService out.
    ``tls_client_ca`` serves HTTPS instead, demanding a client certificate
    issued by that CA file (the SP's own certificate will do); the IdP's
    certificate, ``RunningIdp.tls_cert``, is then what the SP must trust.
    """
    folder = tmp_path / f"idp-{sid()[:8]}"
    keys = make_keys(folder, "idp")
    httpd = make_server("127.0.0.1", 0, _NotYet(), handler_class=_Quiet)
    scheme = "http"
    if tls_client_ca is not None:
        # Two-way TLS, as DigiD's artifact resolution service demands:
        # only a client with a certificate from tls_client_ca gets in.
        context = ssl.create_default_context(
            ssl.Purpose.CLIENT_AUTH, cafile=str(tls_client_ca)
        )
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(keys.cert_file, keys.key_file)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    url = pose_as or f"{scheme}://{host}:{httpd.server_port}"
    entity = f"{url}/metadata"
    endpoints: dict[str, list[tuple[str, ...]]] = {
        "single_sign_on_service": [(f"{url}/sso", BINDING_HTTP_REDIRECT)],
        "artifact_resolution_service": [(f"{url}/ars", BINDING_SOAP, "0")],
    }
    if slo:
        endpoints["single_logout_service"] = [(f"{url}/slo", BINDING_HTTP_REDIRECT)]
    config = IdPConfig().load(
        {
            "entityid": entity,
            "xmlsec_binary": XMLSEC,
            "key_file": str(keys.key_file),
            "cert_file": str(keys.cert_file),
            "metadata": {"local": [str(sp_metadata_path)]},
            "service": {
                "idp": {
                    "endpoints": endpoints,
                    "want_authn_requests_signed": True,
                    "policy": {"default": {"lifetime": {"minutes": 15}}},
                }
            },
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
        }
    )
    path = metadata_path or tmp_path / "idp.xml"
    path.write_text(str(entity_descriptor(config)), encoding="utf-8")
    idp = RunningIdp(
        url=url,
        entity_id=entity,
        metadata_path=path,
        users=dict(users),
        level=level,
        server=Server(config=config),
        tls_cert=keys.cert_file,
    )
    httpd.set_app(idp.app)
    thread = threading.Thread(target=httpd.serve_forever, name="test-idp", daemon=True)
    thread.start()
    idp._httpd, idp._thread = httpd, thread
    return idp


# -- helpers ---------------------------------------------------------------


def _requested_level(request: Any) -> str:
    context = request.requested_authn_context
    if context is None:
        return "midden"
    refs = [ref.text for ref in context.authn_context_class_ref]
    names = [name for name, ref in LEVELS.items() if ref in refs]
    return min(names, key=_RANK.index) if names else "midden"


def _shift_times(response: Any, shift: datetime.timedelta) -> None:
    assertion = response.assertion
    response.issue_instant = _moved(response.issue_instant, shift)
    assertion.issue_instant = _moved(assertion.issue_instant, shift)
    conditions = assertion.conditions
    conditions.not_before = _moved(conditions.not_before, shift)
    conditions.not_on_or_after = _moved(conditions.not_on_or_after, shift)
    for statement in assertion.authn_statement:
        statement.authn_instant = _moved(statement.authn_instant, shift)
    for confirmation in assertion.subject.subject_confirmation:
        data = confirmation.subject_confirmation_data
        data.not_before = _moved(data.not_before, shift)
        data.not_on_or_after = _moved(data.not_on_or_after, shift)


def _moved(instant: str | None, shift: datetime.timedelta) -> str | None:
    if not instant:
        return instant
    parsed = datetime.datetime.fromtimestamp(
        calendar.timegm(str_to_time(instant)), datetime.UTC
    )
    return (parsed + shift).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signed(query: Mapping[str, str]) -> dict[str, str | None]:
    """The HTTP-Redirect binding's RelayState and signature from a query,
    as pysaml2's parse_*_request takes them."""
    return {
        "relay_state": query.get("RelayState"),
        "sigalg": query.get("SigAlg"),
        "signature": query.get("Signature"),
    }


def _query(text: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _body(environ: Mapping[str, Any]) -> str:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return str(environ["wsgi.input"].read(length).decode("utf-8"))


def _form(environ: Mapping[str, Any]) -> dict[str, str]:
    return _query(_body(environ))


def _page(
    title: str, body: str, status: str = "200 OK"
) -> tuple[str, list[tuple[str, str]], bytes]:
    text = (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return status, [("Content-Type", "text/html; charset=utf-8")], text.encode("utf-8")


class _NotYet:
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"starting"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # wsgiref prints each request line; the query strings hold SAML
        # messages and make test output unreadable.
        pass
