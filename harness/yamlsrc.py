"""YAML with line numbers, and problems reported as `file:line: field: what is wrong`.

PyYAML's constructed objects forget where they came from, so the node tree is
walked once to map every key path to its line. Case files and target files both
load through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]
# libyaml's parser when PyYAML has it (about 10x faster on the suite), with the same safe
# constructor; its nodes carry the same marks, so line numbers do not change.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    duplicates: list[Problem]

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


def read_documents(path: Path, display: str | None = None) -> Iterator[Document]:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(name, 1, "file", exc.strerror or str(exc))]) from None
    if _Loader is not yaml.SafeLoader:
        try:
            yield from _documents(text, name, _Loader)
            return
        except yaml.MarkedYAMLError:
            pass  # the pure-Python parser words its errors better: it says what is wrong below
    try:
        yield from _documents(text, name, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = str(exc.problem or exc.context)
        if "mapping values are not allowed" in message:
            message += " (a ': ' inside a plain value: put the value in quotes)"
        raise InputError([Problem(name, line, "yaml", message)]) from None


def _documents(text: str, name: str, loader_class: type) -> list[Document]:
    loader = loader_class(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = Document(name, None, {}, {}, [])
            _walk(node, (), doc)
            doc.data = loader.construct_document(node)
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
                doc.duplicates.append(
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
