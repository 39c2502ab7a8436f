"""Measure timing jitter on a wire target, from kernel capture timestamps, and print the figures.

    python bench/wire_jitter.py [--target linux|lwip|freertos-posix] [--runs 5] [--interval 1]

Three measurements, each over `--runs` fresh devices (needs root; lwip also liblwip-dev,
freertos-posix gcc and libpcap-dev), and for freertos-posix a fourth, first:
- tick drift: the FreeRTOS tick count against CLOCK_REALTIME over `--drift-span` seconds (the
  POSIX port's clock is the host build's own, targets/freertos_posix/host/glue.c);
- keep-alive, unanswered: gaps between probes (and from the last probe to the RST|ACK) with
  TCP_KEEPIDLE = TCP_KEEPINTVL = interval, TCP_KEEPCNT = 3;
- retransmission: gaps between the retransmissions of unacknowledged data (RTO doubling);
- API path: from injecting a segment to a pending recv() returning in the agent (agent clock),
  i.e. how late a call result can be relative to the frame that caused it.

What the profile's timing tolerance must absorb is the *spread* of each figure around its
own median (a stack's systematic offset, such as the timer wheel's 1.024 s for 1 s, belongs
in the profile's windows, not in the tolerance; lwIP's figures are offsets from its 250/500 ms
timer ticks). targets/linux.yaml, targets/lwip.yaml and targets/freertos-posix.yaml quote these
figures. FreeRTOS's keep-alive interval is whole seconds and its probe count fixed (4), so
`--interval` is rounded, the first probe comes within INTERVAL + 20 s and the next ones 22.5-25 s
apart (FR-KA-3): a keep-alive run takes about two minutes there.
"""

from __future__ import annotations

import argparse
import sys
import time

from _wire_common import ISN, Session, fig, requirements_problem, spread

from harness.target import load_target


def keepalive_run(interval: float, target: str) -> tuple[list[float], float | None]:
    s = Session({"on": True, "idle": interval, "interval": interval, "count": 3}, target=target)
    # FreeRTOS: the first probe within interval + 20 s, then 3 more 22.5-25 s apart (FR-KA-3/4).
    span = interval * 6 + 2 if target != "freertos-posix" else interval + 20 + 3 * 25 + 3
    try:
        segs = s.segments_until(time.time() + span)
    finally:
        s.close()
    times = [t for t, seg in segs if "R" not in seg.flags]
    rst = [t for t, seg in segs if "R" in seg.flags]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return gaps, (rst[0] - times[-1]) if rst and times else None


def rto_run(count: int, target: str) -> list[float]:
    s = Session(None, target=target)
    try:
        s.agent.call_sync("send", {"sock": s.sock, "data": b"0123456789".hex(), "flags": []})
        # Long enough for `count` doublings from the stack's first RTO (Linux 200 ms, lwIP ~2.75 s).
        first = {"linux": 0.2, "freertos-posix": 1.0}.get(target, 2.5)
        span = first * 2 ** (count + 1) if target != "lwip" else 2.5 * 2**count
        segs = s.segments_until(time.time() + span + 1)[: count + 1]
    finally:
        s.close()
    times = [t for t, seg in segs if seg.len > 0]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def api_run(samples: int, target: str) -> list[float]:
    s = Session(None, target=target)
    out = []
    try:
        seq = ISN + 1
        for _ in range(samples):
            call = s.agent.request("recv", {"sock": s.sock, "len": 100, "flags": []})
            time.sleep(0.01)  # let the recv block in the kernel
            sent = s.send("PA", seq, s.dev_isn + 1, b"x")
            seq += 1
            end = time.time() + 2
            while not call.done and time.time() < end:
                time.sleep(0.0005)
            assert call.finished is not None
            out.append(call.finished - sent)
    finally:
        s.close()
    return out


def drift_run(span: float) -> str:
    from targets.freertos_posix.clock import measure_drift

    s = Session(None, target="freertos-posix")
    try:
        drift = measure_drift(s.agent.target.device.mailbox, span)   # type: ignore[union-attr]
    finally:
        s.close()
    return (f"tick drift over {drift.span:.1f} s: {drift.offsets[-1]:+.3f} ms ({drift.rate:.4f} ticks/s); "
            f"offset along the way {min(drift.offsets):+.3f}..{max(drift.offsets):+.3f} ms "
            f"(samples every second; a tick thread that runs late catches up)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("linux", "lwip", "freertos-posix"), default="linux")
    ap.add_argument("--drift-span", type=float, default=60.0, help="freertos-posix tick drift span, s")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interval", type=float, default=1.0, help="keep-alive interval, s")
    ap.add_argument("--api-samples", type=int, default=200)
    args = ap.parse_args()
    why = requirements_problem(args.target)
    if why:
        print(why, file=sys.stderr)
        return 2
    if args.target == "freertos-posix":
        print(drift_run(args.drift_span), flush=True)
    gaps: list[float] = []
    rsts: list[float] = []
    for _ in range(args.runs):
        g, r = keepalive_run(args.interval, args.target)
        gaps += g
        if r is not None:
            rsts.append(r)
    print(f"keep-alive {args.interval:g}/{args.interval:g}/3, unanswered probe gaps: {fig(gaps)}")
    print(f"keep-alive last probe -> RST|ACK: {fig(rsts)}")
    rto: dict[int, list[float]] = {}
    for _ in range(args.runs):
        for i, gap in enumerate(rto_run(3 if args.target == "lwip" else 4, args.target)):
            rto.setdefault(i, []).append(gap)
    for i, values in sorted(rto.items()):
        print(f"retransmission gap {i + 1}: {fig(values)}")
    api = api_run(args.api_samples, args.target)
    print(f"API path, inject -> pending recv returns (agent clock): {fig(api)}")
    spreads = {"keep-alive gaps": spread(gaps), "API path": spread(api),
               **{f"retransmission gap {i + 1}": spread(v) for i, v in rto.items()}}
    worst = max(spreads, key=lambda k: spreads[k])
    tolerance = load_target(args.target).timing("tolerance")
    print(f"largest spread around a median: {spreads[worst] * 1e3:.3f} ms ({worst}); "
          f"targets/{args.target}.yaml timing.tolerance: {tolerance * 1e3:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
