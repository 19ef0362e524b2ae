from __future__ import annotations

import time

import pytest

from reconciler.yamlpos import YamlError, decode, load_all, position


def test_positions_of_keys_and_values() -> None:
    (doc,) = load_all("a:\n  b: 1\n  c: [x, y]\n")
    assert position(doc.data, ["a", "b"]) == (2, 6)
    assert position(doc.data, ["a", "b"], key=True) == (2, 3)
    assert position(doc.data, ["a", "c", 1]) == (3, 10)


def test_yaml12_scalars() -> None:
    (doc,) = load_all("a: yes\nb: 13:05\nc: 2026-01-01\nd: true\ne: 0755\nf: ~\ng: 1.5\nh: '1'\n")
    assert doc.data == {"a": "yes", "b": "13:05", "c": "2026-01-01", "d": True, "e": "0755",
                        "f": None, "g": 1.5, "h": "1"}


def test_several_documents() -> None:
    docs = load_all("a: 1\n---\nb: 2\n---\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}, None]
    assert docs[1].line == 2


def test_duplicate_key() -> None:
    with pytest.raises(YamlError) as err:
        load_all("a: 1\nb: 2\na: 3\n")
    assert (err.value.line, err.value.column) == (3, 1)
    assert "duplicate key 'a'" in err.value.message


def test_merge_key_and_anchor() -> None:
    (doc,) = load_all("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert doc.data["other"] == {"x": 1, "y": 3}


def test_alias_bomb_refused_fast() -> None:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    started = time.perf_counter()
    with pytest.raises(YamlError) as err:
        load_all(text)
    assert "alias" in err.value.message
    assert time.perf_counter() - started < 5  # generous: the point is it does not explode


def test_deep_nesting_refused() -> None:
    with pytest.raises(YamlError) as err:
        load_all("[" * 100_000)
    assert "nesting" in err.value.message


def test_malformed_yaml_position() -> None:
    with pytest.raises(YamlError) as err:
        load_all("a: b: c\n")
    assert err.value.line == 1 and "invalid YAML" in err.value.message


def test_unsupported_tag() -> None:
    with pytest.raises(YamlError) as err:
        load_all("a: !!python/object:os.system x\n")
    assert "not supported" in err.value.message


def test_decode() -> None:
    assert decode("a: é".encode("utf-8")) == "a: é"
    assert decode(b"\xef\xbb\xbfa: 1") == "a: 1"
    assert decode("a: 1".encode("utf-16")) == "a: 1"
    with pytest.raises(YamlError) as err:
        decode(b"a: 1\nb: \xff\n")
    assert (err.value.line, err.value.column) == (2, 4)


def test_escapes_that_made_control_characters_are_kept_as_written() -> None:
    """Only a double-quoted scalar whose escapes made a control character is noted, with
    the key it belongs to and the value's position (an item's list)."""
    (doc,) = load_all('a:\n  dir: "C:\\temp"\n  args: ["x", "C:\\new"]\n  ok: "C:\\\\temp"\n'
                      '  text: "two\n\n  lines"\n  plain: C:\\temp\n')
    assert doc.data["a"]["text"] == "two\nlines"  # a folded blank line, not an escape
    first, second = doc.escapes
    assert (first.line, first.column, first.key, first.at, first.source) == (2, 8, "dir", (2, 8), '"C:\\temp"')
    assert first.done == ("\\t became a tab",) and not first.breaks and not first.not_xml
    assert (second.line, second.column, second.key, second.at) == (3, 15, "args", (3, 9))
    assert second.done == ("\\n became a line break",) and second.breaks
    assert doc.not_xml == ()
