"""YAML with line numbers, and problems reported as `file:line: field: what is wrong`.

PyYAML's constructed objects forget where they came from, so the node tree is
walked once to map every key path to its line. Case files and target files both
load through here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]
_FLOAT = "tag:yaml.org,2002:float"
# libyaml's parser when PyYAML has it (about 10x faster on the suite), with the same safe
# constructor; its nodes carry the same marks, so line numbers do not change.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_own(text: str) -> Any:
    """A YAML file the project ships (no line numbers kept), through the same fast safe loader."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # not from a file: a command-line argument or a path
            return f"{self.file}: {self.field}: {self.message}"
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class InputError(Exception):
    """One or more problems in the user's input; the CLI prints them and exits 2."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.field, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


@dataclass
class Document:
    """One YAML document: its Python value and the line of every key path."""

    file: str
    data: Any
    key_lines: dict[KeyPath, int]
    value_lines: dict[KeyPath, int]
    problems: list[Problem]

    def line(self, path: KeyPath) -> int:
        """The line naming `path` (its key), else where its value starts, else its parent's."""
        path = tuple(path)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
        return self.value_lines.get((), 1)

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.file, self.line(path), dotted(path), message)


# Bounds on what one file may make the harness do before a single field is checked: the
# biggest bundled file is 11 KB with 13 cases; a billion-laughs file is 425 bytes.
MAX_FILE_BYTES = 1 << 20
MAX_DOCUMENTS = 1000
MAX_DEPTH = 64
MAX_NODES = 200_000  # per file, aliases counted as often as they are used


def read_documents(path: Path, display: str | None = None) -> list[Document]:
    """Every document in a YAML file, or InputError naming the one thing that stops reading it."""
    name = display or str(path)
    text = _text(path, name)
    if _Loader is not yaml.SafeLoader:
        try:
            _check_shape(text, name, _Loader)
            return _documents(text, name, _Loader)
        except yaml.MarkedYAMLError:
            pass  # the pure-Python parser words its errors better: it says what is wrong below
        except yaml.reader.ReaderError as exc:
            raise InputError([_reader_problem(name, text, exc)]) from None
    try:
        _check_shape(text, name, yaml.SafeLoader)
        return _documents(text, name, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = str(exc.problem or exc.context)
        if "mapping values are not allowed" in message:
            message += " (a ': ' inside a plain value: put the value in quotes)"
        raise InputError([Problem(name, line, "yaml", message)]) from None
    except yaml.reader.ReaderError as exc:
        raise InputError([_reader_problem(name, text, exc)]) from None


def _text(path: Path, name: str) -> str:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError([Problem(name, 1, "file", exc.strerror or str(exc))]) from None
    if len(raw) > MAX_FILE_BYTES:
        why = f"larger than {MAX_FILE_BYTES >> 20} MiB; split the cases over several files"
        raise InputError([Problem(name, 1, "file", why)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw, exc.start)
        why = (
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column} (save the file as UTF-8)"
        )
        raise InputError([Problem(name, line, "file", why)]) from None


def _line_column(data: str | bytes, position: int) -> tuple[int, int]:
    """1-based line and column of `position` in text or raw bytes."""
    newline = "\n" if isinstance(data, str) else b"\n"
    return data.count(newline, 0, position) + 1, position - data.rfind(newline, 0, position)  # type: ignore[arg-type]


def _reader_problem(name: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (NUL, most control characters): where it is."""
    line, column = _line_column(text, min(exc.position, len(text)))
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    why = f"character {ord(character):#04x} at line {line}, column {column} is not allowed in YAML (binary?)"
    return Problem(name, line, "file", why)


def _check_shape(text: str, name: str, loader_class: type) -> None:
    """Refuse, from the event stream alone, files too deep, too many or too big once aliases expand.

    Nothing is built here, so a billion-laughs file costs what its text costs; the limits hold
    before the composer (recursive) or the walk below (which follows aliases) see the file.
    """
    loader = loader_class(text)
    documents, nodes = 0, 0
    opened: list[tuple[int, str | None]] = []  # each open collection: the count at its start, its anchor
    anchored: dict[str, int] = {}

    def refuse(event: yaml.Event, why: str) -> InputError:
        return InputError([Problem(name, event.start_mark.line + 1, "yaml", why)])

    def count(size: int, event: yaml.Event) -> None:
        nonlocal nodes
        nodes += size
        if nodes > MAX_NODES:
            raise refuse(
                event,
                f"more than {MAX_NODES:,} values once aliases are expanded "
                "(nested aliases such as a billion-laughs file?)",
            )

    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > MAX_DOCUMENTS:
                    raise refuse(event, f"more than {MAX_DOCUMENTS} documents in one file")
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(opened) == MAX_DEPTH:
                    raise refuse(event, f"nested deeper than {MAX_DEPTH} levels")
                opened.append((nodes, event.anchor))
                count(1, event)
            elif isinstance(event, yaml.CollectionEndEvent):
                start, anchor = opened.pop()
                if anchor:
                    anchored[anchor] = nodes - start
            elif isinstance(event, yaml.ScalarEvent):
                count(1, event)
                if event.anchor:
                    anchored[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                count(anchored.get(event.anchor, 1), event)
    finally:
        loader.dispose()


def _documents(text: str, name: str, loader_class: type) -> list[Document]:
    loader = loader_class(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = Document(name, None, {}, {}, [])
            doc.data = loader.construct_document(node)  # first: it refuses keys that are not scalars
            _walk(node, (), doc)
            docs.append(doc)
    finally:
        loader.dispose()
    return docs


def _walk(node: yaml.Node, path: KeyPath, doc: Document) -> None:
    doc.value_lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                doc.problems.append(
                    Problem(
                        doc.file, line, dotted(path + (key,)), f"duplicate key (first at line {seen[key]})"
                    )
                )
            seen[key] = line
            doc.key_lines[path + (key,)] = line
            _walk(value_node, path + (key,), doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), doc)
    elif node.tag == _FLOAT and not _finite(node.value):
        doc.problems.append(doc.problem(path, f"{node.value} is not a finite number"))


def _finite(text: str) -> bool:
    """A YAML 1.1 float as PyYAML reads it: .inf and .nan, 1e400 overflowing, 1_000.5, 1:30.0 (base 60)."""
    plain = text.replace("_", "").lower()
    if plain.lstrip("+-") in (".inf", ".nan"):
        return False
    try:
        return all(math.isfinite(float(part)) for part in plain.split(":"))
    except ValueError:
        return True  # not a number at all: the schema says what it expected
