"""The wire engine against a bare AF_PACKET socket, and keep-alive timing, on the linux target.

    python bench/wire.py [--n 1000] [--ka-conns 5]

One fresh linux-target setup (a `tch…` namespace + veth pair, the linux agent listening in the
namespace), needs root and ethtool. Two measurements:

1. Round trip from injecting a SYN to holding the matching SYN|ACK in Python, interleaved
   trial by trial (the order alternates, so drift on the machine hits both paths alike):
   (a) through the WireEngine: `send` + `receive` (what LinuxTarget.inject/frames call);
   (b) through a bare AF_PACKET socket opened here: one `send`, blocking `recv` calls.
   Both send pre-serialised bytes from a fresh source port and match the reply by byte
   offsets, so the difference is the engine's I/O path (BPF filter, recvmsg with a kernel
   timestamp, poll, PACKET_OUTGOING skipping, ARP check), not frame building or parsing.
   A RST after each trial clears the half-open connection (not timed).
2. Keep-alive interval error: TCP_KEEPIDLE/INTVL/CNT = idle/interval/3 on a few connections
   left unanswered; gaps between kernel capture timestamps of the probes (and probe -> RST)
   minus the configured interval.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import subprocess
import sys
import time

# _wire_common first: it puts the repository on sys.path for the harness imports below.
from _wire_common import DEVICE_IP, ENDS, ISN, PORT, Device, percentile, requirements_problem

from harness.packets import build_segment, tcp_checksum
from harness.wire.engine import ETH_P_ALL, WireEngine

SO_RCVTIMEO = socket.SO_RCVTIMEO
_DEVICE_IP_B = socket.inet_aton(DEVICE_IP)
_PORT_B = struct.pack("!H", PORT)
_SYN_ACK = 0x12
_TCP = 14 + 20                    # our SYNs carry no IP options, nor do Linux's SYN|ACKs
_FIRST_PORT, _PORTS = 10000, 50000


# ---- frames ------------------------------------------------------------------------------------

def _with_sport(template: bytes, sport: int) -> bytes:
    """`template` (Ether/IPv4/TCP) from another source port, with its TCP checksum redone.

    scapy builds about 1,000 frames a second: one template and a byte patch per trial keeps
    building 4 * n frames out of the bench's run time (and out of the timed loop entirely).
    """
    seg = bytearray(template[_TCP:])
    seg[0:2] = struct.pack("!H", sport)
    seg[16:18] = struct.pack("!H", tcp_checksum(ENDS.harness_ip, ENDS.device_ip, bytes(seg)))
    return template[:_TCP] + bytes(seg)


def _frames(n: int) -> list[tuple[bytes, bytes, bytes]]:
    """Per trial: (SYN, RST, the SYN|ACK's TCP ports as bytes, for the byte-offset match)."""
    syn = build_segment(ENDS, sport=_FIRST_PORT, dport=PORT, seq=ISN, ack=0, flags="S", win=64240,
                        options=[("MSS", 1460)])
    # RST with seq = our ISN + 1 (the device's RCV.NXT) drops the request socket; no ACK needed.
    rst = build_segment(ENDS, sport=_FIRST_PORT, dport=PORT, seq=ISN + 1, ack=0, flags="R", win=0,
                        options=[])
    out = []
    for k in range(n):
        sport = _FIRST_PORT + k % _PORTS
        out.append((_with_sport(syn, sport), _with_sport(rst, sport), _PORT_B + struct.pack("!H", sport)))
    return out


def _is_synack(data: bytes, ports: bytes) -> bool:
    # Ethertype IPv4, protocol TCP, from the device, ports (device -> this trial's), flags SYN|ACK.
    return (len(data) >= _TCP + 20 and data[12:14] == b"\x08\x00" and data[23] == 6
            and data[26:30] == _DEVICE_IP_B and data[_TCP:_TCP + 4] == ports
            and data[_TCP + 13] == _SYN_ACK)


# ---- the two paths -----------------------------------------------------------------------------

class EnginePath:
    """The harness's own path: WireEngine.send, then WireEngine.receive until the SYN|ACK."""

    name = "wire engine"

    def __init__(self, engine: WireEngine):
        self.engine = engine
        self.kernel: list[float] = []   # kernel rx stamp - pre-send time, as the runner sees it

    def trial(self, syn: bytes, ports: bytes) -> float:
        t0 = time.perf_counter()
        sent = self.engine.send(syn)
        deadline = time.time() + 1.0
        while True:
            frames = self.engine.receive(deadline)
            if not frames and time.time() >= deadline:
                raise TimeoutError("wire engine: no SYN|ACK within 1 s")
            hit = next((f for f in frames if _is_synack(f.data, ports)), None)
            if hit is not None:
                t1 = time.perf_counter()
                self.kernel.append(hit.time - sent)
                return t1 - t0

    def send(self, frame: bytes) -> None:
        self.engine.send(frame)

    def discard(self) -> None:
        self.engine.drain()


class BarePath:
    """The floor: a plain packet socket, blocking recv with a kernel-side timeout (SO_RCVTIMEO).

    A Python-level settimeout would add a poll() before every recv; SO_RCVTIMEO keeps it to one
    syscall per frame and still cannot hang the bench if a reply is lost.
    """

    name = "bare AF_PACKET"

    def __init__(self, ifname: str):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVTIMEO, struct.pack("@ll", 1, 0))

    def trial(self, syn: bytes, ports: bytes) -> float:
        sock = self.sock
        t0 = time.perf_counter()
        sock.send(syn)
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError as exc:   # SO_RCVTIMEO expired: EAGAIN
                raise TimeoutError("bare socket: no SYN|ACK within 1 s") from exc
            if _is_synack(data, ports):
                return time.perf_counter() - t0

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def discard(self) -> None:
        # Both sockets see every frame on the link: empty this one of the other path's traffic
        # so a trial never pays for reading it.
        try:
            while True:
                self.sock.recv(2048, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass

    def close(self) -> None:
        self.sock.close()


def round_trips(dev: Device, n: int, warmup: int) -> tuple[list[float], list[float], list[float]]:
    """Interleaved trials: (engine round trips, bare round trips, engine kernel-stamp round trips)."""
    engine, bare = EnginePath(dev.engine), BarePath(dev.link.harness_if)
    frames = _frames(2 * (n + warmup))
    times: dict[str, list[float]] = {engine.name: [], bare.name: []}
    try:
        for k in range(n + warmup):
            # Alternate who goes first, so neither path always runs on a cache the other warmed.
            pair: list[EnginePath | BarePath] = [engine, bare] if k % 2 == 0 else [bare, engine]
            for j, path in enumerate(pair):
                syn, rst, ports = frames[2 * k + j]
                engine.discard()
                bare.discard()
                took = path.trial(syn, ports)
                path.send(rst)          # untimed: frees the request socket for the next trials
                if k >= warmup:
                    times[path.name].append(took)
    finally:
        bare.close()
    return times[engine.name], times[bare.name], engine.kernel[warmup:]


def half_open_left(dev: Device) -> int:
    out = subprocess.run(["ip", "netns", "exec", str(dev.link.netns), "ss", "-Htn", "state", "syn-recv"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


# ---- keep-alive --------------------------------------------------------------------------------

def keepalive_errors(conns: int, idle: int, interval: int, count: int
                     ) -> tuple[list[float], list[float], list[float], int]:
    """Errors (s) of: probe gaps vs interval, ACK -> first probe vs idle, last probe -> RST vs interval.

    All connections run at once in one fresh namespace, so the whole measurement takes one
    keep-alive cycle. Also returns how many connections ended in a RST as expected.
    """
    gaps: list[float] = []
    idles: list[float] = []
    rsts: list[float] = []
    ended = 0
    with Device({"on": True, "idle": idle, "interval": interval, "count": count}, backlog=conns) as dev:
        acked: dict[int, float] = {}
        for c in range(conns):
            hport = 41000 + c
            _, _, acked[hport] = dev.connect(hport)
        deadline = time.time() + idle + interval * (count + 1) + 2
        seen: dict[int, list[tuple[float, str]]] = {h: [] for h in acked}
        while ended < conns and (got := dev.next_segment(deadline)) is not None:
            t, seg = got
            if seg.dport in seen:
                seen[seg.dport].append((t, seg.flags))
                ended += "R" in seg.flags
    for hport, segs in seen.items():
        probes = [t for t, flags in segs if "R" not in flags]
        rst = [t for t, flags in segs if "R" in flags]
        gaps += [b - a - interval for a, b in zip(probes, probes[1:], strict=False)]
        if probes:
            # The ACK's time is the engine's pre-send time (our own frames are not captured);
            # the device stamps its idle clock a few microseconds later.
            idles.append(probes[0] - acked[hport] - idle)
            if rst:
                rsts.append(rst[0] - probes[-1] - interval)
    return gaps, idles, rsts, ended


# ---- output ------------------------------------------------------------------------------------

def _us(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1e6:8.1f} us   p99 {percentile(values, 0.99) * 1e6:8.1f} us"
            f"   (n={len(values)}, min {min(values) * 1e6:.1f}, max {max(values) * 1e6:.1f})")


def _err(label: str, values: list[float], configured: int) -> str:
    if not values:
        return f"{label}: none captured"
    worst = max(values, key=abs)
    return (f"{label} (configured {configured} s): median {statistics.median(values) * 1e3:+.3f} ms, "
            f"max |error| {abs(worst) * 1e3:.3f} ms ({worst * 1e3:+.3f}), n={len(values)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="round-trip trials per path")
    ap.add_argument("--warmup", type=int, default=20, help="untimed trials per path first")
    ap.add_argument("--ka-conns", type=int, default=5, help="connections for the keep-alive measurement")
    ap.add_argument("--ka", default="1/1/3", help="TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT")
    args = ap.parse_args()
    why = requirements_problem()
    if why:
        print(f"bench/wire.py {why}", file=sys.stderr)
        return 2
    idle, interval, count = (int(x) for x in args.ka.split("/"))

    with Device(None, backlog=128) as dev:
        print(f"linux target: netns {dev.link.netns}, {dev.link.harness_if} <-> {dev.link.device_if}, "
              f"{args.n} interleaved trials per path after {args.warmup} warm-up")
        eng, bare, kern = round_trips(dev, args.n, args.warmup)
        left = half_open_left(dev)
    print("SYN -> SYN|ACK round trip (perf_counter, send to matched frame in hand):")
    print(f"  wire engine     {_us(eng)}")
    print(f"  bare AF_PACKET  {_us(bare)}")
    print(f"  ratio engine/bare: median {statistics.median(eng) / statistics.median(bare):.2f}x, "
          f"p99 {percentile(eng, 0.99) / percentile(bare, 0.99):.2f}x")
    print(f"  engine, kernel rx stamp - pre-send time: {_us(kern)}")
    print(f"  half-open connections left after the RSTs: {left}")

    gaps, idles, rsts, ended = keepalive_errors(args.ka_conns, idle, interval, count)
    print(f"keep-alive {idle}/{interval}/{count}, {args.ka_conns} connections unanswered "
          f"({ended} ended with RST), kernel capture timestamps:")
    print("  " + _err("probe gap - TCP_KEEPINTVL", gaps, interval))
    print("  " + _err("last ACK -> first probe - TCP_KEEPIDLE", idles, idle))
    print("  " + _err("last probe -> RST - TCP_KEEPINTVL", rsts, interval))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The context managers have already torn the links down on the way out.
        sys.exit(130)
