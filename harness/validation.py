"""JSON Schema errors turned into one short, line-numbered sentence each.

jsonschema's own messages dump whole instances; a firmware engineer needs the
field and what to write instead. Schemas may carry `x-error` (a message for
that node, `{value!r}` filled in), `x-what` (what an enum lists), `x-known` (names a mapping
takes beside its properties, e.g. through patternProperties) and `x-sysctl` (a key prefix: each
such key of the mapping must name a per-namespace sysctl and hold a value one can take).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import jsonschema

from . import sysctl
from .yamlsrc import Document, KeyPath, Problem, dotted

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _python_type(value: Any) -> str:
    for word, kinds in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("object", dict),
        ("array", list),
    ):
        if isinstance(value, kinds):
            return _TYPE_WORDS[word]
    return "null" if value is None else type(value).__name__


def _sysctl_entries(validator: Any, prefix: str, instance: Any, schema: dict) -> Iterable[Any]:
    """`x-sysctl: PREFIX`: one error per bad `PREFIX<name>: value` entry, at that entry."""
    if isinstance(instance, dict):
        for key, message in sysctl.problems(instance, prefix):
            yield jsonschema.ValidationError(message, path=[key])


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-sysctl": _sysctl_entries})


def inline_refs(schema: dict) -> dict:
    """`schema` with each local `{"$ref": "#/$defs/NAME"}` replaced by a copy of what it names, except
    where that would recurse; `$defs` stays for those. The same checks and messages: jsonschema looks
    a `$ref` up again on every visit, and that was a quarter of loading the suite."""
    defs = schema.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if set(node) - {"$defs"} == {"$ref"} and isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen or name not in defs:
                return node
            kept = {"$defs": node["$defs"]} if "$defs" in node else {}
            return {**kept, **inline(defs[name], (*seen, name))}
        return {key: value if key in ("$defs", "enum", "const") else inline(value, seen)
                for key, value in node.items()}

    return inline(schema, ())


def validate(doc: Document, schema: dict, instance: Any = None, prefix: KeyPath = ()) -> list[Problem]:
    """Problems with `instance` (default: the whole document) found at `prefix` inside `doc`."""
    target = doc.data if instance is None else instance
    validator = _Validator(schema)
    problems: list[Problem] = []
    for error in validator.iter_errors(target):
        problems.extend(_explain(doc, error, prefix))
    return problems


def _explain(doc: Document, error: jsonschema.ValidationError, prefix: KeyPath) -> Iterable[Problem]:
    path = prefix + tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind in ("anyOf", "oneOf"):
        branch = _only_branch_of_right_type(error)
        if branch is not None:
            for sub in branch:
                yield from _explain(doc, sub, prefix)
            return
    if kind == "additionalProperties":
        known = ", ".join([*sorted(schema.get("properties", {})), *schema.get("x-known", [])])
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = [
            k
            for k in error.instance
            if k not in schema.get("properties", {}) and not any(p.search(k) for p in patterns)
        ]
        for key in extra:
            yield doc.problem(path + (key,), f"unknown field (known: {known})")
        return
    if kind == "required":
        missing = error.message.split("'")[1]
        yield Problem(doc.file, doc.line(path), dotted(path + (missing,)), "required field is missing")
        return
    if "x-error" in schema and kind in ("anyOf", "oneOf", "pattern"):
        yield doc.problem(path, schema["x-error"].replace("{value!r}", repr(error.instance)))
        return
    yield doc.problem(path, _sentence(kind, error, schema))


def _only_branch_of_right_type(error: jsonschema.ValidationError) -> list | None:
    """The sub-errors of the one anyOf branch whose type fits the value, if there is exactly one."""
    branches: dict[int, list] = {}
    for sub in error.context or ():
        branches.setdefault(sub.schema_path[0], []).append(sub)
    # First drop branches of the wrong type, then (for mappings) those missing their key field.
    fitting = [subs for subs in branches.values() if not any(_wrong_type(s) for s in subs)]
    if len(fitting) > 1:
        fitting = [
            subs
            for subs in fitting
            if not any(s.validator == "required" and not s.relative_path for s in subs)
        ]
    return fitting[0] if len(fitting) == 1 else None


def _wrong_type(error: jsonschema.ValidationError) -> bool:
    """The value is not even of the kind this (sub)schema takes."""
    if error.relative_path:
        return False
    if error.validator in ("type", "const", "enum"):
        return True
    if error.validator in ("anyOf", "oneOf"):
        return all(_wrong_type(sub) for sub in error.context or ())
    return False


_TEMPLATES = {
    "const": "expected {limit!r}",
    "minimum": "{value!r} is below the minimum {limit}",
    "maximum": "{value!r} is above the maximum {limit}",
    "minItems": "expected at least {limit} item(s), got {count}",
    "maxItems": "expected at most {limit} item(s), got {count}",
    "minLength": "must not be empty",
    "maxLength": "{count} characters; at most {limit}",
    "minProperties": "expected at least {limit} field(s)",
    "maxProperties": "expected at most {limit} field(s)",
    "pattern": "{value!r} does not match {limit}",
}


def _sentence(kind: str, error: jsonschema.ValidationError, schema: dict) -> str:
    value = error.instance
    if kind == "type":
        wanted = schema["type"]
        wanted = [wanted] if isinstance(wanted, str) else wanted
        return f"expected {' or '.join(_TYPE_WORDS.get(w, w) for w in wanted)}, got {_python_type(value)}"
    if kind == "enum":
        what = schema.get("x-what", "value")
        return f"unknown {what} {value!r} (known: {', '.join(map(str, schema['enum']))})"
    if kind in _TEMPLATES:
        count = len(value) if isinstance(value, list | dict | str) else 0
        return _TEMPLATES[kind].format(value=value, limit=error.validator_value, count=count)
    return error.message
