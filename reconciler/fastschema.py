"""A validator generated from ``schemas/manifest.schema.json``: the same schema, the same
errors as jsonschema (same keyword, instance, path and subschema), in a fraction of the
time and without importing jsonschema at all.

jsonschema re-walks the schema for every instance and builds a validator object per
``$ref``; at thousands of manifests that dominates ``plan``. Here the schema is turned
once into a tree of closures. Only the keywords the manifest schema uses are supported;
anything else is refused when the schema is compiled, so the two can never silently
disagree. The test suite checks both report the same problems on every test manifest
and on generated documents."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

_ANNOTATIONS = {"title", "description", "examples", "x-hint", "$schema", "$id", "$comment", "$defs",
                "default"}
_SUPPORTED = _ANNOTATIONS | {
    "$ref", "type", "properties", "additionalProperties", "required", "enum", "const", "pattern",
    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "items", "anyOf", "allOf", "if", "then", "else", "not",
}


@dataclass
class Error:
    """The fields of jsonschema's ValidationError that schema.py reads."""

    validator: str
    validator_value: Any
    instance: Any
    path: tuple[Any, ...]
    schema: Any
    schema_path: tuple[Any, ...] = ()
    context: list["Error"] = field(default_factory=list)
    message: str = ""

    @property
    def absolute_path(self) -> tuple[Any, ...]:
        return self.path

    @property
    def relative_schema_path(self) -> tuple[Any, ...]:
        return self.schema_path


Check = Callable[[Any, tuple, list], None]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float))
    raise ValueError(f"unknown type {kind!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return a == b


class Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.cache: dict[int, Check] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def compile(self, schema: Any) -> Check:
        key = id(schema)
        if key in self.cache:
            return self.cache[key]
        # A placeholder first, so recursive $refs end (the manifest schema has none, but
        # a compiler that loops forever on one would be a poor generated validator).
        holder: list[Check] = []
        self.cache[key] = lambda instance, path, errors: holder[0](instance, path, errors)
        check = self._build(schema)
        holder.append(check)
        self.cache[key] = check
        return check

    def _build(self, schema: Any) -> Check:
        if schema is True:
            return lambda instance, path, errors: None
        if schema is False:
            def never(instance: Any, path: tuple, errors: list) -> None:
                errors.append(Error("false", False, instance, path, False,
                                    message=f"False schema does not allow {instance!r}"))
            return never
        unknown = set(schema) - _SUPPORTED
        if unknown:
            raise ValueError(f"the generated validator does not support {sorted(unknown)}")
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else", "additionalProperties"):
                continue
            builder = getattr(self, "_k_" + keyword.lstrip("$"))
            checks.append(builder(value, schema))
        if "additionalProperties" in schema:
            checks.append(self._k_additionalProperties(schema["additionalProperties"], schema))
        if len(checks) == 1:
            return checks[0]

        def all_checks(instance: Any, path: tuple, errors: list) -> None:
            for check in checks:
                check(instance, path, errors)
        return all_checks

    # --- keywords: each returns a check for its value --------------------------------
    def _k_ref(self, ref: str, schema: dict) -> Check:
        # The target's own check, not a wrapper: a $ref costs nothing at validation time
        # (compile() hands out a placeholder while a recursive target is being built).
        return self.compile(self.resolve(ref))

    def _k_type(self, kinds: Any, schema: dict) -> Check:
        wanted = [kinds] if isinstance(kinds, str) else list(kinds)
        plain = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}
        if all(k in plain for k in wanted):
            # One isinstance in C for the common types (no bool/int subtleties here).
            types = tuple(plain[k] for k in wanted)

            def fast(instance: Any, path: tuple, errors: list) -> None:
                if not isinstance(instance, types):
                    errors.append(Error("type", kinds, instance, path, schema,
                                        message=f"{instance!r} is not of type {kinds!r}"))
            return fast

        def check(instance: Any, path: tuple, errors: list) -> None:
            if not any(_is_type(instance, k) for k in wanted):
                errors.append(Error("type", kinds, instance, path, schema,
                                    message=f"{instance!r} is not of type {kinds!r}"))
        return check

    def _k_properties(self, properties: dict, schema: dict) -> Check:
        compiled = {name: self.compile(sub) for name, sub in properties.items()}

        def check(instance: Any, path: tuple, errors: list) -> None:
            if not isinstance(instance, dict):
                return
            for name, value in instance.items():
                sub = compiled.get(name)
                if sub is not None:
                    sub(value, path + (name,), errors)
        return check

    def _k_additionalProperties(self, additional: Any, schema: dict) -> Check:
        known = set(schema.get("properties", {}))
        if additional is False:
            def check(instance: Any, path: tuple, errors: list) -> None:
                if isinstance(instance, dict) and not known.issuperset(instance):
                    errors.append(Error("additionalProperties", False, instance, path, schema,
                                        message="Additional properties are not allowed"))
            return check
        sub = self.compile(additional)

        def check_each(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, dict):
                for name, value in instance.items():
                    if name not in known:
                        sub(value, path + (name,), errors)
        return check_each

    def _k_required(self, required: list, schema: dict) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, dict):
                for name in required:
                    if name not in instance:
                        errors.append(Error("required", required, instance, path, schema,
                                            message=f"{name!r} is a required property"))
        return check

    def _k_enum(self, options: list, schema: dict) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if not any(_equal(instance, option) for option in options):
                errors.append(Error("enum", options, instance, path, schema,
                                    message=f"{instance!r} is not one of {options!r}"))
        return check

    def _k_const(self, constant: Any, schema: dict) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if not _equal(instance, constant):
                errors.append(Error("const", constant, instance, path, schema,
                                    message=f"{constant!r} was expected"))
        return check

    def _k_pattern(self, pattern: str, schema: dict) -> Check:
        compiled = re.compile(pattern)

        def check(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, str) and not compiled.search(instance):
                errors.append(Error("pattern", pattern, instance, path, schema,
                                    message=f"{instance!r} does not match {pattern!r}"))
        return check

    def _number(self, keyword: str, limit: Any, schema: dict, failed: Callable[[Any], bool]) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, (int, float)) and not isinstance(instance, bool) and failed(instance):
                errors.append(Error(keyword, limit, instance, path, schema,
                                    message=f"{instance!r} fails {keyword} {limit!r}"))
        return check

    def _k_minimum(self, limit: Any, schema: dict) -> Check:
        return self._number("minimum", limit, schema, lambda v: v < limit)

    def _k_maximum(self, limit: Any, schema: dict) -> Check:
        return self._number("maximum", limit, schema, lambda v: v > limit)

    def _sized(self, keyword: str, limit: int, schema: dict, kind: type,
               failed: Callable[[int], bool]) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, kind) and failed(len(instance)):
                errors.append(Error(keyword, limit, instance, path, schema,
                                    message=f"{instance!r} fails {keyword} {limit!r}"))
        return check

    def _k_minLength(self, limit: int, schema: dict) -> Check:
        return self._sized("minLength", limit, schema, str, lambda n: n < limit)

    def _k_maxLength(self, limit: int, schema: dict) -> Check:
        return self._sized("maxLength", limit, schema, str, lambda n: n > limit)

    def _k_minItems(self, limit: int, schema: dict) -> Check:
        return self._sized("minItems", limit, schema, list, lambda n: n < limit)

    def _k_maxItems(self, limit: int, schema: dict) -> Check:
        return self._sized("maxItems", limit, schema, list, lambda n: n > limit)

    def _k_minProperties(self, limit: int, schema: dict) -> Check:
        return self._sized("minProperties", limit, schema, dict, lambda n: n < limit)

    def _k_maxProperties(self, limit: int, schema: dict) -> Check:
        return self._sized("maxProperties", limit, schema, dict, lambda n: n > limit)

    def _k_uniqueItems(self, unique: bool, schema: dict) -> Check:
        def check(instance: Any, path: tuple, errors: list) -> None:
            if unique and isinstance(instance, list):
                for i, a in enumerate(instance):
                    if any(_equal(a, b) for b in instance[i + 1:]):
                        errors.append(Error("uniqueItems", unique, instance, path, schema,
                                            message=f"{instance!r} has non-unique elements"))
                        return
        return check

    def _k_items(self, items: Any, schema: dict) -> Check:
        sub = self.compile(items)

        def check(instance: Any, path: tuple, errors: list) -> None:
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    sub(item, path + (index,), errors)
        return check

    def _k_allOf(self, branches: list, schema: dict) -> Check:
        compiled = [self.compile(b) for b in branches]

        def check(instance: Any, path: tuple, errors: list) -> None:
            for sub in compiled:
                sub(instance, path, errors)
        return check

    def _k_anyOf(self, branches: list, schema: dict) -> Check:
        compiled = [self.compile(b) for b in branches]

        def check(instance: Any, path: tuple, errors: list) -> None:
            context: list[Error] = []
            for index, sub in enumerate(compiled):
                found: list[Error] = []
                sub(instance, path, found)
                if not found:
                    return
                for error in found:
                    error.schema_path = (index,) + error.schema_path
                context.extend(found)
            errors.append(Error("anyOf", branches, instance, path, schema, context=context,
                                message=f"{instance!r} is not valid under any of the given schemas"))
        return check

    def _k_not(self, negated: Any, schema: dict) -> Check:
        sub = self.compile(negated)

        def check(instance: Any, path: tuple, errors: list) -> None:
            found: list[Error] = []
            sub(instance, path, found)
            if not found:
                errors.append(Error("not", negated, instance, path, schema,
                                    message=f"{instance!r} should not be valid under {negated!r}"))
        return check

    def _k_if(self, condition: Any, schema: dict) -> Check:
        test = self.compile(condition)
        then = self.compile(schema["then"]) if "then" in schema else None
        otherwise = self.compile(schema["else"]) if "else" in schema else None

        def check(instance: Any, path: tuple, errors: list) -> None:
            probe: list[Error] = []
            test(instance, path, probe)
            branch = then if not probe else otherwise
            if branch is not None:
                branch(instance, path, errors)
        return check


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], list[Error]]:
    check = Compiler(schema).compile(schema)

    def validate(instance: Any) -> list[Error]:
        errors: list[Error] = []
        check(instance, (), errors)
        return errors
    return validate
