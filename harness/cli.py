"""`harness run | list | validate | targets | mutants`: the command-line face of the harness.

Exit status: 0 every verdict as expected (cases listed in the target's
expected-verdicts file may fail), 1 some verdict drifted (a new failure, or a
known one that now passes), 2 a usage or input error (printed as
`file:line: field: what is wrong`, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .loader import load_cases
from .selection import select
from .semantics import REPO_ROOT, catalogue
from .target import TargetUnavailable, known_targets, load_target
from .verdicts import drift, expected_verdict, load_expected
from .yamlsrc import InputError, Problem

if TYPE_CHECKING:
    from .reports import ResultsWriter
    from .runner import CaseResult
    from .scoring import Scorecard
    from .target import Target, TargetConfig

DEFAULT_CASES = REPO_ROOT / "testcases"
_COLOURS = {"pass": "32", "fail": "31", "error": "35", "skip": "33"}


def _default_paths(paths: Sequence[str]) -> list[str]:
    if paths:
        return list(paths)
    local = Path("testcases")
    return [str(local if local.is_dir() else DEFAULT_CASES)]


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"-j wants a whole number of workers from 1 to 64, not {text!r}")
    return value


def _paint(text: str, verdict: str, stream: object) -> str:
    if getattr(stream, "isatty", lambda: False)():
        return f"\033[{_COLOURS[verdict]}m{text}\033[0m"
    return text


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line naming the flag, like every other input error (argparse's own
    error() prints the whole usage block first, which buries the line that matters in a CI log)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.removeprefix('argument ')} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="TCP conformance harness")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("paths", nargs="*", help="case files or folders (default: testcases/)")
        p.add_argument(
            "-k",
            dest="keyword",
            help="only cases whose id/title/semantics match, e.g. 'keepalive and not fs'",
        )
        p.add_argument(
            "--semantic", action="append", default=[], metavar="ID", help="only cases citing ID (repeatable)"
        )

    run = sub.add_parser("run", help="run cases on a target and write reports")
    selection(run)
    run.add_argument(
        "--target", default="inprocess", help="a target name (see `harness targets`) or a YAML file"
    )
    run.add_argument("--results", default="results", help="folder for junit.xml, summary.json, pcaps/")
    run.add_argument("-q", "--quiet", action="store_true", help="no line per case")
    run.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="cases at once, each worker with its own link and agent (wall-clock targets; default "
        "per core 4 on linux, lwip and freertos-posix; 1 on inprocess and sam4e)",
    )
    rep = sub.add_parser(
        "report",
        help="render a results folder's reports again from its journal; with several folders (runs on "
        "several targets), also a matrix of them side by side",
    )
    rep.add_argument("results", nargs="*", default=["results"], help="results folders (default: results)")
    rep.add_argument("--out", default="results-matrix", help="where matrix.json and matrix.html go")
    lst = sub.add_parser("list", help="list cases (with --target: which would be skipped and why)")
    selection(lst)
    lst.add_argument("--target", help="show each case's expected verdict and skip reason on this target")
    mut = sub.add_parser(
        "mutants", help="run the suite once per fault switch of the bundled stack; print the mutation matrix"
    )
    selection(mut)
    mut.add_argument("--target", default="inprocess", help="a target with fault switches (inprocess)")
    mut.add_argument(
        "--switch", action="append", default=[], metavar="NAME", help="only this fault switch (repeatable)"
    )
    val = sub.add_parser("validate", help="check case files and exit")
    val.add_argument("paths", nargs="*")
    val.add_argument(
        "--target", help="also resolve every profile.* and settings.* name the cases use on this target"
    )
    tgt = sub.add_parser("targets", help="list the known targets")
    tgt.set_defaults(paths=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {
            "run": _run,
            "list": _list,
            "validate": _validate,
            "targets": _targets,
            "mutants": _mutants,
            "report": _report,
        }[args.command](args)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `harness list | head`: the reader left, which is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _load(args: argparse.Namespace, config: TargetConfig | None = None) -> list:
    """The selected cases; with `config`, their profile and settings names resolved on that target."""
    for sid in getattr(args, "semantic", []):
        if sid not in catalogue():
            raise InputError([_problem("--semantic", f"unknown semantic ID {sid!r}")])
    cases = load_cases(_default_paths(args.paths), config)
    return select(cases, getattr(args, "keyword", None), getattr(args, "semantic", []))


def _problem(where: str, message: str, field: str = "argument") -> Problem:
    return Problem(where, 0, field, message)


def _validate(args: argparse.Namespace) -> int:
    config = load_target(args.target) if args.target else None
    cases = load_cases(_default_paths(args.paths), config)
    print(f"{len(cases)} cases OK" + (f" on {config.name}" if config else ""))
    return 0


def _targets(args: argparse.Namespace) -> int:
    for name in known_targets():
        config = load_target(name)
        print(f"{name:12} {config.clock:8} {config.description}")
    return 0


def _mutants(args: argparse.Namespace) -> int:
    """Exit 0 when every switch is caught, 1 when some is not, 2 on a usage error."""
    from . import mutants

    unknown = [s for s in args.switch if s not in mutants.SWITCHES]
    if unknown:
        raise InputError(
            [
                _problem("--switch", f"unknown fault switch {s!r}; known: {', '.join(mutants.SWITCHES)}")
                for s in unknown
            ]
        )
    config = load_target(args.target)
    cases = _load(args, config)
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    try:
        mutants.check_mutable(config)
    except mutants.NotMutable as exc:
        raise InputError([_problem("--target", str(exc))]) from exc
    switches = args.switch or list(mutants.SWITCHES)
    print(f"{len(cases)} cases x {len(switches)} fault switches on {config.name}", file=sys.stderr)
    report = mutants.mutation_matrix(cases, config, switches)
    mutants.render(report, sys.stdout)
    return 0 if report.caught == report.total else 1


def _list(args: argparse.Namespace) -> int:
    config = load_target(args.target) if args.target else None
    cases = _load(args, config)
    expected = load_expected(config.verdicts_path) if config else {}
    for case in cases:
        line = f"{case.id:60} {','.join(case.semantics)}"
        if config:
            reason = config.plan(case.requires, case.settings)[1]
            want = expected_verdict(case.id, expected)
            line += (
                f"  [skip: {reason}]"
                if reason
                else (f"  [expected {want.verdict}]" if want.verdict != "pass" else "")
            )
        print(line)
    print(f"{len(cases)} cases")
    return 0


def _run(args: argparse.Namespace) -> int:
    # The run's modules load here, not at start-up: list, validate and --help never need scapy.
    from .parallel import run_each
    from .progress import StatusLine
    from .reports import ResultsFolderError, ResultsWriter, previous_wall_times
    from .scoring import score

    config = load_target(args.target)
    expected = load_expected(config.verdicts_path)
    cases = _load(args, config)
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    target = config.open()
    try:
        jobs = min(_jobs_for(args.jobs, target, config), len(cases))
    except InputError:
        target.close()
        raise
    try:
        target.preflight()
    except TargetUnavailable as exc:
        target.close()
        print(f"harness: target {config.name}: {exc}", file=sys.stderr)
        return 2  # before the writer: the previous run's reports stay as they were
    results_dir = Path(args.results)
    previous = previous_wall_times(results_dir, config.name)
    signal.signal(signal.SIGTERM, _terminated)
    started = time.monotonic()
    try:
        writer = ResultsWriter(results_dir, config, expected, planned=len(cases))
    except ResultsFolderError as exc:
        target.close()
        raise InputError([Problem("--results", 0, str(results_dir), str(exc))]) from None
    with writer:
        status = StatusLine(len(cases))

        def report(index: int, result: CaseResult) -> None:
            writer.add(result, index)
            lines = "" if args.quiet else _progress(len(writer.results), len(cases), result, expected)
            status.finished(result.case.id, result.verdict, lines)

        try:
            if jobs > 1:
                print(f"{len(cases)} cases on {config.name}, {jobs} workers", file=sys.stderr)
            run_each(cases, config, jobs, report, previous, target, lambda i: status.started(cases[i].id))
        except KeyboardInterrupt:
            print("\ninterrupted: reports cover the cases that finished", file=sys.stderr)
            writer.close("interrupted (Ctrl-C)")
        else:
            writer.finish()
        finally:
            status.close()
    results = writer.in_case_order()
    drifted = drift(results, expected)
    _table(score(results), sys.stdout)
    _closing(results, drifted, writer, config.name)
    workers = f"{jobs} workers" if jobs > 1 else "serially"
    print(f"Wall time: {time.monotonic() - started:.1f} s for {len(results)} cases, {workers}")
    if not writer.complete:
        return 130
    return 1 if drifted or (not expected and any(r.verdict in ("fail", "error") for r in results)) else 0


def _jobs_for(asked: int | None, target: Target, config: TargetConfig) -> int:
    if not target.parallel:
        if asked not in (None, 1):
            why = f"{config.name} can not run cases in parallel: {target.parallel_note}"
            raise InputError([_problem("-j", why)])
        return 1
    if asked is None:
        return target.default_workers
    return asked


def _terminated(signum: int, frame: object) -> None:
    # SystemExit unwinds through the writer (reports rendered) and the targets' close (links removed).
    raise SystemExit(128 + signum)


def _report(args: argparse.Namespace) -> int:
    from .reports import matrix, render_from_journal
    from .reports.ownership import ResultsFolderError, check_ours

    folders = [Path(f) for f in args.results]
    out = Path(args.out)
    if len(folders) > 1 and out.exists() and not out.is_dir():
        raise InputError([_problem(str(out), "is a file, not a folder: give --out a folder", "--out")])
    problems = []
    for folder in folders:
        try:
            check_ours(folder)
            data = render_from_journal(folder)
        except ResultsFolderError as exc:
            problems.append(_problem(str(folder), str(exc), field="results"))
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(_problem(str(folder), f"its journal can not be rendered: {exc}", field="results"))
            continue
        print(
            f"{folder}: {data['totals']['cases']} cases on {data['target']} rendered from its journal",
            file=sys.stderr,
        )
    if problems:
        raise InputError(problems)
    if len(folders) > 1:
        table = matrix.build(matrix.load_runs(folders))
        matrix.print_table(table, sys.stdout)
        try:
            written = matrix.write(table, out)
        except OSError as exc:
            why = f"can not be written: {exc.strerror or exc}"
            raise InputError([_problem(str(out), why, "--out")]) from None
        print(f"Matrix: {', '.join(map(str, written))}")
    return 0


def _progress(index: int, total: int, result: CaseResult, expected: dict) -> str:
    """The lines a finished case gets (a run without -q)."""
    want = expected_verdict(result.case.id, expected)
    tag = result.verdict.upper()
    note = ""
    if result.verdict != want.verdict and not (result.verdict == "skip" and want.verdict == "pass"):
        note = f"  << expected {want.verdict}"
    elif want.verdict != "pass":
        note = f"  (expected: {want.reason})"
    width = len(str(total))
    lines = [
        f"[{index:{width}}/{total}] {_paint(f'{tag:5}', result.verdict, sys.stdout)} {result.case.id}"
        f"  {result.wall_time * 1000:.0f} ms wall, {result.protocol_time:.1f} s protocol{note}"
    ]
    if result.verdict in ("fail", "error") and result.verdict != want.verdict:
        lines.append(f"      {result.where}: {result.message.splitlines()[0] if result.message else ''}")
        lines += [
            f"        {m.field}: expected {m.expected}; observed {m.observed}" for m in result.mismatches
        ]
    elif result.verdict == "skip":
        lines.append(f"      {result.message}")
    lines += [f"      warning: {warning}" for warning in result.warnings]
    return "\n".join(lines) + "\n"


def _table(card: Scorecard, out: object) -> None:
    print("\nScore per semantic (passed/run):", file=out)
    for sid, s in card.per_semantic.items():
        print(f"  {sid:16} {s.text()}", file=out)
    print(
        "Per group: " + "; ".join(f"{g} {s.text()}" for g, s in card.per_group.items() if s.run or s.skipped),
        file=out,
    )
    print(f"Overall: {card.overall.text()}", file=out)


def _closing(results: list[CaseResult], drifted: list, writer: ResultsWriter, target: str) -> None:
    counts = {v: sum(r.verdict == v for r in results) for v in ("pass", "fail", "error", "skip")}
    known = sum(1 for r in results if r.verdict in ("fail", "error")) - sum(
        1 for d in drifted if d.actual in ("fail", "error")
    )
    print(
        f"{target}: {counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
        f"{counts['skip']} skipped"
    )
    print(f"{known} failures are expected for {target} (findings in {writer.summary_path})")
    if drifted:
        print(f"DRIFT from {target}'s expected verdicts ({len(drifted)}):")
        for d in drifted:
            print(f"  {d}")
    html = writer.folder / "report.html"
    print(f"Reports: {html}, {writer.junit_path}, {writer.summary_path}, {writer.pcaps}/")


if __name__ == "__main__":
    sys.exit(main())
