"""Measure timing jitter on the linux target, from kernel capture timestamps, and print the figures.

    python bench/wire_jitter.py [--runs 5] [--interval 1]

Three measurements, each over `--runs` fresh namespaces (needs root):
- keep-alive, unanswered: gaps between probes (and from the last probe to the RST|ACK) with
  TCP_KEEPIDLE = TCP_KEEPINTVL = interval, TCP_KEEPCNT = 3;
- retransmission: gaps between the retransmissions of unacknowledged data (RTO doubling);
- API path: from injecting a segment to a pending recv() returning in the agent (agent clock),
  i.e. how late a call result can be relative to the frame that caused it.

What the profile's timing tolerance must absorb is the *spread* of each figure around its
own median (a stack's systematic offset, such as the timer wheel's 1.024 s for 1 s, belongs
in the profile's windows, not in the tolerance). targets/linux.yaml quotes these figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import HARNESS_IP, HARNESS_MAC  # noqa: E402
from harness.packets import Endpoints, Segment, build_segment, parse  # noqa: E402
from harness.wire.agent import Agent  # noqa: E402
from harness.wire.engine import WireEngine  # noqa: E402
from harness.wire.links import make_veth, missing_requirements  # noqa: E402

DEVICE_IP, DEVICE_MAC = "198.18.0.2", "02:74:63:68:00:02"
AGENT = Path(__file__).resolve().parents[1] / "targets" / "linux_agent.py"
ENDS = Endpoints(HARNESS_MAC, HARNESS_IP, DEVICE_MAC, DEVICE_IP)
PORT, HPORT, ISN = 7000, 40001, 1000


class Session:
    """One fresh namespace with a listening socket and an accepted connection."""

    def __init__(self, keepalive: dict | None):
        self.link = make_veth(DEVICE_IP, DEVICE_MAC, HARNESS_IP, HARNESS_MAC)
        self.engine = WireEngine(self.link.harness_if, DEVICE_IP, HARNESS_IP, HARNESS_MAC)
        self.agent = Agent(["ip", "netns", "exec", str(self.link.netns), sys.executable, "-u", str(AGENT)])
        self.agent.call_sync("configure", {"keepalive": keepalive})
        lsock = self.agent.call_sync("socket", {})["raw"]
        self.agent.call_sync("bind", {"sock": lsock, "port": PORT})
        self.agent.call_sync("listen", {"sock": lsock, "backlog": 4})
        self.send("S", ISN, 0)
        synack = self.next_segment(time.time() + 2)
        assert synack is not None and synack[1].flags == "SA", synack
        self.dev_isn = synack[1].seq
        self.send("A", ISN + 1, self.dev_isn + 1)
        self.sock = self.agent.call_sync("accept", {"sock": lsock})["raw"]

    def send(self, flags: str, seq: int, ack: int, payload: bytes = b"") -> float:
        frame = build_segment(ENDS, sport=HPORT, dport=PORT, seq=seq, ack=ack, flags=flags, win=64240,
                              options=[("MSS", 1460)] if "S" in flags else [], payload=payload)
        return self.engine.send(frame)

    def next_segment(self, deadline: float) -> tuple[float, Segment] | None:
        while time.time() < deadline:
            for frame in self.engine.receive(deadline):
                seg = parse(frame.data)
                if isinstance(seg, Segment) and seg.src_ip == DEVICE_IP:
                    return frame.time, seg
        return None

    def segments_until(self, deadline: float) -> list[tuple[float, Segment]]:
        out = []
        while (got := self.next_segment(deadline)) is not None:
            out.append(got)
            if "R" in got[1].flags:
                break
        return out

    def close(self) -> None:
        self.agent.close()
        self.engine.close()
        self.link.close()


def keepalive_run(interval: float) -> tuple[list[float], float | None]:
    s = Session({"on": True, "idle": interval, "interval": interval, "count": 3})
    try:
        segs = s.segments_until(time.time() + interval * 6 + 2)
    finally:
        s.close()
    times = [t for t, seg in segs if "R" not in seg.flags]
    rst = [t for t, seg in segs if "R" in seg.flags]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return gaps, (rst[0] - times[-1]) if rst and times else None


def rto_run(count: int) -> list[float]:
    s = Session(None)
    try:
        s.agent.call_sync("send", {"sock": s.sock, "data": b"0123456789".hex(), "flags": []})
        segs = s.segments_until(time.time() + 0.2 * 2 ** (count + 1) + 1)[: count + 1]
    finally:
        s.close()
    times = [t for t, seg in segs if seg.len > 0]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def api_run(samples: int) -> list[float]:
    s = Session(None)
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


def _fig(values: list[float], unit: float = 1e3, label: str = "ms") -> str:
    if not values:
        return "none"
    v = sorted(values)
    p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
    med = statistics.median(v)
    spread = max(abs(x - med) for x in v)
    return (f"n={len(v)} median {med * unit:.3f} {label}, min {v[0] * unit:.3f}, max {v[-1] * unit:.3f}, "
            f"p99 {p99 * unit:.3f}, max |x - median| {spread * unit:.3f} {label}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interval", type=float, default=1.0, help="keep-alive interval, s")
    ap.add_argument("--api-samples", type=int, default=200)
    args = ap.parse_args()
    why = missing_requirements()
    if why:
        print(why, file=sys.stderr)
        return 2
    gaps: list[float] = []
    rsts: list[float] = []
    for _ in range(args.runs):
        g, r = keepalive_run(args.interval)
        gaps += g
        if r is not None:
            rsts.append(r)
    print(f"keep-alive {args.interval:g}/{args.interval:g}/3, unanswered probe gaps: {_fig(gaps)}")
    print(f"keep-alive last probe -> RST|ACK: {_fig(rsts)}")
    rto: dict[int, list[float]] = {}
    for _ in range(args.runs):
        for i, gap in enumerate(rto_run(4)):
            rto.setdefault(i, []).append(gap)
    for i, values in sorted(rto.items()):
        print(f"retransmission gap {i + 1}: {_fig(values)}")
    print(f"API path, inject -> pending recv returns (agent clock): {_fig(api_run(args.api_samples))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
