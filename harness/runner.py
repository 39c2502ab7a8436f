"""Run one case against one target, step by step, and say what happened.

The runner plays the TCP peer (or peers): it builds every segment the device
receives, answers the device's ARP requests for the harness address, files the
device's segments per peer, and checks them against the case. It never knows
which target it drives; everything target-specific comes through the Target
contract and the target's profile.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import HARNESS_IP, HARNESS_MAC, explain, expr, fuzzing, grouping, matchers
from .freertos import MSG_FLAGS, SELECT_EVENTS, SHUTDOWN_HOW, SOCKET_OPTIONS
from .matchers import Mismatch
from .model import Case, Step
from .packets import (
    LINUX_SYN_OPTIONS,
    ArpRequest,
    Endpoints,
    Segment,
    build_arp_reply,
    build_segment,
    option_kinds,
    parse,
    payload_bytes,
    scapy_options,
    synack_options,
)
from .peer import MOD, Captured, Peer, segment_record
from .target import CallHandle, Frame, Profile, Target
from .vocabulary import PENDING, Result

_FILLER = b"0123456789abcdefghijklmnopqrstuvwxyz"
_FIRST_PORT = 40001  # harness ports for peers a, b, c, ...
_FIRST_ISN = 0x10000000  # harness ISNs, one 16M apart per peer


@dataclass
class CaseResult:
    case: Case
    target: str
    verdict: str
    message: str = ""
    step: Step | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    protocol_time: float = 0.0
    t0: float = 0.0  # the target's clock when the case started
    warnings: list[str] = field(default_factory=list)
    # Every segment an expect (or a handshake) matched or failed on, in a target-neutral form
    # (relative numbers, no timestamp values): what a comparison of two targets looks at.
    matched: list[dict[str, Any]] = field(default_factory=list)
    # The exchange as plain data (explain.ladder_entries): frames, device notes, socket calls and
    # the failed step, for the report's ladder diagram.
    ladder: list[dict[str, Any]] = field(default_factory=list)
    # Each fuzz step's campaign: its seed and count (what repeats it) and what the device answered.
    campaigns: list[fuzzing.Campaign] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.case.file}:{self.step.line}" if self.step else self.case.where()


@dataclass(frozen=True)
class _When:
    """When an expect looks: from `ref`, until `deadline`, with the spec's bounds."""

    ref: float
    within: float | expr.Window | None
    after: float | None
    deadline: float


class StepFailed(Exception):
    """A step's expectation was not met. `expected` says what was (a segment, a call's result or
    silence, as `expects` names), `frames` the device frames it failed on, for the ladder."""

    def __init__(
        self,
        message: str,
        mismatches: list[Mismatch] | None = None,
        *,
        expected: str = "",
        expects: str = "",
        frames: tuple[Frame, ...] = (),
    ):
        super().__init__(message)
        self.mismatches = mismatches or []
        self.expected, self.expects, self.frames = expected, expects, frames


def run_cases(
    cases: Iterable[Case], target: Target, on_result: Callable[[CaseResult], None] | None = None
) -> list[CaseResult]:
    """Run cases one after another on one target; `on_result` sees each result as it is made."""
    results = []
    for case in cases:
        result = run_case(case, target)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def run_case(case: Case, target: Target) -> CaseResult:
    """Run `case` on `target` (which the caller opened and will close)."""
    result = CaseResult(case, target.config.name, "pass")
    settings, reason = target.config.plan(case.requires, case.settings)
    result.settings = settings
    if reason:
        result.verdict, result.message = "skip", reason
        return result
    started = time.perf_counter()
    run = _CaseRun(case, target, settings)
    reset_done = False
    failure: StepFailed | None = None
    try:
        run.tolerance = run.seconds(target.config.profile["timing"]["tolerance"])
        if case.tolerance is not None:
            run.tolerance = max(run.tolerance, run.seconds(case.tolerance))
        target.reset(settings)
        reset_done = True
        run.t0 = run.prev = run.last_inject = target.now()
        for step in (*case.setup, *case.steps):
            result.step = step
            for _ in range(run.count(step.repeat, "repeat")):
                run.execute(step)
        result.step = None
    except StepFailed as exc:
        failure = exc
        result.verdict, result.message, result.mismatches = "fail", str(exc), exc.mismatches
    except expr.ExprError as exc:
        result.verdict, result.message = "error", f"{exc}"
    except Exception as exc:  # the target or the harness broke: keep going with the next case
        result.verdict = "error"
        result.message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    failed_at = _clock(target, run.t0) if reset_done else run.t0
    result.wall_time = time.perf_counter() - started
    try:
        # A target that failed to reset has no clock for this case: no protocol time passed.
        result.t0, result.protocol_time = run.t0, (target.now() - run.t0) if reset_done else 0.0
        notes = target.notes()
    except Exception:  # a broken target must not hide the verdict
        notes = []
    result.frames = sorted(run.frames, key=lambda f: f.time)
    result.campaigns = run.campaigns
    result.log = [*(c.describe() for c in run.campaigns), *run.ladder(notes)]
    result.ladder = run.ladder_entries(notes, _failure_point(result, failure, failed_at))
    result.warnings = run.bad_checksums
    result.matched = run.matched
    return result


def _clock(target: Target, fallback: float) -> float:
    try:
        return target.now()
    except Exception:  # a broken target must not hide the verdict
        return fallback


def _failure_point(result: CaseResult, failure: StepFailed | None, at: float) -> explain.FailurePoint | None:
    step = result.step
    if result.verdict not in ("fail", "error") or step is None:
        return None
    return explain.FailurePoint(
        verdict=result.verdict,
        at=at,
        step=step.where,
        line=step.line,
        action=step.action,
        message=result.message.splitlines()[0] if result.message else "",
        expected=failure.expected if failure else "",
        expects=failure.expects if failure else "",
        mismatches=[
            {"field": m.field, "expected": m.expected, "observed": m.observed} for m in result.mismatches
        ],
        frames=failure.frames if failure else (),
    )


class _CaseRun:
    def __init__(self, case: Case, target: Target, settings: Mapping[str, Any]):
        self.case, self.target = case, target
        cfg = target.config
        self.ends = Endpoints(HARNESS_MAC, HARNESS_IP, cfg.device_mac, cfg.device_ip)
        self.profile = Profile(cfg.profile, settings)
        self.tolerance = 0.0
        self.peers: dict[str, Peer] = {}
        self.strays: list[Frame] = []
        # RFC-CHECKSUM: every device segment is checked, not only those an expect step looks at.
        self.bad_checksums: list[str] = []
        self.sockets: dict[str, Any] = {}
        self.semaphores: dict[str, Any] = {}
        self.calls: dict[str, CallHandle] = {}
        self.calls_made: dict[int, explain.CallMade] = {}  # by id() of the handle, in call order
        self.virtual = cfg.clock == "virtual"
        self.note_marks: list[tuple[float, int]] = []  # (place, notes so far), see _mark_notes
        self.labels: dict[str, float] = {}
        self.frames: list[Frame] = []
        self.matched: list[dict[str, Any]] = []
        self.campaigns: list[fuzzing.Campaign] = []
        self.where = ""
        self.listen_port: int | None = None
        self.t0 = self.prev = self.last_inject = 0.0

    # ---- values -------------------------------------------------------------------------------

    def _resolver(self, names: Mapping[str, int] | None) -> Callable[[str], Any]:
        def resolve(name: str) -> Any:
            if name in expr.PEER_NAMES:
                if names is None or name not in names:
                    raise expr.ExprError(f"{name} has no value here")
                return names[name]
            return self.profile.resolve(name)

        return resolve

    def _value(self, value: Any, names: Mapping[str, int] | None = None) -> Any:
        return expr.value_of(value, self._resolver(names))

    def seconds(self, value: Any) -> float:
        out = self._value(value)
        if isinstance(out, expr.Window):
            raise expr.ExprError(f"{value!r} is a window; a single duration is needed here")
        return float(out)

    def count(self, value: Any, field: str) -> int:
        out = self._value(value)
        if isinstance(out, expr.Window) or int(out) != out or out < 0:
            raise expr.ExprError(f"{field}: {value!r} is {out}, not a whole count")
        return int(out)

    def _timing(self, value: Any) -> float | expr.Window | None:
        return None if value is None else self._value(value)

    def _ref_time(self, since: str | None) -> float:
        if since in (None, "prev"):
            return self.prev
        if since == "last_inject":
            return self.last_inject
        return self.labels[since]

    # ---- peers and frames ---------------------------------------------------------------------

    def peer(self, name: str | None = None, sport: int | None = None) -> Peer:
        """A peer by name, or by harness port (the first one named becomes peer a)."""
        if name is None and sport is not None:
            for p in self.peers.values():
                if p.hport == sport:
                    return p
            name = "a" if "a" not in self.peers else f"port{sport}"
        name = name or "a"
        if name not in self.peers:
            declared = self.case.peers.get(name, {})
            index = len(self.peers)
            self.peers[name] = Peer(
                name=name,
                hport=sport or declared.get("sport", _FIRST_PORT + index),
                isn=declared.get("isn", _FIRST_ISN * (index + 1)) % MOD,
                dport=declared.get("dport", self.listen_port),
                win=declared.get("win", 64240),
            )
        return self.peers[name]

    def _step_peer(self, step: Step) -> Peer:
        return self.peer(step.get("peer"), step.get("sport"))

    def _capture(self, frame: Frame) -> None:
        self.frames.append(frame)
        self._mark_notes(2 * len(self.frames) - 1.5)
        parsed = parse(frame.data)
        if isinstance(parsed, ArpRequest):
            if parsed.target_ip == HARNESS_IP and not self.target.answers_arp:
                self._send(build_arp_reply(self.ends, parsed.sender_mac, parsed.sender_ip))
            return
        if isinstance(parsed, Segment) and not parsed.checksum_ok:
            self.bad_checksums.append(
                f"RFC-CHECKSUM: segment {parsed.sport}>{parsed.dport} {parsed.flags} at "
                f"+{frame.time - self.t0:.3f} s has TCP checksum 0x{parsed.checksum:04x}, "
                f"correct is 0x{parsed.checksum_expected:04x}"
            )
        if isinstance(parsed, Segment) and parsed.dst_ip == HARNESS_IP:
            for p in self.peers.values():
                if p.hport == parsed.dport and p.dport in (None, parsed.sport):
                    if p.dport is None:
                        p.dport = parsed.sport
                    p.capture(frame, parsed)
                    return
        self.strays.append(frame)

    def _send(self, data: bytes) -> float:
        at = self.target.inject(data)
        self.frames.append(Frame(at, data, outbound=False))
        self._mark_notes(2 * len(self.frames) - 1.5)
        return at

    def _mark_notes(self, place: float) -> None:
        """On a virtual clock whole exchanges share one instant, so time can not place the device's
        notes among the frames and calls: how many notes exist after each event does (`place` is
        the event's place in explain.ladder_entries' order). A wall clock's times place them."""
        if self.virtual:
            self.note_marks.append((place, len(self.target.notes())))

    def _pump(self, deadline: float, until: Callable[[], bool]) -> None:
        """Collect the device's frames until `until()` holds or the clock reaches `deadline`."""
        while not until():
            if self.target.now() >= deadline:
                return
            for frame in self.target.frames(deadline):
                self._capture(frame)

    def _late(self, peer: Peer, deadline: float, ref: float) -> tuple[Captured | None, str]:
        """After a missed `within`: the segment that did come, if one comes in as long again as an
        expect waits by default, and when, so a late answer is not reported as no answer."""
        grace = self.seconds(self.target.config.profile["timing"]["expect"])
        self._pump(deadline + grace, lambda: bool(peer.queue))
        if not peer.queue:
            return None, f", nor in the {grace:g} s after"
        late = peer.queue[0]
        return late, f"; {self.describe(late.seg, late)} came {matchers.when(late.frame.time - ref)}"

    def _next_segment(self, peer: Peer, deadline: float) -> Captured | None:
        self._pump(deadline, lambda: bool(peer.queue))
        return peer.queue.popleft() if peer.queue else None

    def _unexpected_frames(self, peer: Peer | None) -> tuple[Frame, ...]:
        peers = [peer] if peer else list(self.peers.values())
        queued = [c.frame for p in peers for c in p.queue]
        return (*queued, *(self.strays if peer is None else ()))

    def _unexpected(self, peer: Peer | None) -> list[str]:
        peers = [peer] if peer else list(self.peers.values())
        out = [self.describe(c.seg, c) for p in peers for c in p.queue]
        if peer is None:
            out += [_describe_stray(f) for f in self.strays]
        return out

    # ---- steps --------------------------------------------------------------------------------

    def execute(self, step: Step) -> None:
        self.where = step.where
        getattr(self, f"_do_{step.action}")(step)
        if step.label:
            self.labels[step.label] = self.prev

    def _do_inject(self, step: Step) -> None:
        body = step.body
        peer = self._step_peer(step)
        if "raw" in body:
            self.prev = self.last_inject = self._send(bytes.fromhex(body["raw"]))
            return
        self._inject(peer, body)

    def _inject(self, peer: Peer, body: Mapping[str, Any]) -> None:
        frame, seq, space, options = self._segment(peer, body)
        flags = body.get("flags", "A")
        self.prev = self.last_inject = self._send(frame)
        if body.get("checksum") != "bad":
            peer.sent(seq, space, "S" in flags)
            if "S" in flags:
                peer.offered(option_kinds(options))

    def _segment(self, peer: Peer, body: Mapping[str, Any]) -> tuple[bytes, int, int, list[Any]]:
        """The frame an inject step describes, its seq relative to the peer's ISN, the sequence
        space it takes and its options."""
        names = peer.names()
        flags = body.get("flags", "A")
        seq = self._value(body["seq"], names) if "seq" in body else peer.snd_nxt
        if "ack" in body:
            ack = peer.dev_abs(self._value(body["ack"], names))
        else:
            ack = peer.dev_abs(peer.dev_snd_nxt) if "A" in flags else 0
        payload = payload_bytes(body["payload"]) if "payload" in body else _filler(body.get("len", 0))
        tsval = int((self.target.now() - self.t0) * 1000) + 1
        if "options" in body:
            options = scapy_options(self._option_values(body["options"], peer, names), tsval, peer.ts_recent)
        elif "S" in flags:
            kinds = synack_options(peer.dev_offered) if "A" in flags else LINUX_SYN_OPTIONS
            options = scapy_options(list(kinds), tsval, peer.ts_recent if "A" in flags else 0)
        elif peer.ts_ok:
            options = scapy_options(["nop", "nop", "ts"], tsval, peer.ts_recent)
        else:
            options = []
        if peer.dport is None:
            raise StepFailed(
                "inject: the device's port is not known (listen first, or give the peer a dport)"
            )
        frame = build_segment(
            self.ends,
            sport=peer.hport,
            dport=peer.dport,
            seq=peer.isn + int(seq),
            ack=ack,
            flags=flags,
            win=int(self._value(body["win"], names)) if "win" in body
            else min(peer.win, 0xFFFF) if "S" in flags else peer.raw_window(),
            options=options,
            payload=payload,
            urg=body.get("urg", 0),
            ttl=body.get("ttl", 64),
            bad_checksum=body.get("checksum") == "bad",
            tos=(body.get("tos", 0) & ~3) | body.get("ecn", body.get("tos", 0) & 3),
            df=body.get("df", True),
        )
        return frame, int(seq), len(payload) + ("S" in flags) + ("F" in flags), options

    def _do_fuzz(self, step: Step) -> None:
        """Mutants of one segment from a seed, into the device in the state the case reached."""
        body = step.body
        peer = self._step_peer(step)
        frame, _, _, _ = self._segment(peer, {"flags": "PA", "payload": "fuzz", **body.get("template", {})})
        edges = fuzzing.Edges(
            rcv_nxt=(peer.isn + peer.snd_nxt) % MOD,
            snd_nxt=peer.dev_abs(peer.dev_snd_nxt),
            window=int(self._value("profile.window")),
        )
        # The device's answers are counted, not parsed: the first ones go to the pcap with the
        # mutants that drew them, the rest only into the campaign's tally.
        campaign = fuzzing.run(
            frame,
            seed=self.count(body.get("seed", 1), "seed"),
            count=self.count(body["count"], "count"),
            kinds=tuple(body.get("mutate", fuzzing.KINDS)),
            edges=edges,
            inject=self.target.inject,
            drain=self._fuzz_answers,
            keep=lambda data, answer: self.frames.append(Frame(self.target.now(), data, outbound=answer)),
        )
        self.campaigns.append(campaign)
        self.prev = self.last_inject = self.target.now()

    def _fuzz_answers(self) -> list[bytes]:
        """The device's frames since the last look; an ARP request still gets its reply (a device
        that asks for the harness's MAC mid-campaign must not be left unable to answer)."""
        frames = self.target.frames(self.target.now())
        for frame in frames:
            if frame.data[12:14] == b"\x08\x06":
                self._capture(frame)
        return [f.data for f in frames]

    def _option_values(self, items: list[Any], peer: Peer, names: Mapping[str, int]) -> list[Any]:
        """Options' expressions evaluated. SACK blocks acknowledge the device's data: written from
        its ISN, as `ack` is."""
        out = []
        for item in items:
            if isinstance(item, Mapping) and "sack" in item:
                item = {"sack": [[peer.dev_abs(int(self._value(v, names))) for v in block]
                                 for block in item["sack"]]}
            elif isinstance(item, Mapping) and isinstance(item.get("mss"), str):
                item = {"mss": int(self._value(item["mss"], names))}
            out.append(item)
        return out

    def _do_expect(self, step: Step) -> None:
        peer = self._step_peer(step)
        if step.body.get("optional"):
            self._optional(peer, step.body)
        else:
            self._expect(peer, step.body)

    def _window(self, spec: Mapping[str, Any]) -> _When:
        ref = self._ref_time(spec.get("since"))
        within = self._timing(spec.get("within"))
        if within is None:
            deadline = max(ref, self.target.now()) + self.seconds(
                self.target.config.profile["timing"]["expect"]
            )
        else:
            deadline = ref + (within.hi if isinstance(within, expr.Window) else within) + self.tolerance
        return _When(ref, within, self._timing(spec.get("after")), deadline)

    def _mismatches(self, spec: Mapping[str, Any], captured: Captured, when: _When) -> list[Mismatch]:
        names = captured.names()
        found = matchers.match_segment(
            spec,
            captured.seg,
            {"seq": captured.rel_seq, "ack": captured.rel_ack},
            lambda v: self._value(v, names),
            captured.rel_options,
        )
        timing = matchers.match_timing(captured.frame.time, when.ref, when.after, when.within, self.tolerance)
        return [*found, timing] if timing else found

    def _expect(self, peer: Peer, spec: Mapping[str, Any]) -> Captured:
        when = self._window(spec)
        captured = self._next_segment(peer, when.deadline)
        expected = explain.expectation(spec)
        if captured is None:
            waited = max(when.deadline - when.ref, 0.0)
            late, when_late = (
                self._late(peer, when.deadline, when.ref) if when.within is not None else (None, "")
            )
            raise StepFailed(
                f"expected {explain.spec(spec)} from the device; nothing came within {waited:g} s{when_late}",
                expected=expected,
                expects="segment",
                frames=(late.frame,) if late else (),
            )
        self.matched.append(segment_record(self.where, peer, captured, self.t0))
        found = self._mismatches(spec, captured, when)
        if found:
            raise StepFailed(
                f"expected {explain.spec(spec)}, observed {self.describe(captured.seg, captured)} "
                f"{matchers.when(captured.frame.time - when.ref)}",
                found,
                expected=expected,
                expects="segment",
                frames=(captured.frame,),
            )
        self.prev = captured.frame.time
        return captured

    def _optional(self, peer: Peer, spec: Mapping[str, Any]) -> None:
        """Take the next segment only if it matches; anything else (or nothing) stays for the next step."""
        when = self._window(spec)
        self._pump(when.deadline, lambda: bool(peer.queue))
        if not peer.queue or self._mismatches(spec, peer.queue[0], when):
            return
        captured = peer.queue.popleft()
        self.matched.append(segment_record(self.where, peer, captured, self.t0))
        self.prev = captured.frame.time

    def _do_expect_unordered(self, step: Step) -> None:
        """The first segments to each named peer, as many as the group has specs for it, matched
        to the specs in whatever order they came."""
        specs = list(step.body)
        peers = [self.peer(spec.get("peer"), spec.get("sport")) for spec in specs]
        whens = [self._window(spec) for spec in specs]
        wanted = Counter(p.name for p in peers)
        self._pump(
            max(w.deadline for w in whens),
            lambda: all(len(self.peers[name].queue) >= n for name, n in wanted.items()),
        )
        came = [(p, c) for name, n in wanted.items() for p in [self.peers[name]] for c in list(p.queue)[:n]]
        fits = [
            [j for j, (p, c) in enumerate(came) if p is peer and not self._mismatches(spec, c, when)]
            for spec, peer, when in zip(specs, peers, whens, strict=True)
        ]
        assigned = grouping.max_matching(fits, len(came))
        if len(came) == len(specs) and None not in assigned:
            for p, c in came:
                p.queue.popleft()
                self.matched.append(segment_record(self.where, p, c, self.t0))
            self.prev = max(c.frame.time for _, c in came)
            return
        raise self._group_failed(specs, peers, whens, came, assigned)

    def _group_failed(
        self,
        specs: list[Mapping[str, Any]],
        peers: list[Peer],
        whens: list[_When],
        came: list[tuple[Peer, Captured]],
        assigned: list[int | None],
    ) -> StepFailed:
        shown = "; ".join(
            f"{self.describe(c.seg, c)} {matchers.when(c.frame.time - whens[0].ref)}" for _, c in came
        )
        wanted = f"{len(specs)} segments in any order: " + "; ".join(explain.spec(s) for s in specs)
        frames = tuple(c.frame for _, c in came)
        if len(came) < len(specs):
            waited = max(w.deadline for w in whens) - whens[0].ref
            return StepFailed(
                f"expected {wanted}; {len(came)} came within {waited:g} s" + (f": {shown}" if came else ""),
                expected=wanted,
                expects="segment",
                frames=frames,
            )
        lonely = [i for i, seg in enumerate(assigned) if seg is None]
        spare = [j for j in range(len(came)) if j not in assigned]
        first = lonely[0]
        candidates = [j for j in spare if came[j][0] is peers[first]] or spare
        mismatches = (
            self._mismatches(specs[first], came[candidates[0]][1], whens[first]) if candidates else []
        )
        unmatched = "; ".join(explain.spec(specs[i]) for i in lonely)
        return StepFailed(
            f"expected {wanted}; observed {shown}; nothing left for {unmatched}",
            mismatches,
            expected=wanted,
            expects="segment",
            frames=frames,
        )

    def _do_expect_silence(self, step: Step) -> None:
        body = step.body if isinstance(step.body, Mapping) else {"for": step.body}
        peer = self._step_peer(step) if ("peer" in body or "sport" in body) else None
        duration = self.seconds(body["for"])
        start = self.target.now()
        queues = [peer] if peer else list(self.peers.values())
        self._pump(
            start + duration, lambda: any(p.queue for p in queues) or (peer is None and bool(self.strays))
        )
        extra = self._unexpected(peer)
        if extra:
            raise StepFailed(
                f"expected silence for {duration:g} s, the device sent: {'; '.join(extra)}",
                expected=f"silence for {duration:g} s",
                expects="silence",
                frames=self._unexpected_frames(peer),
            )
        self.prev = self.target.now()

    def _do_wait(self, step: Step) -> None:
        end = self.target.now() + self.seconds(step.body)
        self._pump(end, lambda: False)
        self.prev = self.target.now()

    # ---- socket calls -------------------------------------------------------------------------

    def _do_call(self, step: Step) -> None:
        handle = self._start_call(step.body, step.opts)
        if step.opts.get("background"):
            self.calls[step.opts["as"]] = handle
            self.prev = handle.started
            return
        self._finish_call(handle, step.opts, ref=handle.started)

    def _start_call(self, op: str, opts: Mapping[str, Any]) -> CallHandle:
        args: dict[str, Any] = {}
        if "sock" in opts:
            if opts["sock"] not in self.sockets:
                raise StepFailed(f"{op}: socket {opts['sock']!r} was never created on the device")
            args["sock"] = self.sockets[opts["sock"]]
        if op == "bind" or op == "connect":
            args["port"] = int(self._value(opts.get("port", self.listen_port or 0)))
        if op == "connect":
            args["ip"] = HARNESS_IP
            self.peer(opts.get("peer"), opts.get("sport") or args["port"])
        if op == "listen":
            args["backlog"] = opts.get("backlog", 4)
        if op == "send":
            if "data" in opts:
                args["data"] = payload_bytes(opts["data"])
            else:
                args["data"] = _filler(self.count(opts.get("size", 0), "size"))
        if op == "recv":
            args["size"] = self.count(opts.get("size", 1460 * 4), "size")
        if op in ("send", "recv"):
            args["flags"] = sum(MSG_FLAGS[f] for f in opts.get("flags", ()))
        if op == "shutdown":
            args["how"] = SHUTDOWN_HOW[opts.get("how", "RDWR")]
        if op == "setsockopt":
            args["option"] = SOCKET_OPTIONS[opts["option"]]
            args["value"] = self._option_value(opts["option"], opts.get("value"))
        if op == "select":
            args["events"] = sum(SELECT_EVENTS[e] for e in opts.get("events", SELECT_EVENTS))
            args["timeout"] = None if opts.get("timeout", 0) is None else self.seconds(opts.get("timeout", 0))
        if op == "semaphore_take":
            args["sem"] = self.semaphores[opts["sem"]]
            args["timeout"] = None if opts.get("timeout", 0) is None else self.seconds(opts.get("timeout", 0))
        order = len(self.frames)
        handle = self.target.call(op, **args)
        self._mark_notes(2 * order - 0.5)
        names = {k: opts[k] for k in ("sock", "sem", "option", "how", "flags", "events") if k in opts}
        self.calls_made[id(handle)] = explain.CallMade(
            self.where, op, explain.call_args(args, names), handle, order
        )
        return handle

    def _option_value(self, option: str, value: Any) -> Any:
        if option == "SET_SEMAPHORE":
            return self.semaphores[value]
        if option in ("RCVTIMEO", "SNDTIMEO"):
            return None if value is None else self.seconds(value)
        return value

    def _finish_call(self, handle: CallHandle, opts: Mapping[str, Any], ref: float) -> Result | None:
        wants_pending = opts.get("returns") == PENDING
        within = self._timing(opts.get("within"))
        if wants_pending:
            deadline = self.target.now()
        elif within is None:
            deadline = self.target.now() + self.seconds(self.target.config.profile["timing"]["call"])
        else:
            deadline = ref + (within.hi if isinstance(within, expr.Window) else within) + self.tolerance
        self._pump(deadline, lambda: handle.done)
        made = self.calls_made.get(id(handle))
        if made is not None and made.seen is None and handle.done:
            made.seen = len(self.frames)
        result = handle.result() if handle.done else None
        op = handle.op
        if result is None and not wants_pending:
            raise StepFailed(
                f"{op} did not return within {max(deadline - ref, 0):g} s",
                [Mismatch("returns", str(opts.get("returns", "a result")), "still pending")],
                expected=_call_expectation(op, opts),
                expects="call",
            )
        found: list[Mismatch | None] = []
        if "returns" in opts:
            found.append(matchers.match_result(opts["returns"], result, lambda v: self._value(v)))
        if result is not None:
            if "data" in opts and op == "recv":  # for send, data is what to send
                wanted = payload_bytes(opts["data"])
                if result.data != wanted:
                    found.append(Mismatch("data", repr(wanted), repr(result.data)))
            for key, same in (("is", True), ("is_not", False)):
                if key in opts and (result.handle == self.sockets.get(opts[key])) != same:
                    found.append(
                        Mismatch(
                            key,
                            f"{'the same socket as' if same else 'a socket other than'} {opts[key]}",
                            f"handle {result.handle!r}",
                        )
                    )
            timing = matchers.match_timing(
                handle.finished, ref, self._timing(opts.get("after")), within, self.tolerance
            )
            found.append(timing)
            self._save(op, opts, result)
        problems = [m for m in found if m is not None]
        if problems:
            shown = result.describe() if result else "still pending"
            raise StepFailed(
                f"{op} returned {shown}", problems, expected=_call_expectation(op, opts), expects="call"
            )
        self.prev = handle.finished if result is not None else self.target.now()
        return result

    def _save(self, op: str, opts: Mapping[str, Any], result: Result) -> None:
        if "save" not in opts or result.handle is None:
            return
        if op == "semaphore_create":
            self.semaphores[opts["save"]] = result.handle
        elif "socket" in result.tags:
            self.sockets[opts["save"]] = result.handle

    def _do_await(self, step: Step) -> None:
        handle = self.calls[step.body]
        self._finish_call(handle, step.opts, ref=self._ref_time(step.opts.get("since")))

    def _call(self, op: str, **opts: Any) -> Result | None:
        """A foreground call made by a macro, which must succeed."""
        return self._finish_call(self._start_call(op, opts), {"returns": "ok", **opts}, ref=self.target.now())

    # ---- macros -------------------------------------------------------------------------------

    def _do_listen(self, step: Step) -> None:
        body = step.body
        port = int(self._value(body["port"]))
        save = body.get("save", "listener")
        self._call("socket", save=save)
        self._call("bind", sock=save, port=port)
        if body.get("reuse", self.profile.settings.get("reuse_listen", False)):
            self._call("setsockopt", sock=save, option="REUSE_LISTEN_SOCKET", value=True)
        self._call("listen", sock=save, backlog=body.get("backlog", 4))
        self.listen_port = port
        for p in self.peers.values():
            p.dport = p.dport or port

    def _do_handshake(self, step: Step) -> None:
        body = step.body or {}
        peer = self._step_peer(step)
        if "port" in body:
            peer.dport = int(self._value(body["port"]))
        peer.dport = peer.dport or self.listen_port
        if peer.dport is None:
            raise StepFailed("handshake: no port to connect to (listen first or give port)")
        peer.restart(self._isn(body, peer))
        syn: dict[str, Any] = {"flags": "S", "seq": 0}
        for key in ("options", "win"):
            if key in body:
                syn[key] = body[key]
        self._inject(peer, syn)
        self._expect(peer, {"flags": "SA", "ack": 1})
        self._inject(peer, {"flags": "A", **({"win": body["win"]} if "win" in body else {})})
        if body.get("accept"):
            self._call("accept", sock="listener", save="conn")

    def _isn(self, body: Mapping[str, Any], peer: Peer) -> int:
        """A handshake's ISN: as given (`peer.isn` is the peer's previous one), else the previous."""
        if "isn" not in body:
            return peer.isn
        return int(self._value(body["isn"], {"peer.isn": peer.isn})) % MOD

    def _do_device_connects(self, step: Step) -> None:
        body = step.body
        port = int(self._value(body["port"]))
        peer = self.peer(body.get("peer"), body.get("sport") or port)
        # What the device sent this peer so far belongs to earlier attempts (e.g. a SYN resent
        # before closesocket); the new connection's SYN is the first one after this point.
        for frame in self.target.frames(self.target.now()):
            self._capture(frame)
        peer.queue.clear()
        peer.dport = None
        peer.restart(self._isn(body, peer))
        save = body.get("save", "conn")
        self._call("socket", save="_connecting")
        connect = self._start_call("connect", {"sock": "_connecting", "port": port})
        self._expect(peer, {"flags": "S", "seq": 0})
        synack: dict[str, Any] = {"flags": "SA", "seq": 0, "ack": 1}
        for key in ("options", "win"):
            if key in body:
                synack[key] = body[key]
        self._inject(peer, synack)
        self._expect(peer, {"flags": "A", "seq": 1, "ack": 1})
        self._finish_call(connect, {"returns": "ok"}, ref=connect.started)
        self.sockets[save] = self.sockets.pop("_connecting")

    # ---- text for people ----------------------------------------------------------------------

    def describe(self, seg: Segment, captured: Captured) -> str:
        return explain.segment(seg, captured.rel_seq, captured.rel_ack)

    def ladder(self, notes: list[tuple[float, str]]) -> list[str]:
        return explain.ladder(self.frames, notes, self.peers.values(), self.t0)

    def ladder_entries(
        self, notes: list[tuple[float, str]], failure: explain.FailurePoint | None
    ) -> list[dict[str, Any]]:
        return explain.ladder_entries(
            self.frames,
            notes,
            self.calls_made.values(),
            self.peers.values(),
            self.t0,
            failure,
            self.note_marks,
        )


def _describe_stray(frame: Frame) -> str:
    """A frame no peer claims (another port, not TCP): absolute numbers, as it is."""
    parsed = parse(frame.data)
    if isinstance(parsed, Segment):
        return f"{parsed.sport}>{parsed.dport} " + explain.segment(parsed, parsed.seq, parsed.ack)
    return f"{len(frame.data)}-byte frame {frame.data[:34].hex()}"


def _call_expectation(op: str, opts: Mapping[str, Any]) -> str:
    timing = "".join(f" {k} {opts[k]}" for k in ("after", "within", "since") if k in opts)
    return f"{op} returns {opts.get('returns', 'a result')}{timing}"


def _filler(size: int) -> bytes:
    return (_FILLER * (size // len(_FILLER) + 1))[:size]
