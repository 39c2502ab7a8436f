"""Schema refs inlined once: the same verdicts, no lookups left but the recursive ones."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from harness import expr, loader
from harness.validation import inline_refs


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for k, v in node.items() if k != "$defs" for r in _refs(v)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_inlining_keeps_only_recursive_refs_and_the_same_verdicts() -> None:
    schema = {
        "$defs": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "x-error": "a port"},
            "tree": {"type": "object", "properties": {
                "port": {"$ref": "#/$defs/port"},
                "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
            }},
        },
        "$ref": "#/$defs/tree",
    }
    before = json.dumps(schema)
    inlined = inline_refs(schema)
    assert json.dumps(schema) == before                 # the original is left as it was
    assert _refs(inlined) == ["#/$defs/tree"]          # the recursion stays a reference
    assert inlined["properties"]["port"]["x-error"] == "a port"  # messages' hints travel with the copy
    values = ({"port": 80}, {"port": 0}, {"kids": [{"port": 70000}]}, {"kids": [{"kids": [{"port": 1}]}]})
    for value in values:
        want = sorted(e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(value))
        got = sorted(e.message for e in jsonschema.Draft202012Validator(inlined).iter_errors(value))
        assert got == want, value


def test_step_schemas_are_built_once_with_no_refs_to_look_up() -> None:
    for action in ("expect", "inject", "call", "handshake"):
        built = loader._step_schema(action)
        assert built is loader._step_schema(action)
        assert set(_refs(built)) <= {"#/$defs/step"}, action


def test_expressions_are_parsed_once() -> None:
    assert expr.parse("profile.timing.tolerance * 3") is expr.parse("profile.timing.tolerance * 3")
