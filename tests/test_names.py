from __future__ import annotations

import pytest

from reconciler import names
from reconciler.errors import UsageError


@pytest.mark.parametrize("root", ["Orchestrator", "\\Orchestrator", "\\Orchestrator\\", "/Orchestrator/"])
def test_root_spellings(root: str) -> None:
    assert names.normalize_root(root) == "\\Orchestrator\\"


@pytest.mark.parametrize("root", ["\\", "", "/", "\\\\", "A\\\\B", "..", "A\\..", "CON", "A:B"])
def test_root_refused(root: str) -> None:
    with pytest.raises(UsageError):
        names.normalize_root(root)


@pytest.mark.parametrize("segment, fragment", [
    ("", "empty"), ("a\\b", "contains"), ("a/b", "contains"), ("a:b", "contains"), ("a*b", "contains"),
    ('a"b', "contains"), ("a|b", "contains"), (".", "'.'"), ("..", "'..'"), (" a", "space"),
    ("a ", "space"), ("a.", "dot"), ("CON", "reserved"), ("nul.txt", "reserved"), ("com1", "reserved"),
    ("LPT9.log", "reserved"), ("CON .txt", "reserved"), ("aux  .log", "reserved"),
    ("a\x00b", "non-printable"), ("a\nb", "non-printable"),
    ("a\u202eb", "non-printable"), ("x" * 201, "200"),
])
def test_segment_problems(segment: str, fragment: str) -> None:
    problem = names.segment_problem(segment)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("segment", ["excel-processing", "Daily report (v2)", "Überweisung", "a.b", "COM10",
                                     "CONSOLE", "x" * 200, "日報"])
def test_segment_ok(segment: str) -> None:
    assert names.segment_problem(segment) is None


def test_paths_compare_case_insensitively() -> None:
    assert names.key("\\Orchestrator\\Excel") == names.key("\\orchestrator\\EXCEL")
    assert names.is_under("\\orchestrator\\x", "\\Orchestrator\\")
    assert not names.is_under("\\Orchestrator2\\x", "\\Orchestrator\\")
    assert not names.is_under("\\Orchestrator\\", "\\Orchestrator\\")
