"""The zaakzoeker's pages: login, the employees' search, the citizens' zaken.

Routes (under ``/zaakzoeker`` in the broker)::

    GET  /                         to the right start page, or to the login
    GET  /inloggen, POST           local accounts; DigiD and SAML buttons
    POST /uitloggen                ends the session (and at the IdP, if it can)
    GET  /uitgelogd                says so
    POST /digid/login              to DigiD; the request id goes in the session
    GET  /digid/acs?SAMLart=       DigiD's answer by artifact (binding:
                                   artifact, the default): resolved with DigiD
    POST /digid/acs                DigiD's answer posted (binding: post;
                                   CSRF-exempt: checked by InResponseTo
                                   against the session instead)
    GET  /digid/metadata           the service provider's metadata
    GET  /digid/logout             where DigiD sends the browser after logout
    ...  /saml/...                 the same for employees' SAML
    GET  /zoeken, POST             employees: search form and results
    GET  /zaken/<id>               employees: one zaak
    GET  /zaken/<id>/documenten/<doc>           employees: a document
    GET  /mijn-zaken               citizens: their zaken
    GET  /mijn-zaken/<id>          citizens: one of their zaken
    GET  /mijn-zaken/<id>/documenten/<doc>      citizens: a document

A search's filters are posted and kept in the session, and the result pages
link by page and sort order only, so a BSN searched for never appears in a
URL (and so never in a browser history, a proxy log or a Referer). A zaak
someone may not see answers exactly as a zaak that does not exist: 404.

Decisions on what is shown:

- employees see a betrokkene's BSN masked to its last three digits (enough
  to tell two persons apart on one zaak; the full number stays in the
  backoffice, data minimisation);
- employees without the role ``vertrouwelijk`` (or ``beheerder``) see no
  confidential zaak and no confidential document (what is confidential is
  :func:`zaakzoeker.results.is_vertrouwelijk`'s to say);
- citizens see no betrokkenen but their own role, and only documents marked
  OPENBAAR, BEPERKT OPENBAAR or ZAAKVERTROUWELIJK (a document without a
  vertrouwelijkAanduiding is not shown: nobody said the citizen may see it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeGuard, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_wtf.csrf import (  # type: ignore[import-untyped]
    CSRFError,
    CSRFProtect,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from zaakzoeker import accounts, search
from zaakzoeker.app import Zaakzoeker
from zaakzoeker.results import DocumentInfo, Pagina, ZaakDetail
from zaakzoeker.search import SORTS, Filters, Ongeldig
from zaakzoeker.sessions import BSN, GEBRUIKER, ROLLEN, ServerSession
from zaakzoeker.settings import ROLLEN as ALLE_ROLLEN
from zaakzoeker.settings import SamlSectie

log = Logger(namespace="zaakzoeker")

bp = Blueprint("pages", __name__)

PER_PAGINA = 25
DOCUMENTEN_VOOR_BURGER = frozenset(
    {"OPENBAAR", "BEPERKT OPENBAAR", "ZAAKVERTROUWELIJK"}
)
ROL_VOOR_BURGER = {
    "Initiator": "aanvrager",
    "Belanghebbende": "belanghebbende",
    "Gemachtigde": "gemachtigde",
    "Medeinitiator": "mede-aanvrager",
    "OverigBetrokkene": "betrokkene",
}
MAANDEN = (
    "januari februari maart april mei juni juli augustus september oktober "
    "november december"
).split()
_CONTENT_TYPE = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+", re.I)

View = TypeVar("View", bound=Callable[..., Any])


def state() -> Zaakzoeker:
    return cast(Zaakzoeker, current_app.extensions["zaakzoeker"])


def _session() -> ServerSession:
    return cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]


# Who is logged in -------------------------------------------------------------


def medewerker_rollen() -> list[str] | None:
    """The logged-in employee's roles, or None."""
    if not session.get(GEBRUIKER):
        return None
    return [rol for rol in session.get(ROLLEN) or [] if rol in ALLE_ROLLEN]


def mag_vertrouwelijk() -> bool:
    return any(accounts.mag_vertrouwelijk(rol) for rol in medewerker_rollen() or [])


def medewerker_nodig(view: View) -> View:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not medewerker_rollen():
            return redirect(url_for("pages.inloggen"), 303)
        return view(*args, **kwargs)

    return cast(View, guarded)


def burger_nodig(view: View) -> View:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not session.get(BSN):
            return redirect(url_for("pages.inloggen"), 303)
        return view(*args, **kwargs)

    return cast(View, guarded)


@bp.get("/")
def start() -> BaseResponse:
    if medewerker_rollen():
        return redirect(url_for("pages.zoeken"), 303)
    if session.get(BSN):
        return redirect(url_for("pages.mijn_zaken"), 303)
    return redirect(url_for("pages.inloggen"), 303)


# Local login ------------------------------------------------------------------


@bp.route("/inloggen", methods=["GET", "POST"])
def inloggen() -> Any:
    fouten: dict[str, str] = {}
    naam = ""
    status = 400
    if request.method == "POST":
        naam = request.form.get("naam", "").strip()
        wachtwoord = request.form.get("wachtwoord", "")
        if not naam:
            fouten["naam"] = "Vul uw gebruikersnaam in."
        if not wachtwoord:
            fouten["wachtwoord"] = "Vul uw wachtwoord in."
        pogingen = state().pogingen
        if not fouten and pogingen.geblokkeerd(naam):
            log.info("Local login refused: too many failures for the name")
            status = 429
            fouten["wachtwoord"] = (
                "Te veel mislukte pogingen met deze gebruikersnaam. "
                "Probeer het over een kwartier opnieuw."
            )
        elif not fouten:
            account = accounts.verify(state().engine, naam, wachtwoord)
            if account is not None:
                pogingen.gelukt(naam)
                _login_medewerker(account.naam, [account.rol], via="lokaal")
                log.info("Employee logged in (local account)")
                return redirect(url_for("pages.zoeken"), 303)
            pogingen.mislukt(naam)
            log.info("Local login refused")
            fouten["wachtwoord"] = "Gebruikersnaam of wachtwoord klopt niet."
    return _page(
        "inloggen.html",
        status if fouten else 200,
        titel="Inloggen",
        fouten=fouten,
        naam=naam,
        digid=state().digid is not None,
        saml=state().medewerkers_saml is not None,
    )


def _login_medewerker(
    naam: str, rollen: list[str], *, via: str, saml: dict[str, Any] | None = None
) -> None:
    current = _session()
    current.renew()
    current[GEBRUIKER] = naam
    current[ROLLEN] = rollen
    current["via"] = via
    if saml is not None:
        current["saml"] = saml


@bp.post("/uitloggen")
def uitloggen() -> BaseResponse:
    current = _session()
    opgeslagen = current.get("saml")
    bsn = current.get(BSN)
    current.end()
    if isinstance(opgeslagen, dict):
        login = _saml_login(str(opgeslagen.get("soort")))
        if login is not None:
            from zaakzoeker.saml.answer import SamlIdentity

            identity = SamlIdentity(
                name_id=str(opgeslagen["name_id"]).replace("{bsn}", bsn or ""),
                bsn=bsn,
                level=str(opgeslagen.get("level", "")),
                attributes={},
                session_index=opgeslagen.get("session_index"),
                name_id_format=opgeslagen.get("name_id_format"),
            )
            try:
                target = login.logout(identity)
            except Exception as exc:  # the session is gone; say so, go on
                log.warn("SAML logout request failed: {error}", error=type(exc))
                target = None
            if target:
                return redirect(target, 303)
    return redirect(url_for("pages.uitgelogd"), 303)


@bp.get("/uitgelogd")
def uitgelogd() -> Response:
    return _page("uitgelogd.html", titel="U bent uitgelogd")


# SAML: DigiD for citizens, the municipality's IdP for employees ---------------

SAML_SOORTEN = {"digid": "digid", "saml": "medewerkers_saml"}


def _saml_login(soort: str) -> Any | None:
    attribute = SAML_SOORTEN.get(soort)
    return getattr(state(), attribute) if attribute else None


def _saml_or_404(soort: str) -> Any:
    login = _saml_login(soort)
    if login is None:
        abort(404)
    return login


def _sectie(soort: str) -> SamlSectie:
    settings = state().settings
    sectie = settings.digid if soort == "digid" else settings.medewerkers_saml
    if sectie is None:
        abort(404)
    return sectie


@bp.post("/<any(digid, saml):soort>/login")
def saml_login(soort: str) -> BaseResponse:
    from zaakzoeker.saml.errors import SamlFout

    login = _saml_or_404(soort)
    try:
        url, request_id = login.begin()
    except SamlFout as exc:
        return _page("fout.html", 503, titel="Inloggen lukt nu niet", melding=str(exc))
    current = _session()
    current["saml_verzoek"] = {"soort": soort, "id": request_id}
    if _sectie(soort).binding == "post":
        # The IdP's page posts the answer from its own site, and the
        # SameSite=Lax session cookie stays home on a cross-site POST: the
        # session id goes along in a second cookie for the ACS only. An
        # artifact comes back by a top-level GET, which carries Lax cookies.
        current.acs_path = f"/{soort}/acs"
    return redirect(url, 303)


@bp.post("/<any(digid, saml):soort>/acs")
def saml_acs(soort: str) -> Any:
    login = _saml_or_404(soort)
    if _sectie(soort).binding != "post":
        abort(405, valid_methods=["GET"])
    verzoek = _session().pop("saml_verzoek", None)
    if not _verzoek_van(verzoek, soort):
        return _inlog_fout(_GEEN_VERZOEK)
    antwoord = request.form.get("SAMLResponse", "")
    if not antwoord:
        return _inlog_fout("Het antwoord van de inlogdienst ontbreekt.")
    return _ingelogd(soort, lambda: login.finish(antwoord, str(verzoek["id"])))


@bp.get("/<any(digid, saml):soort>/acs")
def saml_acs_artifact(soort: str) -> Any:
    """The HTTP-Artifact binding (SAML bindings 3.6): the IdP sends the
    browser back with a SAMLart only; the answer itself is fetched from the
    IdP over a back channel, so it never passes the browser."""
    login = _saml_or_404(soort)
    if _sectie(soort).binding != "artifact":
        abort(405, valid_methods=["POST"])
    verzoek = _session().pop("saml_verzoek", None)
    if not _verzoek_van(verzoek, soort):
        # Not resolved: the artifact stays usable for the browser that did
        # start this login, should it have been sent here by someone else.
        return _inlog_fout(_GEEN_VERZOEK)
    artefact = request.args.get("SAMLart", "")
    if not artefact:
        return _inlog_fout("Het antwoord van de inlogdienst ontbreekt.")
    return _ingelogd(soort, lambda: login.finish_artifact(artefact, str(verzoek["id"])))


_GEEN_VERZOEK = (
    "Er loopt geen inlogpoging vanuit deze browser (of die is verlopen). Begin opnieuw."
)
# What a refusal means for the person in front of the screen, by
# SamlFout.reden; other refusals show SamlFout's own text.
_UITLEG = {
    "artefact": (
        502,
        "{dienst} is nu niet bereikbaar, zodat het inloggen niet kon worden "
        "afgerond. Probeer het over een paar minuten opnieuw.",
    ),
    "geannuleerd": (400, "Het inloggen bij {dienst} is afgebroken of mislukt."),
    "herhaald": (
        400,
        "Deze inlogpoging is al afgerond en kan niet nog eens worden gebruikt. "
        "Log opnieuw in.",
    ),
}

# An artifact the IdP does not (or no longer) know comes back as an empty
# answer (SAML bindings 3.6.6), which SamlFout calls "ongeldig".
_UITLEG_ARTEFACT = {
    "ongeldig": (
        400,
        "{dienst} kende deze inlogpoging niet (meer); misschien is deze link al "
        "eens gebruikt. Log opnieuw in.",
    ),
}


def _verzoek_van(verzoek: object, soort: str) -> TypeGuard[dict[str, Any]]:
    """Whether the session's pending SAML request is one for ``soort``."""
    return (
        isinstance(verzoek, dict)
        and verzoek.get("soort") == soort
        and bool(verzoek.get("id"))
    )


def _ingelogd(
    soort: str,
    finish: Callable[[], Any],
    uitleg_bij: Mapping[str, tuple[int, str]] | None = None,
) -> Any:
    """Check the IdP's answer with ``finish`` and log the person in;
    ``uitleg_bij`` adds explanations of refusals to :data:`_UITLEG`."""
    from zaakzoeker.saml.errors import SamlFout

    try:
        identity = finish()
    except SamlFout as exc:
        reden = getattr(exc, "reden", "-")
        log.info("SAML login refused: {reden}", reden=reden)
        uitleg = (uitleg_bij or {}).get(reden) or _UITLEG.get(reden)
        if uitleg is None:
            return _inlog_fout(f"{exc} Log opnieuw in.")
        status, tekst = uitleg
        dienst = "DigiD" if soort == "digid" else "de inlogdienst van de gemeente"
        zin = tekst.format(dienst=dienst)
        return _inlog_fout(zin[:1].upper() + zin[1:], status)

    current = _session()
    bewaard = {
        "soort": soort,
        "level": identity.level,
        "session_index": identity.session_index,
        "name_id_format": getattr(identity, "name_id_format", None),
        # DigiD's NameID holds the BSN; it stays in the bsn column only.
        "name_id": identity.name_id.replace(identity.bsn, "{bsn}")
        if identity.bsn
        else identity.name_id,
    }
    if soort == "digid":
        if not identity.bsn:
            return _inlog_fout("DigiD gaf geen burgerservicenummer door.")
        current.renew()
        current[BSN] = identity.bsn
        current["saml"] = bewaard
        log.info("Citizen logged in with DigiD, level {niveau}", niveau=identity.level)
        return redirect(url_for("pages.mijn_zaken"), 303)

    sectie = state().settings.medewerkers_saml
    attribuut = (sectie.rollen_attribuut if sectie else None) or "rollen"
    gegeven = {
        woord
        for waarde in identity.attributes.get(attribuut, [])
        for woord in str(waarde).split()
    }
    rollen = [rol for rol in ALLE_ROLLEN if rol in gegeven]
    if not rollen:
        log.info("SAML employee login without a zaakzoeker role refused")
        return _inlog_fout(
            "U bent wel ingelogd, maar heeft geen rol in de zaakzoeker. "
            "Vraag uw beheerder om de rol medewerker."
        )
    _login_medewerker(identity.name_id[:200], rollen, via="saml", saml=bewaard)
    log.info("Employee logged in with SAML")
    return redirect(url_for("pages.zoeken"), 303)


def _inlog_fout(melding: str, status: int = 400) -> Response:
    return _page(
        "inloggen.html",
        status,
        titel="Inloggen is niet gelukt",
        melding=melding,
        fouten={},
        naam="",
        digid=state().digid is not None,
        saml=state().medewerkers_saml is not None,
    )


@bp.get("/<any(digid, saml):soort>/metadata")
def saml_metadata(soort: str) -> Response:
    login = _saml_or_404(soort)
    return Response(login.metadata(), mimetype="application/samlmetadata+xml")


@bp.get("/<any(digid, saml):soort>/logout")
def saml_logout(soort: str) -> BaseResponse:
    # The IdP sends the browser back here after its single logout; the
    # session here ended before the browser went there.
    _saml_or_404(soort)
    _session().end()
    return redirect(url_for("pages.uitgelogd"), 303)


# Employees: search --------------------------------------------------------------

VELDEN = ("identificatie", "bsn", "kvk", "zaaktype", "status", "van", "tot", "tekst")
KOLOMMEN = (
    ("identificatie", "Zaak", "identificatie"),
    ("omschrijving", "Omschrijving", None),
    ("zaaktype", "Zaaktype", "zaaktype"),
    ("status", "Status", None),
    ("startdatum", "Startdatum", "startdatum"),
    ("einddatum_gepland", "Gepland klaar", "einddatum_gepland"),
)


@dataclass(frozen=True)
class Kolom:
    label: str
    href: str | None
    aria_sort: str | None


def _datum_veld(veld: str, tekst: str, fouten: dict[str, str]) -> date | None:
    if not tekst:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", tekst):
            return date.fromisoformat(tekst)
        found = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})", tekst)
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
    except ValueError:
        pass
    fouten[veld] = "Vul een datum in als dd-mm-jjjj, bijvoorbeeld 01-03-2025."
    return None


def _filters(waarden: dict[str, str], fouten: dict[str, str]) -> Filters:
    van = _datum_veld("van", waarden.get("van", ""), fouten)
    tot = _datum_veld("tot", waarden.get("tot", ""), fouten)
    if van and tot and van > tot:
        fouten["tot"] = "De einddatum ligt vóór de begindatum."
    return Filters(
        identificatie=waarden.get("identificatie") or None,
        bsn=waarden.get("bsn") or None,
        kvk=waarden.get("kvk") or None,
        zaaktype=waarden.get("zaaktype") or None,
        status=waarden.get("status") or None,
        van=van,
        tot=tot,
        tekst=waarden.get("tekst") or None,
        vertrouwelijk=mag_vertrouwelijk(),
    )


LABELS = {
    "identificatie": "Het zaaknummer",
    "bsn": "Het BSN",
    "kvk": "Het KvK-nummer",
    "zaaktype": "Het zaaktype",
    "status": "De status",
    "van": "De begindatum",
    "tot": "De einddatum",
    "tekst": "De zoektekst",
}


def _ongeldig(exc: Ongeldig) -> tuple[str, str]:
    """The field and a sentence for a search the Zoeker refused (its reden
    continues the field's name: "moet uit 9 cijfers bestaan")."""
    if exc.veld in LABELS:
        return exc.veld, f"{LABELS[exc.veld]} {exc.reden}."
    return "algemeen", f"Deze zoekopdracht kan niet: {exc.veld} {exc.reden}."


@bp.route("/zoeken", methods=["GET", "POST"])
@medewerker_nodig
def zoeken() -> Any:
    current = _session()
    if request.method == "POST":
        if "wissen" in request.form:
            current.pop("zoekopdracht", None)
        else:
            current["zoekopdracht"] = {
                veld: request.form.get(veld, "").strip()[:200] for veld in VELDEN
            }
        return redirect(url_for("pages.zoeken"), 303)

    waarden: dict[str, str] = dict(current.get("zoekopdracht") or {})
    fouten: dict[str, str] = {}
    sortering = request.args.get("sortering", "-startdatum")
    if sortering not in SORTS:
        sortering = "-startdatum"
    pagina = _pagina()
    resultaat = None
    if any(waarden.values()):
        filters = _filters(waarden, fouten)
        if not fouten:
            try:
                resultaat = state().zoeker.zoek(
                    filters, sortering=sortering, pagina=pagina, per_pagina=PER_PAGINA
                )
            except Ongeldig as exc:
                if exc.veld == "pagina":
                    # Paging deeper than the counted results is refused.
                    fouten["algemeen"] = (
                        "U kunt niet verder bladeren dan de eerste "
                        f"{getal(search.MAX_RESULTATEN)} zaken. {VERFIJN}"
                    )
                else:
                    veld, reden = _ongeldig(exc)
                    fouten[veld] = reden
    if resultaat is not None and not resultaat.regels and pagina > resultaat.paginas:
        # A page past the end (the results shrank since the link was made):
        # the last page instead.
        return redirect(
            url_for("pages.zoeken", pagina=resultaat.paginas, sortering=sortering),
            303,
        )
    return _page(
        "zoeken.html",
        400 if fouten else 200,
        titel="Zaken zoeken",
        waarden=waarden,
        fouten=fouten,
        resultaat=resultaat,
        kolommen=_kolommen(sortering) if resultaat else [],
        paginas=_paginas(resultaat, "pages.zoeken", sortering=sortering),
        verfijn=VERFIJN,
    )


VERFIJN = (
    "Verfijn uw zoekopdracht, bijvoorbeeld met een zaaktype, een status, "
    "een periode of meer zoekwoorden."
)


def _pagina() -> int:
    tekst = request.args.get("pagina", "1")
    if not re.fullmatch(r"[0-9]{1,5}", tekst) or int(tekst) == 0:
        return 1
    return int(tekst)


def _kolommen(sortering: str) -> list[Kolom]:
    found = []
    for _key, label, sort in KOLOMMEN:
        if sort is None:
            found.append(Kolom(label, None, None))
            continue
        if sortering == sort:
            found.append(
                Kolom(label, url_for("pages.zoeken", sortering="-" + sort), "ascending")
            )
        elif sortering == "-" + sort:
            found.append(
                Kolom(label, url_for("pages.zoeken", sortering=sort), "descending")
            )
        else:
            found.append(Kolom(label, url_for("pages.zoeken", sortering=sort), None))
    return found


@dataclass(frozen=True)
class PaginaLink:
    nummer: int
    href: str
    huidig: bool


@dataclass(frozen=True)
class Paginering:
    vorige: str | None
    volgende: str | None
    links: list[PaginaLink]
    aantal: int


def _paginas(resultaat: Pagina | None, endpoint: str, **args: Any) -> Paginering | None:
    if resultaat is None:
        return None
    aantal = max(1, math.ceil(resultaat.totaal / resultaat.per_pagina))
    huidig = resultaat.pagina

    def href(nummer: int) -> str:
        return url_for(endpoint, pagina=nummer, **args)

    nummers = sorted(
        {1, aantal, *range(max(1, huidig - 2), min(aantal, huidig + 2) + 1)}
    )
    return Paginering(
        vorige=href(huidig - 1) if huidig > 1 else None,
        volgende=href(huidig + 1) if huidig < aantal else None,
        links=[PaginaLink(n, href(n), n == huidig) for n in nummers],
        aantal=aantal,
    )


# Employees: one zaak --------------------------------------------------------------


def _zaak_voor_medewerker(identificatie: str) -> ZaakDetail:
    """The zaak, or 404 when it does not exist or is not for this employee."""
    detail = state().zoeker.zaak(identificatie)
    if detail is None or (detail.vertrouwelijk and not mag_vertrouwelijk()):
        abort(404)
    return detail


def _document_zichtbaar_voor_medewerker(info: DocumentInfo) -> bool:
    return not info.vertrouwelijk or mag_vertrouwelijk()


@bp.get("/zaken/<identificatie>")
@medewerker_nodig
def zaak(identificatie: str) -> Response:
    detail = _zaak_voor_medewerker(identificatie)
    documenten = [
        d for d in detail.documenten if _document_zichtbaar_voor_medewerker(d)
    ]
    return _page(
        "zaak.html",
        titel=f"Zaak {detail.identificatie}",
        zaak=detail,
        documenten=documenten,
        verborgen=len(detail.documenten) - len(documenten),
    )


@bp.get("/zaken/<identificatie>/documenten/<document>")
@medewerker_nodig
def document(identificatie: str, document: str) -> BaseResponse:
    _zaak_voor_medewerker(identificatie)
    info = state().zoeker.document(identificatie, document)
    if info is None or not _document_zichtbaar_voor_medewerker(info):
        abort(404)
    return _download(info)


def _download(info: DocumentInfo) -> BaseResponse:
    if not info.inhoud_sleutel:
        abort(404)
    try:
        stream = state().blobs.open(info.inhoud_sleutel)  # send_file closes it
    except (OSError, ValueError):
        log.error("Document content missing from the blob store")
        abort(404)
    content_type = (info.content_type or info.formaat or "").strip()
    if not _CONTENT_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    naam = info.bestandsnaam or info.titel or info.identificatie
    response = send_file(
        stream,
        mimetype=content_type,
        as_attachment=True,
        download_name=_bestandsnaam(str(naam)),
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _bestandsnaam(naam: str) -> str:
    # No paths, no control characters; the rest (RFC 6266 filename*) is
    # Werkzeug's.
    schoon = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", naam).strip(" .")
    return schoon[:150] or "document"


# Citizens ----------------------------------------------------------------------


@bp.get("/mijn-zaken")
@burger_nodig
def mijn_zaken() -> Response:
    try:
        resultaat = state().zoeker.zaken_van(
            str(session[BSN]), pagina=_pagina(), per_pagina=PER_PAGINA
        )
    except Ongeldig:
        abort(404)  # a page number past the end
    return _page(
        "mijn_zaken.html",
        titel="Mijn zaken",
        resultaat=resultaat,
        paginas=_paginas(resultaat, "pages.mijn_zaken"),
    )


def _zaak_voor_burger(identificatie: str) -> ZaakDetail:
    bsn = str(session[BSN])
    if not state().zoeker.mag_zien(identificatie, bsn):
        abort(404)
    detail = state().zoeker.zaak(identificatie)
    if detail is None:
        abort(404)
    return detail


def _document_voor_burger(aanduiding: str | None) -> bool:
    return (aanduiding or "").strip().upper() in DOCUMENTEN_VOOR_BURGER


@bp.get("/mijn-zaken/<identificatie>")
@burger_nodig
def mijn_zaak(identificatie: str) -> Response:
    detail = _zaak_voor_burger(identificatie)
    bsn = session[BSN]
    eigen_rollen = sorted(
        {
            ROL_VOOR_BURGER.get(b.rol, "betrokkene")
            for b in detail.betrokkenen
            if b.bsn == bsn
        }
    )
    return _page(
        "mijn_zaak.html",
        titel=detail.omschrijving or detail.zaaktype_omschrijving or "Uw zaak",
        zaak=detail,
        rollen=eigen_rollen,
        documenten=[
            d
            for d in detail.documenten
            if _document_voor_burger(d.vertrouwelijk_aanduiding)
        ],
    )


@bp.get("/mijn-zaken/<identificatie>/documenten/<document>")
@burger_nodig
def mijn_document(identificatie: str, document: str) -> BaseResponse:
    _zaak_voor_burger(identificatie)
    info = state().zoeker.document(identificatie, document)
    if info is None or not _document_voor_burger(info.vertrouwelijk_aanduiding):
        abort(404)
    return _download(info)


# Rendering ---------------------------------------------------------------------


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = current_app.make_response(render_template(template, **context))
    response.status_code = status
    return response


def datum(value: date | datetime | None) -> str:
    """A date as Dutch text: 3 maart 2025."""
    if value is None:
        return "onbekend"
    return f"{value.day} {MAANDEN[value.month - 1]} {value.year}"


def moment(value: datetime | date | None) -> str:
    if not isinstance(value, datetime):
        return datum(value)
    if (value.hour, value.minute) == (0, 0):
        return datum(value)
    return f"{datum(value)}, {value.hour:02d}:{value.minute:02d} uur"


def gemaskeerd(bsn: str | None) -> str:
    """A BSN for an employee's eyes: only the last three digits."""
    if not bsn:
        return ""
    return "•" * 6 + bsn[-3:]


def getal(value: int) -> str:
    """A whole number as Dutch text: 5.000."""
    return f"{value:,}".replace(",", ".")


def grootte(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.0f} kB".replace(".", ",")
    return f"{value / 1024 / 1024:.1f} MB".replace(".", ",")


def _context() -> dict[str, Any]:
    rollen = medewerker_rollen()
    return {
        "medewerker": session.get(GEBRUIKER) if rollen else None,
        "burger": bool(session.get(BSN)),
        "ingelogd": bool(rollen) or bool(session.get(BSN)),
    }


def _fout(status: int, titel: str, melding: str) -> Response:
    return _page("fout.html", status, titel=titel, melding=melding)


def http_fout(exc: HTTPException) -> Response:
    """The error page for an HTTP error (zaakzoeker.app dispatches here for
    everything outside the API)."""
    status = exc.code or 500
    if status == 404:
        return _fout(
            404,
            "Niet gevonden",
            "Deze pagina of zaak bestaat niet, of u mag hem niet zien.",
        )
    if status == 405:
        response = _fout(405, "Niet toegestaan", "Deze pagina werkt niet zo.")
        valid = getattr(exc, "valid_methods", None)
        if valid:
            response.headers["Allow"] = ", ".join(valid)
        return response
    if status == 413:
        return _fout(413, "Te groot", "Wat u verstuurde is te groot.")
    return _fout(status, "Er ging iets mis", exc.description or "Onbekende fout.")


def _csrf_fout(exc: CSRFError) -> Response:
    log.info("Form refused: {reason}", reason=exc.description)
    return _fout(
        400,
        "Formulier verlopen",
        "Het formulier was verlopen of kwam niet van deze website. "
        "Ga terug, laad de pagina opnieuw en probeer het nog eens.",
    )


def server_fout(exc: Exception) -> Response:
    """The error page for a failure (logged in full, shown in one line)."""
    log.failure(
        "Zaakzoeker request failed: {path}", failure=Failure(exc), path=request.path
    )
    return _fout(500, "Er ging iets mis", "Probeer het later opnieuw.")


def register(app: Flask, csrf: CSRFProtect) -> None:
    """Add the pages, the CSRF error page and template helpers to ``app``."""
    # The IdP posts the answer; InResponseTo against the session's request
    # id protects it instead of a CSRF token.
    csrf.exempt(saml_acs)
    app.register_blueprint(bp)
    app.context_processor(_context)
    app.jinja_env.filters.update(
        datum=datum,
        moment=moment,
        gemaskeerd=gemaskeerd,
        grootte=grootte,
        getal=getal,
    )
    app.register_error_handler(CSRFError, _csrf_fout)
    # Other HTTP errors and failures: zaakzoeker.app, which answers the API's
    # with JSON and the rest with http_fout and server_fout.
