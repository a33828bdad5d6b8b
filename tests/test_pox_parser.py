"""The Autodiscover request reader (render/outlook.py) against defusedxml's ElementTree, the reader it replaced.

outlook.parse_request drives expat itself for speed; what it returns must
be what reading the same body through defusedxml (forbid_dtd) and
ElementTree gave, for any body: the same address and schema, and None for
everything that was refused or unreadable. hypothesis builds the bodies
from the pieces real and hostile requests are made of; the seed is fixed.
"""

from __future__ import annotations

from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from mailautoconf.render import outlook

SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"


def reference(body: bytes) -> tuple[str, str] | None:
    """The reading before: defusedxml's ElementTree, then the tree's elements by local name."""
    try:
        root: Any = SafeElementTree.fromstring(body, forbid_dtd=True)
    except (SafeElementTree.ParseError, DefusedXmlException, ValueError, LookupError):
        return None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    if local(root.tag) != "Autodiscover":
        return None
    request = next((child for child in root if local(child.tag) == "Request"), None)
    if request is None:
        return None
    values = {local(child.tag): (child.text or "").strip() for child in request}
    address = values.get("EMailAddress", "")
    if not address:
        return None
    return address, values.get("AcceptableResponseSchema") or outlook.OUTLOOK_RESPONSE_SCHEMA


# Mostly readable pieces, so that most bodies are requests; the hostile ones come often enough.
_TEXT = st.sampled_from([" fred@example.org ", "a@b.example", "fred@example.org", SCHEMA, SCHEMA, "", "", "&amp;",
                         "x&lt;b&gt;", "<![CDATA[c<d]]>", "<!-- note -->", "&#233;", "é", "\n", "&bogus;"])  # fmt: skip
_NOISE = st.sampled_from(["", "", "", "<x/>", "<x>t</x>", "<!-- c -->", "text", "<a:x/>"])


def _tag(name: str, namespace: bool, inner: str) -> str:
    attributes = f' xmlns="{REQUEST_NS}"' if namespace else ""
    return f"<{name}{attributes}>{inner}</{name}>"


# Children of Request: the two fields (sometimes twice, sometimes with children of their own), and noise.
_FIELD = st.builds(
    lambda name, text, child, tail: f"<{name}>{text}{child}{tail}</{name}>",
    st.sampled_from(["EMailAddress", "EMailAddress", "AcceptableResponseSchema", "LegacyDN", "x:EMailAddress"]),
    _TEXT,
    _NOISE,
    _TEXT,
)
_REQUEST = st.builds(
    lambda name, namespace, fields, noise: _tag(name, namespace, "".join(fields) + noise),
    st.sampled_from(["Request", "Request", "Response", "Nested"]),
    st.booleans(),
    st.lists(_FIELD, min_size=1, max_size=4),
    _NOISE,
)
_DOCUMENTS = st.builds(
    lambda name, namespace, requests, noise: _tag(name, namespace, noise + "".join(requests)),
    st.sampled_from(["Autodiscover", "Autodiscover", "Autodiscover", "Other"]),
    st.booleans(),
    st.lists(_REQUEST, min_size=1, max_size=3),
    _NOISE,
)
_PROLOGS = st.sampled_from(["", "", "", '<?xml version="1.0" encoding="utf-8"?>\n', '<?xml version="1.0"?>',
                            '<!DOCTYPE a [<!ENTITY e "x">]>', '<!DOCTYPE Autodiscover SYSTEM "http://127.0.0.1/x">',
                            '<?xml version="1.0" encoding="x-nonsense"?>'])  # fmt: skip


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(_PROLOGS, _DOCUMENTS, st.sampled_from(["utf-8", "utf-16"]), st.integers(min_value=0, max_value=3))
def test_reads_every_body_as_defusedxml_did(prolog: str, document: str, encoding: str, cut: int) -> None:
    body = (prolog + document).encode(encoding)
    if cut:  # truncated bodies too
        body = body[: len(body) * cut // 4]
    assert outlook.parse_request(body) == reference(body), body


def test_a_real_request_and_the_known_attacks() -> None:
    real = (
        f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>fred@example.org</EMailAddress><AcceptableResponseSchema>{SCHEMA}"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()
    assert outlook.parse_request(real) == ("fred@example.org", SCHEMA)
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<Autodiscover><Request><EMailAddress>&b;</EMailAddress></Request></Autodiscover>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>"
    )
    for body in (laughs, external, real[:-5], b"", b"\xff\xfe<", real.replace(b"utf-8", b"rot13")):
        assert outlook.parse_request(body) is None and reference(body) is None, body
