"""The manifest schema itself: valid JSON Schema 2020-12, documented for editors, and read
alike by the fast check (jsonschema-rs) and the judge of errors (jsonschema)."""
from __future__ import annotations

from typing import Any, Iterator

from jsonschema import Draft202012Validator

from reconciler import schema


def test_schema_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(schema.schema())
    assert schema.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield f"{path}.{key}", value
        for key, value in node.items():
            if key != "properties":
                yield from _properties(value, f"{path}/{key}")
            else:
                for name, sub in value.items():
                    yield from _properties(sub, f"{path}.{name}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _properties(item, f"{path}[{index}]")


def test_every_key_has_a_title_or_points_at_a_documented_definition() -> None:
    """VS Code's YAML extension shows title and description on hover."""
    definitions = schema.schema()["$defs"]
    missing = []
    for path, value in _properties(schema.schema()):
        if value is True or "/if" in path:
            continue  # a key allowed here and described in an allOf branch
        target = value
        if isinstance(value, dict) and "$ref" in value and "title" not in value:
            target = definitions[value["$ref"].rsplit("/", 1)[-1]]
        if not isinstance(target, dict) or not (target.get("title") or target.get("description")):
            missing.append(path)
    assert not missing, missing


# --- the fast check never accepts what jsonschema refuses ------------------------------

import copy  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from reconciler.yamlpos import load_all  # noqa: E402

HERE = Path(__file__).parent


def _documents() -> list[Any]:
    docs = []
    for path in sorted(list((HERE / "cases").rglob("*.yaml")) + list((HERE.parent / "tasks.d").glob("*.yaml"))):
        try:
            docs.extend(d.data for d in load_all(path.read_text(encoding="utf-8", errors="replace"))
                        if d.data is not None)
        except Exception:  # noqa: BLE001 - the broken-YAML cases are not documents
            continue
    return docs


DOCUMENTS = _documents()


def _same(document: Any) -> None:
    """jsonschema-rs may refuse more than jsonschema (then jsonschema decides), never
    less; a document has problems exactly when jsonschema refuses it."""
    valid = schema.validator().is_valid(document)
    if schema.fast_accepts(document):
        assert valid
    found = schema.problems(document)
    assert (found == []) == valid


def test_fast_check_matches_jsonschema_on_every_test_manifest() -> None:
    assert len(DOCUMENTS) > 30
    assert any(schema.validator().is_valid(d) for d in DOCUMENTS)
    assert not all(schema.validator().is_valid(d) for d in DOCUMENTS)
    for document in DOCUMENTS:
        _same(document)
        # Where they agree, as on every manifest here, valid ones never reach jsonschema.
        assert schema.fast_accepts(document) == schema.validator().is_valid(document)


def test_what_only_the_fast_check_refuses_is_left_to_jsonschema() -> None:
    """jsonschema-rs reads patterns as ECMA 262 does (``$`` is the very end) and cannot
    read a mapping key that is not a string; jsonschema's verdict is the one that counts."""
    document = copy.deepcopy(next(d for d in DOCUMENTS if d.get("kind") == "ScheduledTask"
                                  and schema.validator().is_valid(d)))
    document["spec"]["triggers"] = [{"daily": {"at": "09:30\n"}}]
    assert not schema.fast_accepts(document)
    assert schema.problems(document) == []
    document["spec"][1] = "x"
    assert not schema.fast_accepts(document)
    assert [(p.path, p.at_key, p.message) for p in schema.problems(document)] == [
        (("spec", 1), True, "unknown key 1; expected one of: " + ", ".join(
            schema.schema()["$defs"]["taskSpec"]["properties"]))]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "x", "09:30", "09:30\n", "25:00", "15m", "PT1H", "soon", "Mon", "last", "SYSTEM", "none",
                       "reconcile/v1", "ScheduledTask", "Defaults", "ignoreNew", "2026-01-01", "{bad}"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["at", "days", "every", "name", "command", "x", "cron", "daily",
                                       "repeat", "user", "timeout", "expression", 1]), children, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, prefix + (index,)))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(DOCUMENTS))), st.data(), json_values)
def test_fast_check_matches_jsonschema_on_mutated_manifests(index: int, data: st.DataObject,
                                                           value: Any) -> None:
    document = copy.deepcopy(DOCUMENTS[index])
    document = _plain(document)
    paths = _paths(document)
    target = data.draw(st.sampled_from(paths))
    if not target:
        document = value
    else:
        parent = document
        for step in target[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent[str(data.draw(st.sampled_from(["extra", "evry", "setings", target[-1]])))] = value
        else:
            parent[target[-1]] = value
    _same(document)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
