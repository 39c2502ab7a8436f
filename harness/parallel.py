"""`harness run -j N`: cases of one wall-clock target spread over N worker processes.

Each worker opens its own target, so it has its own links, namespaces and agent processes
(every `tch…` name carries the worker's pid). The addresses stay those of the target file:
a worker's link is a world of its own (a namespace, or a veth or tap no host address is on),
so the same addresses never meet, and captures from serial and parallel runs read alike.

Cases run longest first when a previous run's journal says how long they took, so a long
wait does not start last. Results reach `on_result` as they finish, with their place in the
run; the reports put them back in case order.

Stopping: workers ignore Ctrl-C (the terminal sends it to the whole process group); the
parent stops them with SIGTERM, which unwinds each worker through its target's close, so
every link and agent goes. A worker that dies under a case gives that case an error verdict.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from types import FrameType

from .model import Case
from .runner import CaseResult, run_case
from .target import Target, TargetConfig
from .wire.links import close_all_links

_PR_SET_PDEATHSIG = 1
_STOP_GRACE = 15.0  # seconds a worker gets to close its target after SIGTERM


def schedule(cases: Sequence[Case], previous: Mapping[str, float]) -> list[int]:
    """Case indexes in the order to start them: unknown durations first, then longest first."""
    def key(i: int) -> tuple[int, float, int]:
        took = previous.get(cases[i].id)
        return (0, 0.0, i) if took is None else (1, -took, i)
    return sorted(range(len(cases)), key=key)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _worker(config: TargetConfig, cases: Sequence[Case], conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    _stop_with_parent()
    target = config.open()
    try:
        while (index := conn.recv()) is not None:
            conn.send((index, run_case(cases[index], target)))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop that comes now must not cut the clean-up
        try:
            target.close()
        finally:
            # A worker leaves through os._exit, past the atexit hook that removes links: whatever
            # this process still holds goes now.
            close_all_links()


def _stop_with_parent() -> None:
    """SIGTERM this worker when the run's process dies, even by SIGKILL (prctl PR_SET_PDEATHSIG),
    so its links and agents go with it instead of outliving the run."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe's end still stops it after its case
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        raise SystemExit(0)


def _died(case: Case, config: TargetConfig, exitcode: int | None) -> CaseResult:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit status {exitcode}"
    return CaseResult(case, config.name, "error", f"the worker running this case died ({how})")


def run_parallel(
    cases: Sequence[Case],
    config: TargetConfig,
    workers: int,
    on_result: Callable[[int, CaseResult], None],
    previous: Mapping[str, float] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> None:
    # One pipe per worker, written synchronously: a worker that dies mid-case cannot take a queue's
    # lock or an unsent message with it, and its pipe's end-of-file says which case it was on.
    ctx = mp.get_context("fork")  # workers inherit the loaded cases; nothing to re-import
    order = deque(schedule(cases, previous or {}))
    procs: dict[Connection, mp.process.BaseProcess] = {}
    running: dict[Connection, int] = {}  # a worker's pipe -> the case it is on
    finished = False
    try:
        for _ in range(max(1, min(workers, len(cases)))):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(config, cases, theirs), daemon=True)
            proc.start()
            theirs.close()
            procs[ours] = proc
            _hand_out(ours, order, running, on_start)
        while running:
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                try:
                    index, result = conn.recv()
                except EOFError:
                    index = running.pop(conn)
                    procs[conn].join(_STOP_GRACE)
                    on_result(index, _died(cases[index], config, procs[conn].exitcode))
                    continue
                del running[conn]
                on_result(index, result)
                _hand_out(conn, order, running, on_start)
        for index in order:  # only when every worker died
            on_result(index, CaseResult(cases[index], config.name, "error", "not run: every worker died"))
        finished = True
    finally:
        _stop(list(procs.values()), finished)


def _hand_out(conn: Connection, order: deque[int], running: dict[Connection, int],
              on_start: Callable[[int], None] | None) -> None:
    """The next case to a worker that is free, or word that there is none."""
    if order:
        running[conn] = order.popleft()
        conn.send(running[conn])
        if on_start:
            on_start(running[conn])
    else:
        conn.send(None)


def default_workers(config: TargetConfig) -> int:
    """How many workers `harness run` uses on this target when -j is not given."""
    target = config.open()
    try:
        return target.default_workers
    finally:
        target.close()


def run_all(
    cases: Sequence[Case],
    config: TargetConfig,
    workers: int | None = None,
    previous: Mapping[str, float] | None = None,
) -> list[CaseResult]:
    """Every case's result, in case order: serially on one target, or over `workers` processes
    (default: as many as `harness run` would use), longest first as far as `previous` knows."""
    workers = default_workers(config) if workers is None else workers
    results: list[CaseResult | None] = [None] * len(cases)

    def keep(index: int, result: CaseResult) -> None:
        results[index] = result

    run_each(cases, config, workers, keep, previous)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def run_each(
    cases: Sequence[Case],
    config: TargetConfig,
    workers: int,
    on_result: Callable[[int, CaseResult], None],
    previous: Mapping[str, float] | None = None,
    target: Target | None = None,
    on_start: Callable[[int], None] | None = None,
) -> None:
    """Serially on `target` (or a new one), or over `workers` processes; the target is closed after.
    `on_start` hears of each case as it starts, `on_result` as it ends."""
    workers = min(workers, len(cases))  # one case needs no worker process
    if workers > 1:
        if target is not None:
            target.close()  # each worker opens its own
        shared = [i for i, c in enumerate(cases) if not c.alone]
        if len(shared) == 1:
            _serially(cases, shared, config.open(), on_result, on_start)
        elif shared:
            run_parallel([cases[i] for i in shared], config, min(workers, len(shared)),
                         lambda k, result: on_result(shared[k], result), previous,
                         (lambda k: on_start(shared[k])) if on_start else None)
        # Cases whose timing is tick-exact run last, one at a time: beside seven others a
        # wall-clock target's timers slip by a tick (keepalive/probes-while-data-unacknowledged).
        alone = [i for i, c in enumerate(cases) if c.alone]
        if alone:
            _serially(cases, alone, config.open(), on_result, on_start)
        return
    _serially(cases, range(len(cases)), target or config.open(), on_result, on_start)


def _serially(cases: Sequence[Case], indices: Iterable[int], target: Target,
              on_result: Callable[[int, CaseResult], None], on_start: Callable[[int], None] | None) -> None:
    """The cases at `indices`, one after another on `target`, which is closed after."""
    try:
        for index in indices:
            if on_start:
                on_start(index)
            on_result(index, run_case(cases[index], target))
    finally:
        target.close()


def _stop(procs: list, finished: bool) -> None:
    """Workers told there is no more work close their targets and leave; the others (an interrupted
    run) get SIGTERM, which unwinds them through their target's close. Any still there are killed."""
    if not finished:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(_STOP_GRACE)
        if p.is_alive():
            p.kill()
            p.join()
