"""Benchmark of the bundled stack (stack_under_test) in memory, no I/O.

Prints, for two Stack instances back to back through tests/stack/link.py:
* segments per second and MB/s of TCP payload for a bulk transfer in both directions at once
  (lossless, then with 2 % drop / duplicate / reorder);
* the wall time of a 120-second keep-alive give-up scenario in virtual time (the peer vanishes,
  the server's keep-alive sends its 4 probes and drops the connection at 107.5 s).

Usage: python bench/stack.py [megabytes per direction, default 10]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "stack")]

from link import BulkApp, Impairments, Link, connect_pair  # noqa: E402

from stack_under_test import Stack, StackConfig  # noqa: E402
from stack_under_test.constants import TcpState  # noqa: E402

CLIENT = dict(ip="198.18.0.10", mac="02:74:63:68:00:0a")
SERVER = dict(ip="198.18.0.20", mac="02:74:63:68:00:14")
WIN = {"tx_buf": 32 * 1460, "tx_win": 16, "rx_buf": 32 * 1460, "rx_win": 16}


def transfer(megabytes: float, impairments: Impairments) -> dict:
    a = Stack(StackConfig(**CLIENT, isn_seed=1))
    b = Stack(StackConfig(**SERVER, isn_seed=2))
    link = Link(a, b, seed=7, impairments=impairments)
    ch, sh = connect_pair(link, win_properties=WIN)
    n = int(megabytes * 1024 * 1024)
    rng = random.Random(3)
    up, down = rng.randbytes(n), rng.randbytes(n)
    client, server = BulkApp(a, ch, up), BulkApp(b, sh, down)
    sent_before = a.counters["tcp_sent"] + b.counters["tcp_sent"]
    v0 = link.now
    t0 = time.perf_counter()
    ok = link.run(link.now + 36_000.0, done=lambda: client.finished(n) and server.finished(n),
                  poll=lambda: (client.poll(), server.poll()))
    wall = time.perf_counter() - t0
    assert ok and bytes(server.received) == up and bytes(client.received) == down
    segments = a.counters["tcp_sent"] + b.counters["tcp_sent"] - sent_before
    return {"wall": wall, "virtual": link.now - v0, "segments": segments, "payload": 2 * n,
            "frames": link.stats["sent"]}


class BlackHole:
    """A host that has vanished: it takes frames and never answers."""

    def __init__(self, now: float) -> None:
        self.now = now

    def receive(self, frame: bytes, now: float) -> None:
        self.now = now

    def advance(self, now: float) -> None:
        self.now = now

    def next_deadline(self) -> float | None:
        return None

    def pop_frames(self) -> list[tuple[float, bytes]]:
        return []


def keepalive_give_up() -> tuple[float, float, float]:
    """Returns (wall seconds, virtual seconds simulated, virtual time of the drop after idle start)."""
    a = Stack(StackConfig(**CLIENT, isn_seed=1))
    b = Stack(StackConfig(**SERVER, isn_seed=2, keepalive=True))
    link = Link(a, b, seed=1)
    ch, sh = connect_pair(link)
    start = link.now
    t0 = time.perf_counter()
    link.replace(0, BlackHole(start))
    recv = b.recv(sh, 100)
    link.run(start + 120.0)
    wall = time.perf_counter() - t0
    assert b.connstatus(sh) == TcpState.CLOSE_WAIT and recv.done and recv.result == -128
    return wall, 120.0, recv.finished - start


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    for label, imp in (("lossless", Impairments()),
                       ("lossy 2%", Impairments(drop=0.02, duplicate=0.02, reorder=0.02))):
        r = transfer(mb, imp)
        print(f"back-to-back {label}: {mb:g} MB each way in {r['wall']:.2f} s wall "
              f"({r['virtual']:.3f} s virtual), {r['segments']} TCP segments, "
              f"{r['segments'] / r['wall']:,.0f} segments/s, "
              f"{r['payload'] / r['wall'] / 1e6:.2f} MB/s payload")
    runs = [keepalive_give_up() for _ in range(5)]
    wall = min(w for w, _, _ in runs)
    print(f"keep-alive give-up: 120 s of virtual time in {wall * 1000:.1f} ms wall "
          f"(drop at +{runs[0][2]:.1f} s virtual; best of {len(runs)})")


if __name__ == "__main__":
    main()
