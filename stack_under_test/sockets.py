"""The FreeRTOS+TCP socket API (FreeRTOS_Sockets.c) with its exact return conventions.

Each blocking call is a generator (see calls.py) that follows the firmware's
own loop, so what wakes it, and what it returns on waking, is what wakes and
returns on the board: e.g. a refused connect raises no event and therefore
never wakes connect() (FR-CONNECT-3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import wire
from .calls import Call, CallGen, Event, Wait
from .constants import (
    INVALID_SOCKET,
    MSG_DONTWAIT,
    MSG_PEEK,
    NULL_SOCKET,
    Errno,
    EventBit,
    SelectBit,
    SockOpt,
    TcpFlag,
    TcpState,
)
from .tcb import TcpSocket, now_connected
from .tcp_window import TxWindow

EPHEMERAL_FIRST = 0xC000
ENDED_STATES = (TcpState.CLOSED, TcpState.CLOSE_WAIT, TcpState.CLOSING)
IPPROTO_TCP = 6


class SocketSet:
    """FreeRTOS_CreateSocketSet(): the sockets a select() watches and for which bits."""

    def __init__(self) -> None:
        self.members: dict[int, int] = {}


class SocketApi:
    """Mixed into Stack; every public method is one FreeRTOS_* call."""

    sockets: dict[int, TcpSocket]
    calls: list[Call]
    semaphores: dict[int, bool]
    socket_sets: dict[int, SocketSet]
    events: list[Event]
    now: float
    _running: Call  # the call whose generator is executing; recv hands its bytes to it

    # The engine side (TcpEngine) provides these.
    _next_isn: Callable[[], int]
    _state_change: Callable[[TcpSocket, TcpState], None]
    _emit: Callable[..., None]
    _snd_seq: Callable[[TcpSocket], int]
    _set_timer: Callable[[TcpSocket, float], None]
    _settle: Callable[[], None]

    # ----------------------------------------------------------- plumbing
    def _sock(self, handle: int) -> TcpSocket | None:
        sock = self.sockets.get(handle)
        return None if sock is None or sock.freed else sock

    def _new_socket(self) -> TcpSocket:
        handle = self._next_handle
        self._next_handle += 1
        sock = TcpSocket(handle=handle, tx_buffer=self.config.tx_buffer, rx_buffer=self.config.rx_buffer,
                         tx_win_segs=self.config.tx_window_mss, rx_win_segs=self.config.rx_window_mss,
                         mss=self.config.mss)
        self.sockets[handle] = sock
        return sock

    def _record(self, handle: int, kind: str, detail: Any = None) -> None:
        self.events.append(Event(self.now, handle, kind, detail))

    def _start(self, op: str, handle: int, gen: CallGen) -> Call:
        call = Call(op=op, handle=handle, started=self.now, gen=gen)
        self._running = call
        self._resume(call, None)
        if not call.done:
            self.calls.append(call)
        self._settle()
        return call

    def _resume(self, call: Call, value: int | None) -> None:
        assert call.gen is not None
        self._running = call
        try:
            call.wait = call.gen.send(value) if value is not None else next(call.gen)
        except StopIteration as stop:
            call.done = True
            call.result = stop.value
            call.finished = self.now
            call.wait = None
            self._record(call.handle, "call", (call.op, call.result))

    def _deadline(self, timeout: float | None) -> float | None:
        return None if timeout is None else self.now + timeout

    def _wake_user(self, sock: TcpSocket, signal: bool = True) -> None:
        """vSocketWakeUpUser: deliver pending bits, give the semaphore, call the wake callback.

        ``signal`` False delivers the bits without the semaphore or callback (a fault switch).
        """
        if sock.freed:
            return
        bits = sock.pending_bits
        sock.pending_bits = 0
        sock.group_bits |= bits & 0xFF
        if bits & 0xFF:
            self._record(sock.handle, "bits", bits & 0xFF)
        if not signal:
            return
        if sock.semaphore is not None and self.config.user_semaphore:
            self.semaphores[sock.semaphore] = True
            self._record(sock.handle, "semaphore", sock.semaphore)
        if sock.wake_callback is not None and self.config.wake_callback:
            self._record(sock.handle, "wake", None)
            sock.wake_callback(sock.handle)

    def _close_socket(self, sock: TcpSocket) -> None:
        """vSocketClose: free the socket; an accepted or orphan child leaves its parent's count."""
        if sock.freed:
            return
        sock.freed = True
        sock.timer_due = None
        parent = sock.parent
        if parent is not None and not parent.freed and parent.child_count > 0:
            parent.child_count -= 1
        for call in self.calls:
            if call.handle == sock.handle and not call.done:
                call.done, call.cancelled, call.finished = True, True, self.now
        self._record(sock.handle, "freed")

    # ------------------------------------------------------------- the API
    def socket(self, domain: int = 2, sock_type: int = 1, protocol: int = IPPROTO_TCP) -> int:
        """FreeRTOS_socket: only TCP over IPv4 is modelled."""
        if domain != 2 or sock_type != 1 or protocol not in (0, IPPROTO_TCP):
            return INVALID_SOCKET
        return self._new_socket().handle

    def bind(self, handle: int, port: int) -> int:
        sock = self._sock(handle)
        if sock is None or sock.is_bound():
            return -Errno.EINVAL
        in_use = {s.local_port for s in self.sockets.values() if not s.freed and s.is_bound()}
        if port == 0:
            port = self._ephemeral_port(in_use)
        elif port in in_use:
            return -Errno.EADDRINUSE
        sock.local_port = port
        sock.pending_bits |= EventBit.BOUND
        self._wake_user(sock)
        self._settle()
        return 0

    def _ephemeral_port(self, in_use: set[int]) -> int:
        while True:
            port = EPHEMERAL_FIRST + self.rng.randrange(0x4000)
            if port not in in_use:
                return port

    def listen(self, handle: int, backlog: int) -> int:
        sock = self._sock(handle)
        if sock is None or not sock.is_bound():
            return -Errno.EOPNOTSUPP
        if sock.state not in (TcpState.CLOSED, TcpState.CLOSE_WAIT):
            return -Errno.EOPNOTSUPP
        sock.backlog = max(0, min(backlog, 0xFFFF))
        sock.remote_ip = sock.remote_port = 0
        sock.tx = sock.rx = None
        sock.streams_created = False
        sock.pass_queued = sock.pass_accept = False
        self._state_change(sock, TcpState.LISTEN)
        self._settle()
        return 0

    def accept(self, handle: int) -> Call:
        return self._start("accept", handle, self._accept(handle))

    def _accept(self, handle: int) -> CallGen:
        sock = self._sock(handle)
        if sock is None:
            return INVALID_SOCKET
        own = sock.reuse and not self.config.faults.reuse_accept_new_socket
        if not own and sock.state != TcpState.LISTEN:
            return INVALID_SOCKET
        deadline = self._deadline(sock.rcv_timeout)
        while True:
            if own:
                if sock.pass_accept:
                    sock.pass_accept = False
                    return sock.handle
            else:
                for child in self.sockets.values():
                    if child.parent is sock and child.pass_accept and not child.freed:
                        child.pass_accept = False
                        return child.handle
            if sock.rcv_timeout == 0:
                return NULL_SOCKET
            if not (yield Wait(deadline, sock, EventBit.ACCEPT)):
                return NULL_SOCKET

    def connect(self, handle: int, ip: str | None, port: int) -> Call:
        return self._start("connect", handle, self._connect(handle, ip, port))

    def _connect(self, handle: int, ip: str | None, port: int) -> CallGen:
        if ip is None:
            return -Errno.EINVAL
        sock = self._sock(handle)
        if sock is None:
            return -Errno.EBADF
        if self.issocketconnected(handle) > 0:
            return -Errno.EISCONN
        if not sock.is_bound():
            rc = self.bind(handle, 0)
            if rc != 0:
                return rc
        if sock.state == TcpState.CONNECT_SYN:
            return -Errno.EINPROGRESS
        if sock.state not in (TcpState.CLOSED, TcpState.CLOSE_WAIT):
            return -Errno.EAGAIN
        self._connect_start(sock, wire.ip_to_int(ip), port)
        if sock.rcv_timeout == 0:
            return -Errno.EAGAIN
        deadline = self._deadline(sock.rcv_timeout)
        fixed = not self.config.upstream_defects
        while True:
            if self.issocketconnected(handle) > 0:
                return 0
            if sock.state == TcpState.CLOSE_WAIT or (fixed and sock.state == TcpState.CLOSED):
                return -Errno.ENOTCONN
            if not (yield Wait(deadline, sock, EventBit.CONNECT | EventBit.CLOSED)):
                return -Errno.ETIMEDOUT

    def _connect_start(self, sock: TcpSocket, ip: int, port: int) -> None:
        """prvTCPConnectStart."""
        self._reset_connection_flags(sock)
        sock.remote_ip, sock.remote_port = ip, port
        sock.isn = self._next_isn()
        sock.rep_count = 0
        sock.mss = self.config.mss
        sock.tx = TxWindow(sock.isn, sock.tx_buffer, sock.mss, sock.mss, 0.5, self.config.srtt_minimum)
        self._state_change(sock, TcpState.CONNECT_SYN)
        self._set_timer(sock, 0.0)

    def send(self, handle: int, data: bytes, flags: int = 0) -> Call:
        return self._start("send", handle, self._send(handle, bytes(data), flags))

    def _send(self, handle: int, data: bytes, flags: int) -> CallGen:
        sock = self._sock(handle)
        if sock is None or not sock.is_bound():
            return -Errno.EINVAL
        if sock.malloc_error:
            return -Errno.ENOMEM
        if sock.state in ENDED_STATES:
            return -Errno.ENOTCONN
        if sock.fin_sent:
            return 0
        if not data:
            return 0
        if sock.tx is None:
            sock.tx = TxWindow(sock.isn, sock.tx_buffer, sock.mss, sock.mss, 0.5, self.config.srtt_minimum)
        sock.streams_created = True
        deadline = self._deadline(sock.snd_timeout)
        total = 0
        while True:
            queued = sock.tx.queue(data[total:])
            total += queued
            if queued:
                self._set_timer(sock, 0.0)
            if total == len(data):
                return total
            if flags & MSG_DONTWAIT or sock.snd_timeout == 0:
                break
            if not (yield Wait(deadline, sock, EventBit.SEND | EventBit.CLOSED)):
                break
            if sock.state in ENDED_STATES or sock.fin_sent:
                break
        if total:
            return total
        return -Errno.ENOTCONN if sock.state > TcpState.ESTABLISHED else -Errno.ENOSPC

    def recv(self, handle: int, length: int, flags: int = 0) -> Call:
        return self._start("recv", handle, self._recv(handle, length, flags))

    def _recv(self, handle: int, length: int, flags: int) -> CallGen:
        sock = self._sock(handle)
        if sock is None or not sock.is_bound():
            return -Errno.EINVAL
        deadline = self._deadline(sock.rcv_timeout)
        while True:
            if sock.rx is not None and sock.rx.data:
                out = sock.rx.read(length, peek=bool(flags & MSG_PEEK))
                self._running.data = out
                if sock.rx.update_low_water():
                    sock.win_change = True
                    self._set_timer(sock, 0.0)
                return len(out)
            if sock.state in ENDED_STATES:
                if sock.malloc_error:
                    return -Errno.ENOMEM
                return 0 if self.config.faults.recv_zero_after_close else -Errno.ENOTCONN
            if flags & MSG_DONTWAIT or sock.rcv_timeout == 0:
                return 0
            if not (yield Wait(deadline, sock, EventBit.RECEIVE | EventBit.CLOSED | EventBit.INTR)):
                return 0

    def shutdown(self, handle: int, how: int = 2) -> int:
        """FreeRTOS_shutdown: 'how' is ignored (FR-SHUT-1)."""
        sock = self._sock(handle)
        if sock is None or not sock.is_bound():
            return -Errno.EOPNOTSUPP
        if sock.state != TcpState.ESTABLISHED:
            return -Errno.ENOTCONN
        if self.config.faults.shutdown_sends_rst:
            self._emit(sock, TcpFlag.RST | TcpFlag.ACK, self._snd_seq(sock), sock.rx.rcv_nxt)
            self._state_change(sock, TcpState.CLOSED)
        else:
            sock.user_shutdown = True
            self._set_timer(sock, 0.0)
        self._settle()
        return 0

    def closesocket(self, handle: int) -> int:
        """FreeRTOS_closesocket: sends nothing in any state (FR-CLOSE-1); returns 1."""
        sock = self._sock(handle)
        if sock is None:
            return 0
        if self.config.faults.close_sends_rst and sock.rx is not None and sock.state in (
                TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.LAST_ACK, TcpState.SYN_RECEIVED):
            self._emit(sock, TcpFlag.RST | TcpFlag.ACK, self._snd_seq(sock), sock.rx.rcv_nxt)
        if sock.state == TcpState.LISTEN:
            for child in list(self.sockets.values()):
                if child.parent is sock and (child.pass_queued or child.pass_accept):
                    self._close_socket(child)
        self._close_socket(sock)
        self._settle()
        return 1

    def setsockopt(self, handle: int, option: int, value: Any) -> int:
        sock = self._sock(handle)
        if sock is None:
            return -Errno.EINVAL
        if option == SockOpt.RCVTIMEO:
            sock.rcv_timeout = _timeout(value)
        elif option == SockOpt.SNDTIMEO:
            sock.snd_timeout = _timeout(value)
        elif option == SockOpt.SET_SEMAPHORE and self.config.user_semaphore:
            if value is not None and value not in self.semaphores:
                return -Errno.EINVAL
            sock.semaphore = value
        elif option == SockOpt.WAKEUP_CALLBACK and self.config.wake_callback:
            sock.wake_callback = value
        elif option == SockOpt.REUSE_LISTEN_SOCKET:
            sock.reuse = bool(value)
        elif option in (SockOpt.WIN_PROPERTIES, SockOpt.SNDBUF, SockOpt.RCVBUF):
            return self._set_buffers(sock, option, value)
        elif option == SockOpt.STOP_RX:
            sock.rx_stopped = bool(value)
            sock.win_change = True
            self._set_timer(sock, 0.0)
            self._settle()
        else:
            return -Errno.ENOPROTOOPT
        return 0

    def _set_buffers(self, sock: TcpSocket, option: int, value: Any) -> int:
        """prvSockopt_so_buffer: -EINVAL once the stream exists (streams are created lazily)."""
        if sock.streams_created:
            return -Errno.EINVAL
        if option == SockOpt.SNDBUF:
            sock.tx_buffer = int(value)
        elif option == SockOpt.RCVBUF:
            sock.rx_buffer = int(value)
        else:
            sock.tx_buffer = int(value["tx_buf"])
            sock.rx_buffer = int(value["rx_buf"])
            sock.tx_win_segs = int(value["tx_win"])
            sock.rx_win_segs = int(value["rx_win"])
        return 0

    def issocketconnected(self, handle: int) -> int:
        sock = self._sock(handle)
        if sock is None:
            return -Errno.EINVAL
        if sock.state == TcpState.LAST_ACK and self.config.faults.issocketconnected_in_last_ack:
            return 1
        if sock.state == TcpState.LISTEN and self.config.faults.listener_reports_connected and any(
                c.parent is sock and now_connected(c.state) and not c.freed for c in self.sockets.values()):
            return 1
        return 1 if TcpState.ESTABLISHED <= sock.state < TcpState.CLOSE_WAIT else 0

    def connstatus(self, handle: int) -> int:
        sock = self._sock(handle)
        return -Errno.EINVAL if sock is None else int(sock.state)

    # ------------------------------------------------- semaphores and select
    def semaphore_create(self) -> int:
        """xSemaphoreCreateBinary(): starts empty."""
        sem = len(self.semaphores) + 1
        self.semaphores[sem] = False
        return sem

    def semaphore_take(self, sem: int, timeout: float | None) -> Call:
        return self._start("semaphore_take", 0, self._take(sem, timeout))

    def _take(self, sem: int, timeout: float | None) -> CallGen:
        if self.semaphores.get(sem):
            self.semaphores[sem] = False
            return 1
        if timeout == 0:
            return 0
        if not (yield Wait(self._deadline(timeout), semaphore=sem)):
            return 0
        return 1

    def socketset_create(self) -> int:
        if not self.config.select:
            return 0
        ident = len(self.socket_sets) + 1
        self.socket_sets[ident] = SocketSet()
        return ident

    def fd_set(self, ident: int, handle: int, bits: int) -> None:
        sock = self._sock(handle)
        sset = self.socket_sets.get(ident)
        if sock is None or sset is None:
            return
        sset.members[handle] = sset.members.get(handle, 0) | bits
        sock.select_set = sset
        sock.select_bits = sset.members[handle]

    def fd_clr(self, ident: int, handle: int, bits: int) -> None:
        sset = self.socket_sets.get(ident)
        sock = self._sock(handle)
        if sset is None or handle not in sset.members:
            return
        sset.members[handle] &= ~bits
        if sock is not None:
            sock.select_bits = sset.members[handle]

    def fd_isset(self, ident: int, handle: int) -> int:
        sset = self.socket_sets.get(ident)
        if sset is None or handle not in sset.members:
            return 0
        return self.select_ready(handle) & sset.members[handle]

    def select_ready(self, handle: int) -> int:
        """vSocketSelectTCP (FR-EV-4): end of connection is EXCEPT, never READ."""
        sock = self._sock(handle)
        if sock is None:
            return 0
        bits = 0
        if sock.state == TcpState.LISTEN:
            if any(c.parent is sock and c.pass_accept and not c.freed for c in self.sockets.values()):
                bits |= SelectBit.READ
        elif sock.reuse and sock.pass_accept:
            bits |= SelectBit.READ
        elif sock.rx is not None and sock.rx.data:
            bits |= SelectBit.READ
        if sock.state in (TcpState.CLOSED, TcpState.CLOSE_WAIT):
            bits |= SelectBit.EXCEPT
        if sock.connect_write_once or (sock.state == TcpState.ESTABLISHED and sock.tx is not None
                                       and sock.tx.space() > 0 and not sock.pass_accept):
            bits |= SelectBit.WRITE
        return int(bits)

    def select(self, ident: int, timeout: float | None) -> Call:
        return self._start("select", 0, self._select(ident, timeout))

    def _select(self, ident: int, timeout: float | None) -> CallGen:
        sset = self.socket_sets.get(ident)
        if sset is None:
            return -Errno.EINVAL

        def ready() -> int:
            out = 0
            for handle, watched in sset.members.items():
                out |= self.select_ready(handle) & watched
            return out

        deadline = self._deadline(timeout)
        while True:
            bits = ready()
            if bits:
                for handle in sset.members:
                    sock = self._sock(handle)
                    if sock is not None:
                        sock.connect_write_once = False
                return bits
            if timeout == 0 or not (yield Wait(deadline, poll=ready)):
                return 0


def _timeout(value: Any) -> float | None:
    """Timeouts are seconds here (ticks at 1 kHz in FreeRTOS); None is portMAX_DELAY."""
    return None if value is None else max(0.0, float(value))
