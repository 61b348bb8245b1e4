"""Safe parsing: what is refused, and the large documents ZDS needs."""

from __future__ import annotations

import threading

import pytest

from esb import envelope
from esb.envelope import normalise_soap_action, open_envelope, parse_xml
from esb.errors import EnvelopeError
from esb.message import NS_SOAP11

MB = 1024 * 1024


def test_a_text_node_over_libxml2s_10_mb_limit_is_parsed() -> None:
    """A 25 MB document travels base64-encoded in one text node."""
    root = parse_xml(b"<inhoud>" + b"QUJD" * (25 * MB // 4) + b"</inhoud>")
    assert len(root.text or "") == 25 * MB


def test_an_attribute_over_the_limit_is_still_refused() -> None:
    """Only the text-node limit is lifted, not libxml2's other limits."""
    with pytest.raises(EnvelopeError, match="geen welgevormde XML"):
        parse_xml(b'<a x="' + b"x" * (11 * MB) + b'"/>')


def test_a_doctype_is_refused_without_reading_what_it_names() -> None:
    with pytest.raises(EnvelopeError, match="DOCTYPE"):
        parse_xml(b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>')


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    document = b"<a>" * 50 + b"</a>" * 50
    assert parse_xml(document, max_depth=50) is not None
    with pytest.raises(EnvelopeError, match="dieper genest"):
        parse_xml(document, max_depth=49)


def test_two_messages_in_one_body_are_refused() -> None:
    body = "<s:Body><a/><b/></s:Body>"
    envelope = parse_xml(
        f'<s:Envelope xmlns:s="{NS_SOAP11}">{body}</s:Envelope>'.encode()
    )
    with pytest.raises(EnvelopeError, match="meer dan één bericht"):
        open_envelope(envelope)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"urn:x"', "urn:x"),
        ("urn:x", "urn:x"),
        (' "urn:x" ', "urn:x"),
        ('""', None),
        (None, None),
    ],
)
def test_soapaction_quoted_or_not_means_the_same(
    header: str | None, expected: str | None
) -> None:
    assert normalise_soap_action(header) == expected


@pytest.mark.parametrize(
    "filler",
    [
        "<!--" + "</x>" * 200 + "-->",
        "<![CDATA[" + "</y>" * 200 + "]]>",
    ],
)
def test_end_tags_hidden_in_comments_or_cdata_do_not_hide_nesting(
    filler: str,
) -> None:
    """The quick bound (every "<" not followed by "/") still counts each
    start tag, whatever "</" a comment or CDATA section adds."""
    document = ("<a>" * 60 + filler + "</a>" * 60).encode()
    with pytest.raises(EnvelopeError):
        parse_xml(document, max_depth=59)
    assert parse_xml(document, max_depth=60) is not None


def test_nesting_in_utf16_is_measured_exactly() -> None:
    document = ("<a>" * 60 + "</a>" * 60).encode("utf-16")
    with pytest.raises(EnvelopeError):
        parse_xml(document, max_depth=59)


def test_each_thread_parses_with_its_own_parser() -> None:
    """lxml locks a shared parser for the whole parse; the reactor and the
    register threads must not queue behind each other for it."""
    seen: list[object] = []

    def parse() -> None:
        root = parse_xml(b"<a><b>x</b></a>")
        assert root.findtext("b") == "x"
        seen.append(envelope._parsers.plain)

    threads = [threading.Thread(target=parse) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parse()
    assert len({id(parser) for parser in seen}) == 4
