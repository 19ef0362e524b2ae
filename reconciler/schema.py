"""Validation against ``schemas/manifest.schema.json``, the single definition of the
manifest format, with every error turned into one short message at a YAML position.

Two validators read the same Draft 2020-12 schema. jsonschema-rs (compiled; a hundred
times faster than jsonschema on a valid manifest) only says whether a document is valid,
which nearly every document is. A document it refuses goes to jsonschema, the judge: its
errors, and nothing else, become the messages, so a disagreement costs time, never a
wrong answer, as long as the fast check never accepts a document jsonschema refuses.
Where the two differ it is the stricter one (its regular expressions follow ECMA 262:
``\\d`` is ASCII only, ``$`` does not match before a final line break); the tests compare
the two on every test manifest and on generated ones.

jsonschema reports failures in its own words; users need one line per root cause that
says what to write instead. The translation is generic: it uses the failing subschema's
title and description (so the schema stays the one place that says what a value is)."""
from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

import jsonschema_rs

from .resources import schema_text

if TYPE_CHECKING:  # jsonschema is imported only when a document is invalid: it is slow to import
    from jsonschema import Draft202012Validator, ValidationError


@dataclass(frozen=True)
class SchemaProblem:
    path: tuple[Any, ...]  # where in the document
    at_key: bool  # point at the key (unknown keys) rather than the value
    message: str
    kind: str = field(default="", compare=False)  # the schema keyword that failed


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


@functools.lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """jsonschema's validator for the schema: the judge of an invalid document."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


@functools.lru_cache(maxsize=1)
def fast_validator() -> jsonschema_rs.Validator:
    """jsonschema-rs's validator for the schema, built once per process."""
    return jsonschema_rs.Draft202012Validator(schema())


def fast_accepts(document: Any) -> bool:
    """Whether jsonschema-rs finds ``document`` valid. A value it cannot read (a mapping
    key that is not a string, which YAML allows) counts as refused: jsonschema decides."""
    try:
        return fast_validator().is_valid(document)
    except Exception:  # noqa: BLE001 - any failure of the fast check leaves it to jsonschema
        return False


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    for kind, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


_EXPECTED = {"string": "a string", "integer": "a whole number", "number": "a number",
             "boolean": "true or false", "array": "a list", "object": "a mapping", "null": "null"}


def _expected(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_EXPECTED.get(t, t) for t in types)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _what(error: ValidationError) -> str:
    """A name for the value that failed: its key as written (``priority``,
    ``days[0]``), else the subschema's title."""
    path = list(error.absolute_path)
    for index in range(len(path) - 1, -1, -1):
        if isinstance(path[index], str):
            return path[index] + "".join(f"[{i}]" for i in path[index + 1:])
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if title:
        return title.lower() if not title.isupper() else title
    return "the document"


def _hint(error: ValidationError) -> str:
    """An extra sentence the schema attaches to a key (``x-hint``)."""
    hint = error.schema.get("x-hint") if isinstance(error.schema, dict) else None
    return f": {hint}" if hint else ""


def _describe(error: ValidationError) -> str:
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f" ({description.rstrip('.')})" if description else ""


def _known_keys(schema_: dict[str, Any]) -> list[str]:
    return [k for k in schema_.get("properties", {})]


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _translate(error: ValidationError) -> list[SchemaProblem]:
    path = tuple(error.absolute_path)
    kind = error.validator
    value = error.instance
    if kind == "additionalProperties" and isinstance(value, dict):
        known = _known_keys(error.schema)
        extra = [k for k in value if k not in known]
        return [
            SchemaProblem(path + (k,), True,
                          f"unknown key {k!r}{_did_you_mean(str(k), known)}"
                          + ("" if _did_you_mean(str(k), known) else
                             f"; expected one of: {', '.join(known)}"))
            for k in extra
        ]
    if kind == "required":
        missing = error.validator_value
        absent = [k for k in missing if k not in (value or {})]
        return [SchemaProblem(path, True, f"missing required key {k!r}") for k in absent]
    if kind == "type":
        return [SchemaProblem(path, False,
                              f"{_what(error)} must be {_expected(error.validator_value)}, "
                              f"not {_type_name(value)}{_hint(error)}")]
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        hint = _did_you_mean(str(value), [str(a) for a in allowed]) if isinstance(value, str) else ""
        listed = ", ".join(str(a) for a in allowed if not (isinstance(a, str) and a.islower()
                                                          and a.capitalize() in allowed))
        return [SchemaProblem(path, False, f"{_what(error)}: {_show(value)} is not allowed{hint}; "
                                           f"expected one of: {listed}")]
    if kind == "pattern" or kind == "format":
        return [SchemaProblem(path, False, f"{_what(error)}: {_show(value)} is not valid{_describe(error)}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = "at least" if "inimum" in kind else "at most"
        return [SchemaProblem(path, False, f"{_what(error)} must be {word} {error.validator_value}, not {_show(value)}")]
    if kind == "minLength":
        return [SchemaProblem(path, False, f"{_what(error)} must not be empty" if error.validator_value == 1
                              else f"{_what(error)} must be at least {error.validator_value} characters")]
    if kind == "maxLength":
        return [SchemaProblem(path, False, f"{_what(error)} is {len(value)} characters long; "
                                           f"at most {error.validator_value}")]
    if kind == "minItems":
        return [SchemaProblem(path, False, f"{_what(error)} needs at least {error.validator_value} "
                                           f"item{'s' if error.validator_value != 1 else ''}")]
    if kind == "maxItems":
        return [SchemaProblem(path, False, f"{_what(error)} has {len(value)} items; "
                                           f"at most {error.validator_value} are allowed")]
    if kind in ("minProperties", "maxProperties") and error.schema.get("maxProperties") == 1:
        keys = _known_keys(error.schema)
        found = ", ".join(str(k) for k in value) if value else "none"
        return [SchemaProblem(path, False, f"a {_what(error)} has exactly one key, one of: "
                                           f"{', '.join(keys)} (found: {found})")]
    if kind in ("minProperties", "maxProperties"):
        word = "at least" if kind == "minProperties" else "at most"
        return [SchemaProblem(path, False, f"{_what(error)} needs {word} {error.validator_value} keys")]
    if kind == "uniqueItems":
        return [SchemaProblem(path, False, f"{_what(error)} lists the same item twice")]
    if kind in ("anyOf", "oneOf"):
        return _alternatives(error)
    if kind == "not":
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        return [SchemaProblem(path, False, description or f"{_what(error)} is not allowed here")]
    return [SchemaProblem(path, False, error.message)]


def _alternatives(error: ValidationError) -> list[SchemaProblem]:
    """anyOf/oneOf: if some alternative has the right type, its own problems are the
    real ones; otherwise say what the value must be, in the schema's words."""
    path = tuple(error.absolute_path)
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    typed = [
        errors for errors in by_branch.values()
        if not any(e.validator == "type" and tuple(e.absolute_path) == path for e in errors)
        and not any(e.validator in ("enum", "const") and tuple(e.absolute_path) == path for e in errors)
    ]
    if len(typed) == 1:
        problems: list[SchemaProblem] = []
        for sub in typed[0]:
            problems.extend(_translate(sub))
        return problems
    return [SchemaProblem(path, False, f"{_what(error)}: {_show(error.instance)} is not valid{_describe(error)}")]


# --- a document's problems ------------------------------------------------------------


def problems(document: Any) -> list[SchemaProblem]:
    """Every problem in one document, one per root cause; none for a valid document."""
    if fast_accepts(document):
        return []
    return _root_causes(validator().iter_errors(document))


def _root_causes(errors: Iterable[ValidationError]) -> list[SchemaProblem]:
    found: list[SchemaProblem] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    one_key: list[tuple[Any, ...]] = []  # items whose key count is wrong: nothing below counts
    for error in errors:
        if error.validator in ("minProperties", "maxProperties") and error.validator_value == 1:
            one_key.append(tuple(error.absolute_path))
        for problem in _translate(error):
            if (problem.path, problem.message) not in seen:
                seen.add((problem.path, problem.message))
                found.append(replace(problem, kind=str(error.validator)))
    # A value of the wrong type has one problem, its type: "at most 10" after "must be a
    # whole number" would be the same cause twice.
    mistyped = {p.path for p in found if p.kind == "type"}
    return [
        p for p in found
        if not any(len(p.path) > len(k) and p.path[: len(k)] == k for k in one_key)
        and not (p.path in mistyped and p.kind != "type")
    ]
