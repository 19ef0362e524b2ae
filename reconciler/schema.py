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


# --- one translation per jsonschema keyword ---------------------------------------------
# Most keywords give one message about the value that failed; a few give one problem per
# key (unknown or missing keys) or look inside the alternatives that failed.


def _unknown_keys(error: ValidationError) -> list[SchemaProblem]:
    path = tuple(error.absolute_path)
    if not isinstance(error.instance, dict):
        return [SchemaProblem(path, False, error.message)]
    known = _known_keys(error.schema)
    found = []
    for key in error.instance:
        if key in known:
            continue
        hint = _did_you_mean(str(key), known)
        found.append(SchemaProblem(path + (key,), True, f"unknown key {key!r}"
                                   + (hint or f"; expected one of: {', '.join(known)}")))
    return found


def _missing_keys(error: ValidationError) -> list[SchemaProblem]:
    path = tuple(error.absolute_path)
    present = error.instance or {}
    return [SchemaProblem(path, True, f"missing required key {key!r}")
            for key in error.validator_value if key not in present]


def _alternatives(error: ValidationError) -> list[SchemaProblem]:
    """anyOf/oneOf: if some alternative has the right type, its own problems are the
    real ones; otherwise say what the value must be, in the schema's words."""
    path = tuple(error.absolute_path)
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    typed = [errors for errors in by_branch.values()
             if not any(e.validator in ("type", "enum", "const") and tuple(e.absolute_path) == path
                        for e in errors)]
    if len(typed) == 1:
        return [problem for sub in typed[0] for problem in _translate(sub)]
    return [SchemaProblem(path, False, f"{_what(error)}: {_show(error.instance)} is not valid{_describe(error)}")]


def _wrong_type(error: ValidationError) -> str:
    return (f"{_what(error)} must be {_expected(error.validator_value)}, "
            f"not {_type_name(error.instance)}{_hint(error)}")


def _not_allowed(error: ValidationError) -> str:
    """enum and const: the nearest allowed word, then all of them (a lower-case spelling
    is left out of the list where its capitalised twin is there)."""
    value = error.instance
    allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
    hint = _did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
    listed = ", ".join(str(a) for a in allowed
                       if not (isinstance(a, str) and a.islower() and a.capitalize() in allowed))
    return f"{_what(error)}: {_show(value)} is not allowed{hint}; expected one of: {listed}"


def _not_valid(error: ValidationError) -> str:
    return f"{_what(error)}: {_show(error.instance)} is not valid{_describe(error)}"


def _out_of_range(error: ValidationError) -> str:
    word = "at least" if "inimum" in error.validator else "at most"
    return f"{_what(error)} must be {word} {error.validator_value}, not {_show(error.instance)}"


def _too_short(error: ValidationError) -> str:
    if error.validator_value == 1:
        return f"{_what(error)} must not be empty"
    return f"{_what(error)} must be at least {error.validator_value} characters"


def _too_long(error: ValidationError) -> str:
    return f"{_what(error)} is {len(error.instance)} characters long; at most {error.validator_value}"


def _too_few_items(error: ValidationError) -> str:
    count = error.validator_value
    return f"{_what(error)} needs at least {count} item{'s' if count != 1 else ''}"


def _too_many_items(error: ValidationError) -> str:
    return f"{_what(error)} has {len(error.instance)} items; at most {error.validator_value} are allowed"


def _key_count(error: ValidationError) -> str:
    """minProperties/maxProperties; a mapping of exactly one key (a trigger, a
    condition) names the keys it may have and the ones it has."""
    if error.schema.get("maxProperties") == 1:
        found = ", ".join(str(k) for k in error.instance) if error.instance else "none"
        return (f"a {_what(error)} has exactly one key, one of: "
                f"{', '.join(_known_keys(error.schema))} (found: {found})")
    word = "at least" if error.validator == "minProperties" else "at most"
    return f"{_what(error)} needs {word} {error.validator_value} keys"


def _repeated_item(error: ValidationError) -> str:
    return f"{_what(error)} lists the same item twice"


def _forbidden(error: ValidationError) -> str:
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return description or f"{_what(error)} is not allowed here"


_PROBLEMS: dict[str, Callable[[ValidationError], list[SchemaProblem]]] = {
    "additionalProperties": _unknown_keys,
    "required": _missing_keys,
    "anyOf": _alternatives,
    "oneOf": _alternatives,
}

_MESSAGES: dict[str, Callable[[ValidationError], str]] = {
    "type": _wrong_type,
    "enum": _not_allowed,
    "const": _not_allowed,
    "pattern": _not_valid,
    "format": _not_valid,
    "minimum": _out_of_range,
    "maximum": _out_of_range,
    "exclusiveMinimum": _out_of_range,
    "exclusiveMaximum": _out_of_range,
    "minLength": _too_short,
    "maxLength": _too_long,
    "minItems": _too_few_items,
    "maxItems": _too_many_items,
    "minProperties": _key_count,
    "maxProperties": _key_count,
    "uniqueItems": _repeated_item,
    "not": _forbidden,
}


def _translate(error: ValidationError) -> list[SchemaProblem]:
    several = _PROBLEMS.get(error.validator)
    if several is not None:
        return several(error)
    message = _MESSAGES.get(error.validator)
    return [SchemaProblem(tuple(error.absolute_path), False,
                          message(error) if message is not None else error.message)]


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
