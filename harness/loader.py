"""Load case files: YAML → schema check → semantic checks → Case objects.

Every problem is collected (not just the first) and reported as
`file:line: field: what is wrong`; the caller decides to exit 2.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from . import expr, limits
from .model import ACTIONS, STEP_MODIFIERS, Case, Step
from .semantics import PACKAGE_DIR, catalogue
from .validation import inline_refs, validate
from .vocabulary import KNOWN_NAMES, PENDING
from .yamlsrc import Document, InputError, KeyPath, Problem, dotted, read_documents

CASE_SUFFIXES = (".yaml", ".yml")
# Fields whose strings are expressions or durations, checked once at load time.
_EXPR_FIELDS = {
    "seq",
    "ack",
    "win",
    "len",
    "urg",
    "ttl",
    "tos",
    "ecn",
    "isn",
    "within",
    "after",
    "for",
    "port",
    "timeout",
    "keepalive_interval",
    "hang_protection_time",
    "sack",
    "mss",
    "repeat",
    "size",
    "tolerance",
    "count",
    "seed",
}
_TIME_ANCHORS = ("prev", "last_inject")
_PEER_ISN_ONLY = "peer.isn (the peer's ISN so far) may only be named in a handshake's or device_connects' isn"
# Calls whose result names a socket or semaphore, and the name it gets by default.
_SAVES = {"socket": "sock", "accept": "conn", "semaphore_create": "sem"}
_SOCKET_OPS = frozenset(
    (
        "bind",
        "listen",
        "accept",
        "connect",
        "send",
        "recv",
        "shutdown",
        "closesocket",
        "setsockopt",
        "issocketconnected",
        "connstatus",
    )
)


@cache
def schema() -> dict:
    return json.loads((PACKAGE_DIR / "schema.json").read_text(encoding="utf-8"))


@cache
def _case_schema_without_steps() -> dict:
    # Steps are checked one by one against their action's schema: an anyOf over
    # every step kind would bury the real mistake under nine alternatives.
    shallow = copy.deepcopy(schema())
    shallow["$defs"]["step"] = {"type": "object"}
    return inline_refs(shallow)


@cache
def _step_schema(action: str) -> dict:
    return inline_refs({"$defs": schema()["$defs"], "$ref": f"#/$defs/step_{action}"})


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Case files under the given files and folders, in a stable order."""
    found: list[Path] = []
    problems = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix in CASE_SUFFIXES and p.is_file())
            if not inside:
                problems.append(Problem(str(path), 0, "path", "no case files (*.yaml, *.yml) in this folder"))
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), 0, "path", "no such file or folder"))
    if problems:
        raise InputError(problems)
    return found


class Resolver(Protocol):
    """What the loader asks a target (a TargetConfig) about a case."""

    def plan(
        self, requires: Iterable[str], wanted: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str | None]: ...

    def name_problem(self, name: str, case_settings: Mapping[str, Any]) -> str | None: ...


def load_cases(paths: Iterable[str | Path], target: Resolver | None = None) -> list[Case]:
    """Every case in the given files/folders; raises InputError listing all problems.

    With `target`, every profile and settings name the cases that target would run use is resolved
    there, so a typo is a load-time problem rather than an error verdict halfway through a run.
    """
    cases: list[Case] = []
    problems: list[Problem] = []
    first_seen: dict[str, Case] = {}
    for path in discover(paths):
        try:
            loaded, found = _load_file(path, target)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(found)
        for case in loaded:
            if case.id in first_seen:
                other = first_seen[case.id]
                problems.append(
                    Problem(
                        str(case.file),
                        case.line,
                        "id",
                        f"duplicate case id {case.id!r} (also at {other.file}:{other.line})",
                    )
                )
            else:
                first_seen[case.id] = case
                cases.append(case)
    if problems:
        raise InputError(problems)
    return cases


def _load_file(path: Path, target: Resolver | None = None) -> tuple[list[Case], list[Problem]]:
    cases, problems = [], []
    docs = read_documents(path)
    if not docs:
        return [], [
            Problem(str(path), 1, "file", "no case in this file (it is empty or holds only comments)")
        ]
    for doc in docs:
        case, found = _case_from(doc, path)
        if (
            case is not None
            and not found
            and target is not None
            and not target.plan(case.requires, case.settings)[1]
        ):
            found = _check_target_names(doc, doc.data, target)
        problems.extend(found)
        if case is not None and not found:
            cases.append(case)
    return cases, problems


def _case_from(doc: Document, path: Path) -> tuple[Case | None, list[Problem]]:
    problems = list(doc.problems)
    data = doc.data
    problems += validate(doc, _case_schema_without_steps())
    if not isinstance(data, dict):
        return None, problems
    semantics = data.get("semantics") if isinstance(data.get("semantics"), list) else []
    for sid_index, sid in enumerate(semantics):
        if isinstance(sid, str) and sid not in catalogue():
            problems.append(doc.problem(("semantics", sid_index), f"unknown semantic ID {sid!r}"))
    problems += _check_expressions(doc, data.get("settings"), ("settings",))
    problems += _check_expressions(doc, data.get("peers"), ("peers",))
    problems += _check_expressions(doc, {k: v for k, v in data.items() if k == "tolerance"}, ())
    problems += _check_area(doc, data.get("id"), path)
    names = _Names()
    setup_raw = data.get("setup")
    setup_items = [] if setup_raw is None else setup_raw if isinstance(setup_raw, list) else [setup_raw]
    setup_path = (lambda i: ("setup", i)) if isinstance(setup_raw, list) else (lambda i: ("setup",))
    setup = [_step_from(doc, item, setup_path(i), names, problems) for i, item in enumerate(setup_items)]
    steps_raw = data.get("steps") if isinstance(data.get("steps"), list) else []
    steps = [_step_from(doc, item, ("steps", i), names, problems) for i, item in enumerate(steps_raw)]
    if problems:
        return None, problems
    case = Case(
        id=data["id"],
        title=data["title"],
        semantics=tuple(data["semantics"]),
        steps=tuple(steps),
        setup=tuple(setup),
        file=path,
        line=doc.line(()),
        requires=_with_implied_capabilities(data.get("requires", ()), setup + steps),
        settings=dict(data.get("settings") or {}),
        peers=dict(data.get("peers") or {}),
        source=data.get("source"),
        notes=data.get("notes"),
        tolerance=data.get("tolerance"),
        alone=bool(data.get("alone", False)),
    )
    return case, problems


def _check_area(doc: Document, case_id: object, path: Path) -> list[Problem]:
    """An id's area (close/ in close/peer-fin) is the folder its file is in, so ids stay findable."""
    if not isinstance(case_id, str) or "/" not in case_id:
        return []
    area = case_id.rsplit("/", 1)[0].split("/")
    folders = path.resolve().parent.parts[-len(area) :]
    if list(folders) == area:
        return []
    where = "/".join(folders)
    return [
        doc.problem(
            ("id",),
            f"the id's area {'/'.join(area)!r} is not the folder it is in ({where!r}): "
            f"move the file into {'/'.join(area)}/ or rename the id",
        )
    ]


# Calls that only some device APIs offer: a case making one cannot run where the capability is
# missing, so it is skipped there (with the reason) rather than erroring, whether or not it says so.
_OP_CAPABILITY = {
    "connstatus": "connstatus",
    "semaphore_create": "user_semaphore",
    "semaphore_take": "user_semaphore",
    "select": "select",
}
_OPTION_CAPABILITY = {"SET_SEMAPHORE": "user_semaphore", "REUSE_LISTEN_SOCKET": "reuse_listen"}


def _with_implied_capabilities(declared: Iterable[str], steps: Iterable[Step | None]) -> tuple[str, ...]:
    needed = list(declared)
    for step in steps:
        if step is None or step.action != "call":
            continue
        implied = _OP_CAPABILITY.get(step.body) or _OPTION_CAPABILITY.get(step.opts.get("option", ""))
        if implied and implied not in needed:
            needed.append(implied)
    return tuple(needed)


class _Names:
    """Socket, semaphore, label and background-call names a case defines, in step order."""

    def __init__(self) -> None:
        self.sockets: list[str] = []
        self.semaphores: set[str] = set()
        self.labels: set[str] = set()
        self.calls: set[str] = set()

    def save_socket(self, name: str) -> None:
        if name in self.sockets:
            self.sockets.remove(name)
        self.sockets.append(name)

    def default_socket(self, op: str) -> str | None:
        if op == "accept":
            return "listener" if "listener" in self.sockets else (self.sockets[-1] if self.sockets else None)
        if "conn" in self.sockets:
            return "conn"
        return self.sockets[-1] if self.sockets else None


def _step_from(
    doc: Document, item: Any, path: KeyPath, names: _Names, problems: list[Problem]
) -> Step | None:
    if not isinstance(item, dict):
        return None  # the shallow schema has already said "expected a mapping"
    actions = [k for k in item if k in ACTIONS]
    if not actions:
        strangers = [k for k in item if k not in STEP_MODIFIERS] or list(item) or ["(empty)"]
        problems.append(
            doc.problem(
                path + (strangers[0],), f"unknown step {strangers[0]!r} (known: {', '.join(ACTIONS)})"
            )
        )
        return None
    if len(actions) > 1:
        problems.append(doc.problem(path, f"a step has exactly one action, found {', '.join(actions)}"))
        return None
    action = actions[0]
    found = validate(doc, _step_schema(action), item, path)
    found += _check_expressions(doc, item, path)
    found += _check_names(doc, item, path, action, names)
    problems.extend(found)
    if found:
        return None
    body = item[action]
    opts = {k: v for k, v in item.items() if k != action}
    _resolve_defaults(action, body, opts, names)
    return Step(action=action, body=body, opts=opts, line=doc.line(path + (action,)), where=dotted(path))


def _walk_values(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str, Any]]:
    """(path, key, value) for every mapping entry below `value`."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield path + (key,), key, sub
            yield from _walk_values(sub, path + (key,))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _walk_values(sub, path + (index,))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _check_expressions(doc: Document, value: Any, path: KeyPath) -> list[Problem]:
    problems = []
    entries = list(_walk_values(value, path))
    if isinstance(value, dict):
        for action in ("wait", "expect_silence"):
            if isinstance(value.get(action), str):
                entries.append((path + (action,), "for", value[action]))
    for where, key, sub in entries:
        if key not in _EXPR_FIELDS:
            continue
        for text in _strings(sub):
            try:
                used = expr.names(text)
            except expr.ExprError as exc:
                problems.append(doc.problem(where, str(exc)))
                continue
            in_handshake = key == "isn" and len(where) > 1 and where[-2] in ("handshake", "device_connects")
            if "peer.isn" in used and not in_handshake:
                problems.append(doc.problem(where, _PEER_ISN_ONLY))
        problems += [doc.problem(where, why) for why in limits.problems(str(key), sub)]
    return problems


def _check_target_names(doc: Document, data: dict, target: Resolver) -> list[Problem]:
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    problems = []
    for where, key, sub in _walk_values(data, ()):
        if key not in _EXPR_FIELDS and key not in ("wait", "expect_silence"):
            continue
        for text in _strings(sub):
            try:
                used = expr.names(text)
            except expr.ExprError:
                continue  # already reported
            problems += [
                doc.problem(where, why) for name in used if (why := target.name_problem(name, settings))
            ]
    return problems


def _check_since(doc: Document, since: Any, where: KeyPath, names: _Names) -> list[Problem]:
    if since is None or since in names.labels or since in _TIME_ANCHORS:
        return []
    return [doc.problem(where, f"no step labelled {since!r} before this step (or use prev, last_inject)")]


def _check_names(doc: Document, item: dict, path: KeyPath, action: str, names: _Names) -> list[Problem]:
    problems = []
    op = item.get("call")
    sock = item.get("sock")
    if sock is not None and sock not in names.sockets:
        problems.append(doc.problem(path + ("sock",), f"no socket named {sock!r} before this step"))
    for key in ("is", "is_not"):
        if key in item and item[key] not in names.sockets:
            problems.append(doc.problem(path + (key,), f"no socket named {item[key]!r} before this step"))
    if "sem" in item and item["sem"] not in names.semaphores:
        problems.append(doc.problem(path + ("sem",), f"no semaphore named {item['sem']!r} before this step"))
    if action == "call" and op in _SOCKET_OPS and sock is None and names.default_socket(op) is None:
        problems.append(
            doc.problem(path + ("call",), f"{op} needs a socket: create one first (listen, socket)")
        )
    if item.get("background") and "as" not in item:
        problems.append(doc.problem(path + ("background",), "a background call needs `as: name` to await it"))
    if "as" in item:
        if not item.get("background"):
            problems.append(
                doc.problem(path + ("as",), "`as` names a background call: add `background: true`")
            )
        names.calls.add(item["as"])
    if action == "await" and item["await"] not in names.calls:
        problems.append(
            doc.problem(path + ("await",), f"no background call named {item['await']!r} before this step")
        )
    returns = item.get("returns")
    for text in _strings(returns):
        if text not in KNOWN_NAMES:
            problems.append(doc.problem(path + ("returns",), f"unknown result name {text!r}"))
        elif text == PENDING and action != "await":
            problems.append(doc.problem(path + ("returns",), "`pending` only makes sense with await"))
    body = item.get(action)
    if action == "expect_unordered":
        for index, spec in enumerate(body):
            problems += _check_since(doc, spec.get("since"), path + (action, index, "since"), names)
            if "optional" in spec:
                why = "an expect in an unordered group can not be optional"
                problems.append(doc.problem(path + (action, index, "optional"), why))
    elif isinstance(body, dict):
        problems += _check_since(doc, body.get("since"), path + (action, "since"), names)
    else:
        problems += _check_since(doc, item.get("since"), path + ("since",), names)
    if "label" in item:
        names.labels.add(item["label"])
    _record_saves(item, action, names)
    return problems


def _record_saves(item: dict, action: str, names: _Names) -> None:
    body = item.get(action) if isinstance(item.get(action), dict) else {}
    if action == "listen":
        names.save_socket(body.get("save", "listener"))
    elif action == "device_connects":
        names.save_socket(body.get("save", "conn"))
    elif action == "handshake" and body.get("accept"):
        names.save_socket("conn")
    elif action == "call" and item["call"] in _SAVES:
        name = item.get("save", _SAVES[item["call"]])
        if item["call"] == "semaphore_create":
            names.semaphores.add(name)
        else:
            names.save_socket(name)


def _resolve_defaults(action: str, body: Any, opts: dict, names: _Names) -> None:
    """Write the implicit socket names into the step so the runner never guesses."""
    if action == "call":
        if body in _SAVES:
            opts.setdefault("save", _SAVES[body])
        if body in _SOCKET_OPS:
            opts.setdefault("sock", names.default_socket(body))
