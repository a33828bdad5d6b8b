"""Pieces of a TOML file mean what the whole file means, or the whole file is parsed."""

from __future__ import annotations

import tomllib

import pytest

from mailautoconf.config import segments as tomlsegments

P = '[[provider]]\nid = "a"\n[[provider.incoming]]\nport = 1\n[provider.overrides."x.example"]\nhostname = "h"\n'
CASES = {
    "plain": "[service]\nx = 1\n" + P + P.replace('"a"', '"b"'),
    "no-preamble": P + P,
    "service-after-providers": P + "[service]\nx = 1\n" + P,
    "header-in-multiline-string": '[service]\nnote = """\n[[provider]]\n"""\n' + P,
    "comment-and-spaces-on-header": "[service]\n  [[ provider ]]  # first\nid = 1\n",
    "sub-table-of-an-earlier-table": "[service]\nx = 1\n" + P + "[service.more]\ny = 2\n",
    "quoted-header-not-split": '[["provider"]]\nid = "q"\n' + P,
}
ERRORS = {
    "table-defined-twice": "[dns]\nx = 1\n" + P + "[dns]\ny = 2\n",
    "inline-array-then-header": 'provider = [{id = "a"}]\n' + P,
    "provider-as-table": "[provider]\nid = 1\n" + P,
    "broken-piece": P + "[[provider]]\nid = \n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_pieces_add_up_to_the_file(text: str) -> None:
    segments = tomlsegments.parse(text, {}, {})
    merged: dict = {}
    for segment in segments:
        for key, value in segment.data.items():
            if key == "provider" and isinstance(value, list):
                merged.setdefault("provider", []).extend(value)
            else:
                merged[key] = value
    assert merged == tomllib.loads(text)
    assert "".join(segment.text for segment in segments) == text
    for segment in segments:  # each piece starts on the line it says
        assert text.splitlines()[segment.line - 1 :][0] == segment.text.splitlines()[0]


@pytest.mark.parametrize("text", ERRORS.values(), ids=ERRORS.keys())
def test_what_tomllib_refuses_is_refused_with_its_message(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as whole:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as pieces:
        tomlsegments.parse(text, {}, {})
    assert str(pieces.value) == str(whole.value)


def test_unchanged_pieces_are_not_parsed_again() -> None:
    text = "[service]\nx = 1\n" + P + P.replace('"a"', '"b"')
    first: dict = {}
    tomlsegments.parse(text, {}, first)
    second: dict = {}
    segments = tomlsegments.parse(text.replace('"b"', '"c"'), first, second)
    assert [segment.data is first.get(segment.digest) for segment in segments] == [True, True, False]
    assert set(second) == {segment.digest for segment in segments}
