"""Two bundled stacks back to back through the lossy in-memory link (link.py).

* 10 MB each way at once through a link that drops, duplicates and reorders frames, byte-exact,
  then a clean close (shutdown, recv until -128, closesocket).
* FR-SYN-1 end to end: a client that reboots and reconnects from the same port gets no answer
  while the server holds the stale connection; it gets through once the server's keep-alive
  (interval 2 s) has ended the old connection.
"""

from __future__ import annotations

import random

from link import BulkApp, Impairments, Link, connect_pair

from stack_under_test import Stack, StackConfig
from stack_under_test.constants import Errno, SockOpt, TcpState

CLIENT = dict(ip="198.18.0.10", mac="02:74:63:68:00:0a")
SERVER = dict(ip="198.18.0.20", mac="02:74:63:68:00:14")
WIN = {"tx_buf": 32 * 1460, "tx_win": 16, "rx_buf": 32 * 1460, "rx_win": 16}
TEN_MB = 10 * 1024 * 1024
CLIENT_PORT = 50123


def tcp_flags(frame: bytes) -> int | None:
    """TCP flags of an IPv4/TCP frame the bundled stack sent (it never sends IP options)."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    return frame[14 + (frame[14] & 0x0F) * 4 + 13]


def test_ten_megabytes_both_ways_over_a_lossy_link_then_clean_close() -> None:
    a = Stack(StackConfig(**CLIENT, isn_seed=11))
    b = Stack(StackConfig(**SERVER, isn_seed=22))
    wire: list[tuple[float, int, int | None]] = []
    link = Link(a, b, seed=2024, tap=lambda t, src, f: wire.append((t, src, tcp_flags(f))),
                impairments=Impairments(drop=0.02, duplicate=0.02, reorder=0.02, delay=0.0005,
                                        reorder_delay=0.004))
    ch, sh = connect_pair(link, win_properties=WIN)
    rng = random.Random(99)
    up, down = rng.randbytes(TEN_MB), rng.randbytes(TEN_MB)
    client, server = BulkApp(a, ch, up), BulkApp(b, sh, down)

    done = link.run(link.now + 3600.0, done=lambda: client.finished(TEN_MB) and server.finished(TEN_MB),
                    poll=lambda: (client.poll(), server.poll()))
    assert done, (len(client.received), len(server.received), link.stats)
    assert client.errors == [] and server.errors == []
    assert bytes(server.received) == up
    assert bytes(client.received) == down
    assert link.stats["dropped"] > 100 and link.stats["duplicated"] > 100 and link.stats["delayed"] > 100

    # Clean close: both shut down, read until -128, close.
    start = link.now
    assert a.shutdown(ch) == 0
    assert b.shutdown(sh) in (0, -Errno.ENOTCONN)    # -128 if the client's FIN already ended it
    closed = link.run(start + 120.0, poll=lambda: (client.poll(), server.poll()),
                      done=lambda: ("recv", -Errno.ENOTCONN) in client.errors
                      and ("recv", -Errno.ENOTCONN) in server.errors)
    assert closed, (a.connstatus(ch), b.connstatus(sh))
    assert client.errors == [("recv", -Errno.ENOTCONN)] and server.errors == [("recv", -Errno.ENOTCONN)]
    assert len(client.received) == TEN_MB and len(server.received) == TEN_MB
    assert a.connstatus(ch) == TcpState.CLOSE_WAIT and b.connstatus(sh) == TcpState.CLOSE_WAIT
    fins = [(t, src) for t, src, flags in wire if t >= start and flags is not None and flags & 0x01]
    assert {src for _, src in fins} == {0, 1}         # both FINs went out
    assert not [f for _, _, f in wire if f is not None and f & 0x04]     # no RST anywhere
    assert a.closesocket(ch) == 1 and b.closesocket(sh) == 1


def test_lossless_close_takes_one_round_trip() -> None:
    a = Stack(StackConfig(**CLIENT, isn_seed=1))
    b = Stack(StackConfig(**SERVER, isn_seed=2))
    link = Link(a, b, seed=1)
    ch, sh = connect_pair(link)
    client, server = BulkApp(a, ch, b"ping" * 1000), BulkApp(b, sh, b"pong" * 1000)
    assert link.run(link.now + 60.0, done=lambda: client.finished(4000) and server.finished(4000),
                    poll=lambda: (client.poll(), server.poll()))
    start = link.now
    assert a.shutdown(ch) == 0
    assert link.run(start + 60.0, poll=lambda: (client.poll(), server.poll()),
                    done=lambda: bool(client.errors and server.errors))
    assert link.now - start < 0.01                    # no timer involved
    assert client.errors == server.errors == [("recv", -Errno.ENOTCONN)]
    assert b.shutdown(sh) == -Errno.ENOTCONN           # the server answered the FIN by itself (FR-FIN-1)


def test_FR_SYN_1_rebooted_client_gets_through_only_after_keepalive_drops_stale_connection() -> None:
    server = Stack(StackConfig(**SERVER, isn_seed=22, keepalive=True, keepalive_interval=2.0))
    old_client = Stack(StackConfig(**CLIENT, isn_seed=11))
    wire: list[tuple[float, int, int | None]] = []
    link = Link(old_client, server, seed=5, tap=lambda t, src, f: wire.append((t, src, tcp_flags(f))))
    ch, stale = connect_pair(link, client_port=CLIENT_PORT)
    app = BulkApp(old_client, ch, b"before the reboot")
    peer_app = BulkApp(server, stale, b"")
    assert link.run(link.now + 10.0, done=lambda: peer_app.finished(17),
                    poll=lambda: (app.poll(), peer_app.poll()))
    link.run(link.now + 1.0, poll=lambda: (app.poll(), peer_app.poll()))   # idle: nothing in flight
    assert not link.queue
    server.pop_events()

    # The client reboots: same IP and MAC, no memory of the connection.
    reboot = link.now
    fresh = Stack(StackConfig(**CLIENT, isn_seed=33), now=reboot)
    link.replace(0, fresh)
    h = fresh.socket()
    # A finite RCVTIMEO: a refused connect never wakes connect() otherwise (FR-CONNECT-3).
    assert fresh.setsockopt(h, SockOpt.RCVTIMEO, 30.0) == 0
    assert fresh.bind(h, CLIENT_PORT) == 0
    attempts = [fresh.connect(h, SERVER["ip"], 7000)]
    listener = next(s.handle for s in server.sockets.values() if s.state == TcpState.LISTEN)
    accept = server.accept(listener)
    closed_stale: list[float] = []

    def apps() -> None:
        # The server application closes the old socket once recv reports the end (-128).
        peer_app.poll()
        if peer_app.errors and not closed_stale:
            assert peer_app.errors == [("recv", -Errno.ENOTCONN)]
            assert server.closesocket(stale) == 1
            closed_stale.append(link.now)
        if attempts[-1].done and attempts[-1].result != 0:
            attempts.append(fresh.connect(h, SERVER["ip"], 7000))

    assert link.run(reboot + 600.0, done=lambda: attempts[-1].done and attempts[-1].result == 0
                    and accept.done, poll=apps)
    connected = attempts[-1].finished
    events = server.pop_events()
    stale_end = [e for e in events if e.kind == "state" and e.socket == stale and e.detail[0] == 5]
    assert len(stale_end) == 1
    drop = stale_end[0].time
    assert closed_stale and closed_stale[0] >= drop
    # While the stale connection was ESTABLISHED, the client's SYNs drew nothing from the server
    # but keep-alive probes (pure ACKs); no SYN|ACK, no RST, no challenge ACK.
    client_syns = [t for t, src, f in wire if src == 0 and reboot <= t < drop and f == 0x02]
    assert len(client_syns) >= 3
    server_ctl = [f for t, src, f in wire if src == 1 and reboot <= t < drop and f not in (None, 0x10)]
    assert server_ctl == []
    # The old connection ended because of the keep-alive: its first probe (about 20 s after the
    # last activity) reached the rebooted client, whose reply (RST|ACK, seq = the probe's ack =
    # the server's RCV.NXT) the server accepted (FR-RST-2); at worst the 4th probe would have
    # dropped it (FR-KA-4). Only then did the handshake get through.
    probes = [t for t, src, f in wire if src == 1 and reboot <= t <= drop and f == 0x10]
    assert probes and probes[0] - reboot <= 2.0 + 20.0 + 1e-9
    assert drop - reboot <= 2.0 + 20.0 + 3 * 25.0
    assert connected > drop
    assert accept.result not in (0, -1, stale)
    assert server.connstatus(accept.result) == TcpState.ESTABLISHED
    assert fresh.connstatus(h) == TcpState.ESTABLISHED
    assert all(c.result in (-Errno.ENOTCONN, -Errno.ETIMEDOUT) for c in attempts[:-1])
