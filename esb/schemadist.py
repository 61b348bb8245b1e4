"""Reading an official StUF schema distribution and compiling its message schemas.

VNG Realisatie publishes StUF as folders (or zip files) of XSD files that are
to be used unmodified. Compiling one of their message schemas as published
fails in libxml2 (and so in lxml): the files import one namespace from several
different files (the StUF namespace from ``stuf0301.xsd``,
``stuf0301mtom.xsd`` and several ``*_msg_stuf_*.xsd``), and libxml2 honours
only the first import of each namespace, skipping the others, so components
such as ``StUF:NPSGroepen`` do not resolve.

This module works around that without touching the distribution:

1. :func:`read_distribution` reads every ``.xsd`` into memory (from a folder
   or from the members of a zip file), parses it safely and notes its target
   namespace, its includes and imports and the top-level components it
   defines.
2. :func:`plan_sets` takes the message schemas (``<sector>_msg_<deel>.xsd``
   and the StUF core ``stuf0301.xsd``), follows their includes and imports
   transitively, and groups the message schemas of one sector into one
   compiled set, splitting a group where two different files would define
   the same component (in zds-1.1.02, ``rzs0310`` and ``zs-dms`` both define
   ``ZKN:checkedOutBy``).
3. :func:`compile_set` builds, in memory, one wrapper schema per namespace
   that includes (``xs:include``) every file of that namespace, after
   importing the wrappers of the namespaces those files import, plus a top
   document that imports all wrappers in dependency order. Every namespace
   is thus imported from its wrapper before any original file asks for it,
   and libxml2's "skip the second import" rule only ever skips imports the
   wrapper already covers. A custom :class:`lxml.etree.Resolver` serves
   files and wrappers from memory; nothing is read from the network and
   nothing is written.

URLs are absolute POSIX paths: the file's path for a folder, the zip file's
path followed by the member's name for a zip (``/srv/zds-1.2.zip/0301/
stuf0301.xsd``). libxml2 reports compile errors with these, so an operator
reads which file is wrong.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from lxml import etree

from esb.errors import SchemaLoadError

XSD = "http://www.w3.org/2001/XMLSchema"

# XML Schema 1.0 Structures, section 2.5 (names and symbol spaces): simple and complex
# type definitions share one symbol space; the other kinds of top-level
# component each have their own. Two files that define the same name in the
# same space and namespace cannot be compiled together.
_SYMBOL_SPACES = {
    "element": "element",
    "attribute": "attribute",
    "complexType": "type",
    "simpleType": "type",
    "group": "group",
    "attributeGroup": "attributeGroup",
    "notation": "notation",
}

# The StUF core schema (stuf0301.xsd) declares StUF's own messages: Bv01..Bv04,
# Fo01..Fo03 and the like. EMO validates its own answers against them.
_STUF_CORE = re.compile(r"stuf\d{4}\.xsd")


@dataclass(frozen=True)
class SchemaFile:
    """One XSD file of a distribution, as far as compiling it needs to know."""

    url: str
    content: bytes
    target_namespace: str
    includes: tuple[str, ...]
    # (namespace, url) per xs:import; url is None without a schemaLocation.
    imports: tuple[tuple[str, str | None], ...]
    # (symbol space, local name) of every named top-level component.
    components: frozenset[tuple[str, str]]
    # Local names of the global element declarations, in document order.
    elements: tuple[str, ...]


@dataclass(frozen=True)
class Distribution:
    """The XSD files of one official schema distribution, read into memory."""

    name: str
    # The folder or zip file as an absolute POSIX path; every URL starts so.
    source: str
    files: Mapping[str, SchemaFile]


@dataclass(frozen=True)
class SetPlan:
    """Message schemas that are compiled together into one XMLSchema."""

    name: str
    roots: tuple[str, ...]
    files: tuple[str, ...]
    elements: tuple[str, ...]


def read_distribution(source: Path) -> Distribution:
    """Read and analyse every ``.xsd`` of a distribution folder or zip file.

    Raises :class:`SchemaLoadError` naming the source or the file at fault.
    """
    path = source.resolve()
    base = path.as_posix()
    if path.is_dir():
        name = path.name
        contents = _read_folder(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        name = path.stem
        contents = _read_zip(path)
    elif not path.exists():
        raise SchemaLoadError(f"schema distribution {base} does not exist")
    else:
        raise SchemaLoadError(
            f"schema distribution {base} is neither a folder nor a zip file"
        )
    if not contents:
        raise SchemaLoadError(f"schema distribution {base} holds no .xsd files")

    files = {url: _analyse(url, data) for url, data in contents.items()}
    return Distribution(name=name, source=base, files=files)


def _read_folder(path: Path) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for file in sorted(path.rglob("*.xsd")):
        try:
            contents[file.as_posix()] = file.read_bytes()
        except OSError as exc:
            raise SchemaLoadError(f"{file}: cannot be read: {exc}") from exc
    return contents


def _read_zip(path: Path) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                # __MACOSX/ holds a Finder's resource forks, not schemas.
                if (
                    info.is_dir()
                    or not info.filename.endswith(".xsd")
                    or info.filename.startswith("__MACOSX/")
                ):
                    continue
                member = posixpath.normpath(info.filename)
                if member.startswith(("/", "../")):
                    raise SchemaLoadError(
                        f"{path}: member {info.filename} points outside the zip file"
                    )
                contents[f"{path.as_posix()}/{member}"] = archive.read(info)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SchemaLoadError(f"{path}: cannot be read as a zip file: {exc}") from exc
    return dict(sorted(contents.items()))


def _safe_parser() -> etree.XMLParser:
    # No DTD loading, no entity expansion, no network: schema files are data.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )


def _analyse(url: str, data: bytes) -> SchemaFile:
    try:
        root = etree.fromstring(data, _safe_parser(), base_url=url)
    except etree.XMLSyntaxError as exc:
        # lxml repeats the position at the end of msg; it is said first here.
        reason = re.sub(r", line \d+, column \d+$", "", exc.msg)
        raise SchemaLoadError(
            f"{url}, line {exc.lineno}: not well-formed XML: {reason}"
        ) from exc

    # The compiler receives the file's original bytes (so that its line
    # numbers are the file's), and libxml2 substitutes entities when it
    # parses a schema; a file without a DTD has no entities to substitute.
    if root.getroottree().docinfo.internalDTD is not None:
        raise SchemaLoadError(
            f"{url}: has a DOCTYPE; schema files with a DTD are not accepted"
        )
    if root.tag != f"{{{XSD}}}schema":
        raise SchemaLoadError(f"{url}: is not an XML Schema (root is {root.tag})")

    namespace = root.get("targetNamespace", "")
    includes: list[str] = []
    imports: list[tuple[str, str | None]] = []
    components: set[tuple[str, str]] = set()
    elements: list[str] = []
    for child in root.iterchildren("{*}*"):
        qname = etree.QName(child)
        if qname.namespace != XSD:
            continue
        kind = qname.localname
        location = child.get("schemaLocation")
        if kind == "include":
            if location is None:
                raise SchemaLoadError(
                    f"{url}, line {child.sourceline}: xs:include without schemaLocation"
                )
            includes.append(_join(url, location))
        elif kind == "import":
            target = _join(url, location) if location is not None else None
            imports.append((child.get("namespace", ""), target))
        elif kind == "redefine":
            raise SchemaLoadError(
                f"{url}, line {child.sourceline}: xs:redefine is not supported"
            )
        elif kind in _SYMBOL_SPACES and (name := child.get("name")):
            components.add((_SYMBOL_SPACES[kind], name))
            if kind == "element":
                elements.append(name)

    return SchemaFile(
        url=url,
        content=data,
        target_namespace=namespace,
        includes=tuple(includes),
        imports=tuple(imports),
        components=frozenset(components),
        elements=tuple(elements),
    )


def _join(url: str, location: str) -> str:
    # The same resolution libxml2 applies to a schemaLocation relative to a
    # plain-path base: join, normalise "..", undo percent-encoding.
    if "://" in location:
        return location
    return posixpath.normpath(posixpath.join(posixpath.dirname(url), unquote(location)))


def is_message_schema(url: str) -> bool:
    """Whether a file declares messages: ``<sector>_msg_<deel>.xsd`` or the core.

    By StUF's naming, ``*_msg_stuf_*.xsd`` extend the StUF namespace for a
    sector and ``*_msg_totaal.xsd`` include every part of a sector; neither
    declares messages of its own (and the ``totaal`` files name folders that
    the ZDS distributions do not contain).
    """
    name = posixpath.basename(url)
    if _STUF_CORE.fullmatch(name):
        return True
    return (
        "_msg_" in name
        and "_msg_stuf_" not in name
        and not name.endswith("_msg_totaal.xsd")
    )


@dataclass
class _Group:
    name: str
    roots: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    # (namespace, symbol space, name) -> url of the file defining it
    definitions: dict[tuple[str, str, str], str] = field(default_factory=dict)


def plan_sets(
    distribution: Distribution, declared_earlier: Collection[str] = frozenset()
) -> list[SetPlan]:
    """Group the message schemas of a distribution into sets that compile.

    Message schemas of one sector (the file name's prefix: ``zkn0310``,
    ``bg0310``, ``zds0120``, ``stuf0301``) share a set unless that would put
    two definitions of one component into it; then the later one opens a new
    set (``zkn0310-2``). A message schema whose every element is in
    ``declared_earlier`` (Clark names an earlier distribution validates) is
    left out, so that nobody waits for its compilation.
    """
    messages = [url for url in distribution.files if is_message_schema(url)]
    if not messages:
        raise SchemaLoadError(
            f"schema distribution {distribution.source} holds no message schemas "
            "(*_msg_*.xsd or stuf0301.xsd)"
        )
    roots = [
        url
        for url in messages
        if any(
            element not in declared_earlier for element in _elements(distribution, url)
        )
    ]

    groups: dict[str, list[_Group]] = {}
    for root in roots:
        files = _closure(distribution, root)
        definitions = _definitions(distribution, root, files)
        sector = posixpath.basename(root).split("_")[0].removesuffix(".xsd").lower()
        candidates = groups.setdefault(sector, [])
        group = next(
            (g for g in candidates if not _collides(g.definitions, definitions)),
            None,
        )
        if group is None:
            suffix = f"-{len(candidates) + 1}" if candidates else ""
            group = _Group(name=f"{sector}{suffix}")
            candidates.append(group)
        group.roots.append(root)
        group.files |= files
        group.definitions.update(definitions)

    plans = []
    for candidates in groups.values():
        for group in candidates:
            elements = tuple(
                element
                for root in group.roots
                for element in _elements(distribution, root)
            )
            plans.append(
                SetPlan(
                    name=group.name,
                    roots=tuple(group.roots),
                    files=tuple(sorted(group.files)),
                    elements=elements,
                )
            )
    return sorted(plans, key=lambda plan: plan.name)


def _elements(distribution: Distribution, url: str) -> list[str]:
    """Clark names of the global elements a file declares."""
    schema = distribution.files[url]
    return [f"{{{schema.target_namespace}}}{local}" for local in schema.elements]


def _closure(distribution: Distribution, root: str) -> set[str]:
    """Every file a message schema reaches through include and import."""
    seen: set[str] = set()
    pending: list[tuple[str, str | None]] = [(root, None)]
    while pending:
        url, referrer = pending.pop()
        if url in seen:
            continue
        schema = distribution.files.get(url)
        if schema is None:
            raise SchemaLoadError(
                f"{referrer} refers to {url}, which the distribution does not contain"
            )
        seen.add(url)
        for included in schema.includes:
            other = distribution.files.get(included)
            if other and other.target_namespace != schema.target_namespace:
                # XML Schema allows only a file of the same namespace or a
                # chameleon (no namespace, taking the includer's); the
                # wrappers would put a chameleon in the wrong namespace.
                raise SchemaLoadError(
                    f"{url} includes {included}, whose target namespace differs"
                )
            pending.append((included, url))
        pending.extend((imported, url) for _, imported in schema.imports if imported)
    return seen


def _definitions(
    distribution: Distribution, root: str, files: Iterable[str]
) -> dict[tuple[str, str, str], str]:
    definitions: dict[tuple[str, str, str], str] = {}
    for url in sorted(files):
        schema = distribution.files[url]
        for space, name in schema.components:
            key = (schema.target_namespace, space, name)
            other = definitions.setdefault(key, url)
            if other != url:
                raise SchemaLoadError(
                    f"{root} cannot be compiled: {space} "
                    f"{{{key[0]}}}{name} is defined in both {other} and {url}"
                )
    return definitions


def _collides(
    ours: Mapping[tuple[str, str, str], str],
    theirs: Mapping[tuple[str, str, str], str],
) -> bool:
    return any(ours.get(key, url) != url for key, url in theirs.items())


class _MemoryResolver(etree.Resolver):
    """Serves the distribution's files and the wrappers from memory."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        super().__init__()
        self.documents = documents
        self.unknown: list[str] = []

    # lxml-stubs 0.5.1 leave out the context argument that lxml passes.
    def resolve(  # type: ignore[override]
        self, system_url: str, public_id: str, context: object
    ) -> etree._InputDocument:
        url = system_url
        if url.startswith("file://"):
            url = unquote(url.removeprefix("file://"))
        data = self.documents.get(url)
        if data is None:
            # Never fall back to libxml2's own loader (file system, network):
            # a document that is no schema makes the include fail, naming
            # the URL.
            self.unknown.append(system_url)
            data = b"<unknown/>"
        return self.resolve_string(data, context, base_url=url)


def compile_set(distribution: Distribution, plan: SetPlan) -> etree.XMLSchema:
    """Compile one planned set with libxml2, through per-namespace wrappers."""
    top_url, wrappers = _wrappers(distribution, plan)
    documents = {url: schema.content for url, schema in distribution.files.items()}
    documents.update(wrappers)
    resolver = _MemoryResolver(documents)
    parser = _safe_parser()
    parser.resolvers.add(resolver)
    top = etree.fromstring(wrappers[top_url], parser, base_url=top_url)

    try:
        return etree.XMLSchema(top)
    except etree.XMLSchemaParseError as exc:
        # Warnings are left out: libxml2 warns of every import it skips
        # (SCHEMAP_WARN_SKIP_SCHEMA), which the wrappers make routine.
        errors = [
            entry for entry in exc.error_log if entry.level >= etree.ErrorLevels.ERROR
        ]
        if errors:
            first = errors[0]
            where = f"{first.filename}, line {first.line}: {first.message}"
        else:
            where = str(exc)
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        outside = (
            f"; it refers to {', '.join(resolver.unknown)} outside the distribution"
            if resolver.unknown
            else ""
        )
        raise SchemaLoadError(
            f"schema set {distribution.name}/{plan.name} does not compile: "
            f"{where}{more}{outside}"
        ) from exc


def _wrappers(
    distribution: Distribution, plan: SetPlan
) -> tuple[str, dict[str, bytes]]:
    """The top document and one wrapper per namespace, keyed by their URL."""
    by_namespace: dict[str, list[str]] = {}
    for url in plan.files:
        namespace = distribution.files[url].target_namespace
        by_namespace.setdefault(namespace, []).append(url)

    imported: dict[str, set[str]] = {namespace: set() for namespace in by_namespace}
    for url in plan.files:
        schema = distribution.files[url]
        for other, _ in schema.imports:
            if other not in by_namespace:
                raise SchemaLoadError(
                    f"{url} imports namespace {other or '(none)'}, which no file "
                    f"reachable from {', '.join(plan.roots)} defines"
                )
            if other != schema.target_namespace:
                imported[schema.target_namespace].add(other)

    # Dependency order: a namespace after those it imports (depth first;
    # cycles, such as StUF <-> BG through bg0310_msg_stuf_prs.xsd, are broken
    # where they are met, which is harmless because every wrapper imports its
    # dependencies before it includes anything).
    order: list[str] = []
    visited: set[str] = set()

    def visit(namespace: str) -> None:
        if namespace in visited:
            return
        visited.add(namespace)
        for dependency in sorted(imported[namespace]):
            visit(dependency)
        order.append(namespace)

    for namespace in sorted(by_namespace):
        visit(namespace)

    folder = f"{distribution.source}/emo-wrappers/{plan.name}"
    location = {
        namespace: f"{folder}/{index}-{_slug(namespace)}.xsd"
        for index, namespace in enumerate(order, start=1)
    }
    documents: dict[str, bytes] = {}
    for namespace in order:
        wrapper = _schema_element(namespace)
        for dependency in sorted(imported[namespace]):
            _import(wrapper, dependency, location[dependency])
        for url in by_namespace[namespace]:
            etree.SubElement(wrapper, f"{{{XSD}}}include", schemaLocation=quote(url))
        documents[location[namespace]] = etree.tostring(wrapper)

    top = _schema_element("")
    for namespace in order:
        _import(top, namespace, location[namespace])
    top_url = f"{folder}/0-top.xsd"
    documents[top_url] = etree.tostring(top)
    return top_url, documents


def _schema_element(namespace: str) -> etree._Element:
    schema = etree.Element(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    if namespace:
        schema.set("targetNamespace", namespace)
    return schema


def _import(schema: etree._Element, namespace: str, url: str) -> None:
    element = etree.SubElement(schema, f"{{{XSD}}}import", schemaLocation=quote(url))
    if namespace:
        element.set("namespace", namespace)


def _slug(namespace: str) -> str:
    last = namespace.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^\w.-]", "_", last) or "none"
