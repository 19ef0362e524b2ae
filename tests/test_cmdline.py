from __future__ import annotations

from hypothesis import given, strategies as st

from reconciler import cmdline


def test_quote_examples() -> None:
    assert cmdline.join(["-m", "jobs.excel"]) == "-m jobs.excel"
    assert cmdline.join(["C:\\Reports\\daily book.xlsx"]) == '"C:\\Reports\\daily book.xlsx"'
    assert cmdline.join(['say "hi"']) == '"say \\"hi\\""'
    assert cmdline.join(["C:\\dir\\"]) == "C:\\dir\\"
    assert cmdline.join(["C:\\my dir\\"]) == '"C:\\my dir\\\\"'
    assert cmdline.join([""]) == '""'


def test_split_examples() -> None:
    assert cmdline.split('a "b c" d') == ["a", "b c", "d"]
    assert cmdline.split('"a\\"b"') == ['a"b']
    assert cmdline.split('a\\\\b') == ["a\\\\b"]
    assert cmdline.split('"a\\\\" b') == ["a\\", "b"]
    assert cmdline.split('""') == [""]


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=12), max_size=6))
def test_split_inverts_join(arguments: list[str]) -> None:
    assert cmdline.split(cmdline.join(arguments)) == arguments
