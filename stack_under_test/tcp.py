"""The TCP state machine as FreeRTOS+TCP V4.4.1 runs it (FreeRTOS_TCP_*.c).

Function names in comments point at the upstream function each method
models, so a reader can hold the two side by side. Deliberate departures from
RFC 9293 are FreeRTOS's, listed item by item in ../shared/SEMANTICS.md (FR-*).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from . import wire
from .config import StackConfig
from .constants import EventBit, SelectBit, TcpFlag, TcpState
from .netif import NetIf
from .tcb import ACTIVE_STATES, CONNECTING_STATES, HANG_STATES, TcpSocket, now_connected
from .tcp_window import RxWindow, TxWindow, seq_add, seq_diff, seq_lt

CTRL = 0x1F                    # tcpTCP_FLAG_CTRL: FIN SYN RST PSH ACK
ETH_IP_HEADERS = 14 + 20       # ipSIZE_OF_ETH_HEADER + ipSIZE_OF_IPv4_HEADER
MAX_WAKEUP = 20.0              # tcpMAXIMUM_TCP_WAKEUP_TIME_MS
SEND_REPEATED_COUNT = 8
INITIAL_SRTT = 0.5
REDUCED_MSS = 1400             # tcpREDUCED_MSS_THROUGH_INTERNET
MIN_MSS = 536


@dataclass
class RxBuffer:
    """The network buffer of the segment being processed, in which FreeRTOS builds its replies.

    ``length`` is its xDataLength: the received frame's length (minus any IP options
    prvCheckIP4HeaderOptions cut out) until prvTCPReturnPacket_IPV4 sets it to the length of
    a reply it sent (FreeRTOS_TCP_Transmission_IPv4.c 224-225). ``checksum`` is what the
    TCP checksum field holds: the received segment's, later the last reply's.
    """

    length: int
    checksum: int


class TcpEngine:
    """Segment processing and socket timers; mixed into Stack."""

    config: StackConfig
    netif: NetIf
    counters: Counter
    now: float
    sockets: dict[int, TcpSocket]
    rng: random.Random
    _to_free: list[TcpSocket]
    _relisten_later: list[TcpSocket]
    _record: Callable[..., None]
    _wake_user: Callable[..., None]
    _new_socket: Callable[[], TcpSocket]
    _rx_buffer: RxBuffer | None

    # ------------------------------------------------------------------ helpers
    @property
    def our_ip(self) -> int:
        return self.netif.ip

    def _next_isn(self) -> int:
        """ulApplicationGetNextSequenceNumber(), seeded so runs repeat byte for byte."""
        return self.rng.getrandbits(32) or 1

    def _lookup(self, local_port: int, remote_ip: int, remote_port: int) -> TcpSocket | None:
        """pxTCPSocketLookup: an exact 4-tuple in any state, else a LISTEN socket on the port."""
        listener = None
        for sock in self.sockets.values():
            if sock.freed or sock.local_port != local_port:
                continue
            listening = sock.state == TcpState.LISTEN
            if sock.remote_ip == remote_ip and sock.remote_port == remote_port and not listening:
                return sock
            if sock.state == TcpState.LISTEN and listener is None:
                listener = sock
        return listener

    def _second_listener(self, port: int) -> TcpSocket | None:
        """Fault reuse_admits_second_client: a busy reuse socket spawns a child as if still listening."""
        for sock in self.sockets.values():
            if not sock.freed and sock.reuse and sock.local_port == port and sock.state != TcpState.LISTEN:
                shadow = self._new_socket()
                shadow.local_port, shadow.backlog, shadow.state = port, 1, TcpState.LISTEN
                shadow.tx_buffer, shadow.rx_buffer = sock.tx_buffer, sock.rx_buffer
                return shadow
        return None

    def _set_timer(self, sock: TcpSocket, delay: float) -> None:
        sock.timer_due = self.now + delay

    def _touch(self, sock: TcpSocket, keepalive: bool = True) -> None:
        """prvTCPTouchSocket: every accepted segment and state change."""
        sock.last_act = self.now
        if keepalive:
            sock.keep_count = 0
            sock.send_keepalive = False
            sock.last_alive = self.now

    # ------------------------------------------------------------- transmission
    def _emit(self, sock: TcpSocket, flags: int, seq: int, ack: int, *, payload: bytes = b"",
              options: bytes = b"", window: int | None = None) -> None:
        """prvTCPReturnPacket with a socket: the window comes from prvTCPReturn_CheckTCPWindow."""
        if window is None:
            window = self._advertised_window(sock)
        seg = wire.build_tcp(self.our_ip, sock.remote_ip, sock.local_port, sock.remote_port, seq, ack,
                             flags, window, options=options, payload=payload)
        if flags & TcpFlag.ACK:
            sock.win_change = False      # every ACK we send carries the current window
        self.counters["tcp_sent"] += 1
        self._send_tcp(sock.remote_ip, seg, resized=bool(payload))

    def _send_tcp(self, dst_ip: int, seg: bytes, *, resized: bool = False) -> None:
        """prvTCPReturnPacket_IPV4's checksum step, then the IP layer.

        Outside segment processing (timers, API calls) a reply is built in the socket's
        ucLastPacket (at least 70 bytes, FreeRTOS_TCP_Transmission_IPv4.c 109-121), which holds any
        segment the model sends without payload. While a segment is processed, replies are
        built in its network buffer (see RxBuffer). ``resized``: a data segment, for which
        prvTCPPrepareSend -> prvTCPBufferResize made xDataLength at least the frame's length.
        """
        buf = self._rx_buffer
        if buf is None:
            self.netif.send_ipv4(dst_ip, 6, seg, self.now)
            return
        frame_len = ETH_IP_HEADERS + len(seg)
        if not resized and buf.length < frame_len and self.config.upstream_defects:
            # usGenerateProtocolChecksum(pxTCPPacket, pxNetworkBuffer->xDataLength, pdTRUE) runs
            # (line 217) before xDataLength is set to the reply's length (224). Its
            # prvChecksumIPv4Checks (FreeRTOS_IPv4_Utils.c 125-138) finds the IP total length
            # + 14 larger than xDataLength ("CRC error ... location 6") and returns before the
            # field is zeroed and written: the reply leaves with the checksum already in the
            # buffer. FR-HS-4 (SYN|ACK), FR-OOO-1 (the SACK ACK); upstream pull request 1332.
            seg = seg[:16] + buf.checksum.to_bytes(2, "big") + seg[18:]
        buf.length = frame_len
        buf.checksum = int.from_bytes(seg[16:18], "big")
        self.netif.send_ipv4(dst_ip, 6, seg, self.now)

    def _advertised_window(self, sock: TcpSocket) -> int:
        """prvTCPReturn_CheckTCPWindow: from the socket's fields, whatever the segment is."""
        if sock.rx is None:
            # No rxStream yet: the front space is the whole uxRxStreamSize, the window
            # xSize.ulRxWindowLength as prvTCPCreateWindow set it; at least 1 MSS if it fits.
            front = sock.rx_buffer
            win = min(_window_len(sock.rx_win_segs, sock.rx_buffer, sock.mss), front)
            if win < sock.mss <= front:
                win = sock.mss
        else:
            win = sock.rx.advertised(sock.mss)
        if sock.rx_stopped:
            win = 0
        return min(win >> sock.our_wscale, 0xFFFC)

    def _syn_options(self, sock: TcpSocket) -> bytes:
        """prvSetSynAckOptions: MSS, NOP, WScale, NOP, NOP, SACK-permitted, whatever the peer offered."""
        if not self.config.tcp_win:
            return wire.tcp_options(mss=sock.mss)
        return wire.tcp_options(mss=sock.mss, wscale=sock.our_wscale, sack_permitted=True)

    def _send_reset_for(self, src_ip: int, seg: wire.TcpSegment) -> None:
        """prvTCPSendReset: RST|ACK, seq = incoming ack field, ack = seq (+1 for SYN), window copied."""
        if self.config.ignore_unknown_packets:
            return
        seq = 0 if self.config.faults.reset_seq_zero else seg.ack
        ack = seq_add(seg.seq, 1 if seg.flags & TcpFlag.SYN else 0)
        out = wire.build_tcp(self.our_ip, src_ip, seg.dport, seg.sport, seq, ack,
                             TcpFlag.RST | TcpFlag.ACK, seg.window)
        self.counters["tcp_rst_sent"] += 1
        self._send_tcp(src_ip, out)      # built in the received buffer, 54 bytes: always fits

    def _send_challenge_ack(self, sock: TcpSocket, seg: wire.TcpSegment) -> None:
        """prvTCPSendChallengeAck: ACK at RCV.NXT, the window copied from the RST."""
        if self.config.ignore_unknown_packets:
            return
        assert sock.rx is not None
        ack = seg.seq if self.config.faults.challenge_ack_wrong_seq else sock.rx.rcv_nxt
        # ulOurSequenceNumber is still the ISN while our SYN|ACK is unacknowledged (measured on
        # the real V4.4.1: a challenge ACK in SYN_RECEIVED carries seq = ISN, not ISN + 1).
        handshaking = sock.state in (TcpState.SYN_FIRST, TcpState.SYN_RECEIVED)
        at_isn = handshaking and not self.config.faults.challenge_ack_after_isn
        seq = sock.isn if at_isn else self._snd_seq(sock)
        self._emit(sock, TcpFlag.ACK, seq, ack, window=seg.window)

    def _snd_seq(self, sock: TcpSocket) -> int:
        if sock.fin_sent:
            return seq_add(sock.fin_seq_tx, 1) if sock.fin_acked else sock.fin_seq_tx
        return sock.tx.snd_nxt if sock.tx is not None else seq_add(sock.isn, 1)

    def _send_ack(self, sock: TcpSocket, options: bytes = b"") -> None:
        assert sock.rx is not None
        self._emit(sock, TcpFlag.ACK, self._snd_seq(sock), sock.rx.rcv_nxt, options=options)

    # ------------------------------------------------------------ state changes
    def _state_change(self, sock: TcpSocket, new: TcpState) -> None:
        """vTCPStateChange: events, auto-close of orphans, re-listen of reuse sockets, wake-up."""
        old = sock.state
        before, after = now_connected(old), now_connected(new)
        parent = sock
        upstream = self.config.upstream_defects
        if old in CONNECTING_STATES and new == TcpState.CLOSE_WAIT:
            before = True
        if not upstream and old == TcpState.CONNECT_SYN and new == TcpState.CLOSED:
            before = True    # the fix of upstream issue 1301: a refused connect raises CLOSED
        if before != after:
            if sock.pass_queued and not sock.reuse and sock.parent is not None:
                parent = sock.parent
            if after:
                if sock.pass_queued:
                    if sock.reuse:
                        sock.pending_bits |= EventBit.ACCEPT
                        self._select_event(sock, SelectBit.READ)
                    elif sock.parent is not None:
                        sock.parent.pending_bits |= EventBit.ACCEPT
                        self._select_event(sock.parent, SelectBit.READ)
                    sock.pass_queued = False
                    sock.pass_accept = True
                else:
                    sock.pending_bits |= EventBit.CONNECT
                    sock.connect_write_once = True
                    self._select_event(sock, SelectBit.WRITE)
            else:
                parent.pending_bits |= EventBit.CLOSED
                self._select_event(parent, SelectBit.EXCEPT)
            # prvTCPSocketIsActive() is asked about the state being left (eTCPState is written
            # after it, FreeRTOS_TCP_IP.c 452-463): dropping out of a connected state keeps the
            # timer, so a keep-alive drop into CLOSE_WAIT still wakes after the probe's 2.5 s.
            if old not in ACTIVE_STATES:
                sock.timer_due = None
        sock.state = new
        self._record(sock.handle, "state", (int(old), int(new)))
        if new in (TcpState.CLOSED, TcpState.CLOSE_WAIT):
            if (sock.pass_queued or sock.pass_accept) and not sock.reuse:
                self._to_free.append(sock)
            elif sock.reuse and new == TcpState.CLOSE_WAIT and old in (TcpState.SYN_FIRST,
                                                                      TcpState.SYN_RECEIVED):
                self._relisten_later.append(sock)
        self._touch(sock)
        closing = new in (TcpState.CLOSED, TcpState.CLOSE_WAIT) and before != after
        self._wake_user(parent, signal=not (closing and self.config.faults.semaphore_not_given_on_close))

    def _select_event(self, sock: TcpSocket, bit: SelectBit) -> None:
        if self.config.select and sock.select_bits & bit:
            sock.pending_bits |= int(bit) << 8

    # --------------------------------------------------------- segment input
    def on_tcp(self, src_ip: int, dst_ip: int, data: bytes, frame_len: int, now: float) -> None:
        seg = wire.parse_tcp(src_ip, dst_ip, data)
        if seg is None:
            self.counters["tcp_malformed"] += 1
            return
        if not seg.checksum_ok:
            self.counters["tcp_bad_checksum"] += 1
            return
        self.counters["tcp_received"] += 1
        # Replies to this segment are built in its network buffer, xDataLength = frame_len.
        self._rx_buffer = RxBuffer(frame_len, seg.checksum)
        try:
            self._process_segment(src_ip, seg)
        finally:
            self._rx_buffer = None

    def _process_segment(self, src_ip: int, seg: wire.TcpSegment) -> None:
        """xProcessReceivedTCPPacket."""
        flags = seg.flags
        sock = self._lookup(seg.dport, src_ip, seg.sport)
        if sock is None and self.config.faults.reuse_admits_second_client and flags & CTRL == TcpFlag.SYN:
            sock = self._second_listener(seg.dport)
        if sock is None or sock.state not in ACTIVE_STATES:
            if (flags & CTRL) != TcpFlag.ACK and not flags & TcpFlag.RST:
                self._send_reset_for(src_ip, seg)
            self.counters["tcp_no_socket"] += 1
            return
        sock.rep_count = 0
        if sock.state == TcpState.LISTEN:
            if (flags & CTRL) != TcpFlag.SYN:
                if not flags & TcpFlag.RST:
                    self._send_reset_for(src_ip, seg)
                return
            child = self._handle_listen(sock, src_ip, seg)
            if child is None:
                return
            sock = child
        elif flags & TcpFlag.RST:
            self._handle_rst(sock, seg)
            return
        elif (flags & CTRL) == TcpFlag.SYN and sock.state >= TcpState.ESTABLISHED:
            self.counters["tcp_syn_in_established"] += 1
            if self.config.faults.syn_in_established_resets:
                self._emit(sock, TcpFlag.RST | TcpFlag.ACK, self._snd_seq(sock), sock.rx.rcv_nxt)
                self._state_change(sock, TcpState.CLOSED)
            return
        self._touch(sock, keepalive=not self.config.faults.keepalive_not_reset_by_data)
        if seg.options_malformed or seg.mss == 0:
            self.counters["tcp_bad_options"] += 1
            return
        if seg.flags & TcpFlag.SYN:
            self._take_syn_options(sock, seg)
        sock.peer_window = seg.window if seg.flags & TcpFlag.SYN else seg.window << sock.peer_wscale
        sent = self._handle_state(sock, seg)
        if sent and self.config.tcp_win:
            self._send_repeated(sock)
        if sock.timer_due is None and sock.state in ACTIVE_STATES:
            self._next_timeout(sock)

    def _take_syn_options(self, sock: TcpSocket, seg: wire.TcpSegment) -> None:
        """prvCheckOptions on a SYN: adopt a smaller MSS (floor 536), the peer's window scale."""
        if seg.mss is not None and seg.mss < sock.mss:
            sock.mss = max(seg.mss, MIN_MSS)
        if seg.wscale is not None:
            sock.peer_wscale = min(seg.wscale, 14)
            sock.peer_sent_wscale = True

    def _handle_listen(self, listener: TcpSocket, src_ip: int, seg: wire.TcpSegment) -> TcpSocket | None:
        """prvHandleListen_IPV4: the reuse socket itself, or a new child if the backlog allows."""
        if listener.reuse and not self.config.faults.reuse_accept_new_socket:
            sock = listener
            sock.pass_queued = True
        else:
            if listener.child_count >= listener.backlog:
                self.counters["tcp_backlog_full"] += 1
                self._send_reset_for(src_ip, seg)
                return None
            sock = self._new_socket()
            self._copy_child(listener, sock)
            listener.child_count += 1
            sock.parent = listener
            sock.pass_queued = True
            if not self.config.hang_protection:
                # Without hang protection a child is acceptable from its first SYN.
                sock.pass_accept = True
        sock.remote_ip = src_ip
        sock.remote_port = seg.sport
        sock.mss = self.config.mss if self.netif.is_local(src_ip) else min(self.config.mss, REDUCED_MSS)
        sock.isn = self._next_isn()
        sock.irs = seg.seq
        self._reset_connection_flags(sock)
        self._state_change(sock, TcpState.SYN_FIRST)
        return sock

    def _copy_child(self, parent: TcpSocket, child: TcpSocket) -> None:
        """prvTCPSocketCopy: children inherit options and the semaphore, not the wake callback."""
        child.local_port = parent.local_port
        child.rcv_timeout = parent.rcv_timeout
        child.snd_timeout = parent.snd_timeout
        child.tx_buffer, child.rx_buffer = parent.tx_buffer, parent.rx_buffer
        child.tx_win_segs, child.rx_win_segs = parent.tx_win_segs, parent.rx_win_segs
        child.semaphore = parent.semaphore
        child.select_set = parent.select_set
        if parent.select_set is not None:
            child.select_bits = parent.select_bits | SelectBit.READ | SelectBit.EXCEPT

    def _reset_connection_flags(self, sock: TcpSocket) -> None:
        for name in ("user_shutdown", "fin_sent", "fin_acked", "fin_recv", "fin_last", "fin_accepted",
                     "win_change", "send_keepalive", "conn_prepared", "delayed_ack", "peer_sent_wscale"):
            setattr(sock, name, False)
        sock.tx = sock.rx = None
        sock.peer_wscale = sock.our_wscale = 0

    def _open_windows(self, sock: TcpSocket) -> None:
        """Streams and sliding windows for a connection whose both ISNs are known."""
        tx_win = _window_len(sock.tx_win_segs, sock.tx_buffer, sock.mss)
        rx_win = _window_len(sock.rx_win_segs, sock.rx_buffer, sock.mss)
        queued = sock.tx.data if sock.tx is not None else bytearray()
        sock.tx = TxWindow(sock.isn, _round_up(sock.tx_buffer, sock.mss), sock.mss, tx_win,
                           INITIAL_SRTT, self.config.srtt_minimum)
        sock.tx.data += queued
        sock.rx = RxWindow(sock.irs, sock.rx_buffer, rx_win)
        sock.streams_created = True
        # The scale factor is the shift that fits the receive window into 16 bits.
        while (rx_win >> sock.our_wscale) > 0xFFFF:
            sock.our_wscale += 1

    def _handle_rst(self, sock: TcpSocket, seg: wire.TcpSegment) -> None:
        """RFC 5961 3.2 as xProcessReceivedTCPPacket applies it (FR-RST-2)."""
        self.counters["tcp_rst_received"] += 1
        if sock.state == TcpState.CONNECT_SYN:
            if seg.ack == seq_add(sock.isn, 1):
                self._state_change(sock, TcpState.CLOSED)
            return
        rcv_nxt = sock.rx.rcv_nxt if sock.rx is not None else seq_add(sock.irs, 1)
        win = sock.rx.window if sock.rx is not None else _window_len(sock.rx_win_segs, sock.rx_buffer,
                                                                     sock.mss)
        if seg.seq == rcv_nxt:
            self._state_change(sock, TcpState.CLOSED)
        elif seq_lt(rcv_nxt, seg.seq) and seq_lt(seg.seq, seq_add(rcv_nxt, win)):
            if self.config.faults.rst_in_window_closes:
                self._state_change(sock, TcpState.CLOSED)
            elif sock.rx is not None:
                self._send_challenge_ack(sock, seg)

    # ------------------------------------------------------- per-state handling
    @staticmethod
    def _check_rx_data(seg: wire.TcpSegment) -> bytes:
        """prvCheckRxData (FreeRTOS_TCP_Reception.c 433-549): the data prvTCPHandleState works with.

        With URG set, the urgent bytes are skipped: the data pointer moves past ``urgent``
        bytes and the length drops by min(length, urgent) (lines 539-549). The sequence number
        is not moved, so what remains is stored, acknowledged and counted (FIN position,
        delayed ACK) as if it began at SEG.SEQ: RCV.NXT advances by the length less the
        urgent bytes, and the peer's next segment then looks out of order.
        """
        if seg.flags & TcpFlag.URG:
            return seg.payload[seg.urgent:]
        return seg.payload

    def _handle_state(self, sock: TcpSocket, seg: wire.TcpSegment) -> bool:
        """prvTCPHandleState; returns True when a segment was sent in reply."""
        flags = seg.flags
        payload = self._check_rx_data(seg)      # ulReceiveLength / pucRecvData
        sent = False
        sack: list[tuple[int, int]] = []
        if sock.state >= TcpState.ESTABLISHED and sock.rx is not None:
            if seq_add(seg.seq, 1) == sock.rx.rcv_nxt:
                sock.win_change = True     # a keep-alive from the peer: answer at once
        if payload and sock.state >= TcpState.SYN_RECEIVED and sock.rx is not None:
            outcome, sack = sock.rx.check(seg.seq, payload)
            self.counters[f"tcp_rx_{outcome}"] += 1
            if outcome == "stored":
                sock.pending_bits |= EventBit.RECEIVE
                self._select_event(sock, SelectBit.READ)
                sock.rx.update_low_water()
        if sock.state == TcpState.SYN_RECEIVED and (flags & CTRL) == TcpFlag.SYN:
            # The peer missed our SYN|ACK. eSYN_FIRST takes this SYN's seq as the new RCV.NXT - 1
            # (measured: a SYN with another seq draws a SYN|ACK acknowledging that one).
            sock.irs = seg.seq
            self._state_change(sock, TcpState.SYN_FIRST)
        if flags & TcpFlag.FIN and not sock.fin_recv and sock.rx is not None:
            sock.fin_seq_rx = seq_add(seg.seq, len(payload))
            sock.fin_recv = True
            if not sock.fin_sent:
                sock.fin_last = True
        state = sock.state
        if state == TcpState.SYN_FIRST:
            sent = self._send_syn_ack(sock)
        elif state in (TcpState.CONNECT_SYN, TcpState.SYN_RECEIVED):
            sent = self._handle_syn_received(sock, seg, payload)
        elif state == TcpState.ESTABLISHED:
            sent = self._handle_established(sock, seg, payload, sack)
        elif state in (TcpState.LAST_ACK, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2):
            sent = self._handle_fin(sock, seg)
        return sent

    def _send_syn_ack(self, sock: TcpSocket) -> bool:
        """prvTCPHandleState in eSYN_FIRST: the SYN|ACK is built in the SYN's buffer, so a SYN
        frame shorter than the 66-byte SYN|ACK leaves its checksum unwritten (FR-HS-4, _send_tcp)."""
        self._state_change(sock, TcpState.SYN_RECEIVED)
        self._open_windows(sock)
        self._emit(sock, TcpFlag.SYN | TcpFlag.ACK, sock.isn, sock.rx.rcv_nxt,
                   options=self._syn_options(sock))
        self.counters["tcp_synack_sent"] += 1
        return True

    def _handle_syn_received(self, sock: TcpSocket, seg: wire.TcpSegment, payload: bytes) -> bool:
        """prvHandleSynReceived: only the flags are checked, never the ack number (FR-HS-3)."""
        flags = seg.flags
        expect = TcpFlag.SYN | TcpFlag.ACK if sock.state == TcpState.CONNECT_SYN else TcpFlag.ACK
        mask = TcpFlag.ACK | TcpFlag.RST | TcpFlag.SYN | TcpFlag.FIN
        if (flags & mask) != expect:
            self.counters["tcp_handshake_bad_flags"] += 1
            keep = 0xFF if self.config.faults.handshake_rst_keeps_fin else ~TcpFlag.FIN & 0xFF
            reply = (flags | TcpFlag.RST) & keep
            self._state_change(sock, TcpState.CLOSE_WAIT)
            # The reply keeps the received header (flags | RST, seq = its ack, ack = its seq) but
            # leaves through prvSendData -> prvTCPReturnPacket(pxSocket, ...), so its window is
            # the socket's (prvTCPReturn_CheckTCPWindow), even in CONNECT_SYN before any stream
            # exists: 2920 by default, not the segment's and not 0.
            self._emit(sock, reply, seg.ack, seg.seq)
            return False
        if sock.state == TcpState.CONNECT_SYN:
            sock.irs = seg.seq
            self._open_windows(sock)
            if not sock.peer_sent_wscale:
                sock.our_wscale = 0
            self._state_change(sock, TcpState.ESTABLISHED)
            if sock.tx.unsent() == 0:
                self._send_ack(sock)
                return True
            return self._send_repeated(sock) > 0
        if not sock.peer_sent_wscale:
            sock.our_wscale = 0
        self._state_change(sock, TcpState.ESTABLISHED)
        if payload:                      # ulReceiveLength != 0
            self._send_ack(sock)
            return True
        return False

    def _handle_established(self, sock: TcpSocket, seg: wire.TcpSegment, payload: bytes,
                            sack: list[tuple[int, int]]) -> bool:
        """prvHandleEstablished; ``payload`` is prvCheckRxData's (ulReceiveLength bytes)."""
        flags = seg.flags
        may_close = False
        if flags & TcpFlag.ACK:
            released = sock.tx.ack(seg.ack, self.now)
            if seg.sack_blocks:
                sock.tx.sack(seg.sack_blocks)
            if released:
                sock.pending_bits |= EventBit.SEND
                self._select_event(sock, SelectBit.WRITE)
            if sock.fin_accepted or flags & TcpFlag.FIN:
                may_close = True
                if not sock.fin_sent:
                    if sock.rx.has_gap() or not sock.tx.done():
                        self.counters["tcp_fin_refused"] += 1
                        may_close = False
                    elif seq_diff(seq_add(seg.seq, len(payload)), sock.rx.rcv_nxt) > 1:
                        may_close = False
                    if self.config.faults.fin_waits_for_close and not sock.user_shutdown:
                        may_close = False
                if may_close:
                    sock.fin_accepted = True
                    return self._handle_fin(sock, seg)
        if flags & TcpFlag.FIN and sock.fin_recv and not sock.rx.has_gap():
            # Since V4.3.0 (#1195) a refused FIN is still acknowledged: RCV.NXT moves past it.
            if sock.rx.rcv_nxt == sock.fin_seq_rx:
                sock.rx.rcv_nxt = seq_add(sock.fin_seq_rx, 1)
                if self.config.faults.fin_waits_for_close:
                    self._send_ack(sock)
                    return True
        options = b""
        if sack:
            options = wire.tcp_options(sack_blocks=sack)
        if payload or sock.win_change:
            if not sack and sock.tx.unsent() and self._send_repeated(sock):
                sock.delayed_ack = False     # the data carries the ACK
                return True
            if sack or sock.win_change or not self._may_delay_ack(sock, len(payload)):
                sock.win_change = False
                sock.delayed_ack = False
                self._send_ack(sock, options)
                return True
            sock.delayed_ack = True
            self._set_timer(sock, 0.020 if len(payload) >= sock.mss else 0.002)
            return False
        return self._send_repeated(sock) > 0

    def _may_delay_ack(self, sock: TcpSocket, received: int) -> bool:
        """prvSendData: delay only with at least 2 MSS of window left after this segment (FR-ACK-1)."""
        space = min(sock.rx.window - received, sock.rx.capacity - len(sock.rx.data))
        return sock.tx.unsent() == 0 and space >= 2 * sock.mss

    def _handle_fin(self, sock: TcpSocket, seg: wire.TcpSegment) -> bool:
        """prvTCPHandleFin: no FIN_WAIT_2, CLOSING or TIME_WAIT; every close ends in state 8."""
        if seg.flags & TcpFlag.FIN:
            sock.rx.rcv_nxt = seq_add(sock.fin_seq_rx, 1)
        if not sock.fin_sent:
            sock.fin_seq_tx = sock.tx.snd_nxt
            sock.fin_sent = True
        elif seg.flags & TcpFlag.ACK and seg.ack == seq_add(sock.fin_seq_tx, 1):
            sock.fin_acked = True
        if not sock.fin_acked:
            self._emit(sock, TcpFlag.FIN | TcpFlag.ACK, sock.fin_seq_tx, sock.rx.rcv_nxt)
            if sock.state != TcpState.LAST_ACK:
                self._state_change(sock, TcpState.LAST_ACK)
            return True
        if not sock.fin_recv:
            return False     # FIN_WAIT_1 with our FIN acknowledged: data is stored but not ACKed
        send_last_ack = not sock.fin_last
        if send_last_ack:
            self._emit(sock, TcpFlag.ACK, seq_add(sock.fin_seq_tx, 1), sock.rx.rcv_nxt)
        self._state_change(sock, TcpState.CLOSE_WAIT)
        return send_last_ack

    # ---------------------------------------------------------------- sending
    def _send_repeated(self, sock: TcpSocket) -> int:
        """prvTCPSendRepeated: up to 8 segments in one go."""
        count = 0
        for _ in range(SEND_REPEATED_COUNT):
            if not self._prepare_send(sock):
                break
            count += 1
        return count

    def _prepare_send(self, sock: TcpSocket) -> bool:
        """prvTCPPrepareSend (FreeRTOS_TCP_Transmission.c 811-1010): data, the shutdown FIN,
        keep-alive; returns True if a segment left.

        Its order matters. Data comes first and in any state from ESTABLISHED on: a connection
        that keep-alive dropped into CLOSE_WAIT still retransmits its unacknowledged data, the
        timer never stopping (xTCPSocketCheck re-arms it after the state change). Only then,
        in ESTABLISHED, comes the keep-alive give-up: after the 4th probe the next call (the
        same prvTCPSendRepeated) drops the connection, and a data segment ulTCPWindowTxGet
        just took then counts as sent without leaving.
        """
        if sock.state < TcpState.ESTABLISHED or sock.tx is None:
            return False
        seg = None
        if sock.state == TcpState.ESTABLISHED or not sock.fin_sent:
            seg = sock.tx.next_to_send(sock.peer_window, self.now)
        if sock.state == TcpState.ESTABLISHED:
            limit = 4 if self.config.faults.keepalive_five_probes else 3
            if sock.keep_count > limit:
                self.counters["tcp_keepalive_gave_up"] += 1
                self._state_change(sock, TcpState.CLOSE_WAIT)
                return False
        if seg is not None:
            self._emit(sock, TcpFlag.ACK | TcpFlag.PSH, seg.seq, sock.rx.rcv_nxt,
                       payload=sock.tx.payload(seg))
            sock.win_change = False
            return True
        if sock.user_shutdown and sock.state == TcpState.ESTABLISHED and sock.tx.done() \
                and not self.config.faults.shutdown_never_sends_fin:
            sock.user_shutdown = False
            sock.fin_sent = True
            sock.fin_seq_tx = sock.tx.snd_nxt
            sock.win_change = False
            self._emit(sock, TcpFlag.FIN | TcpFlag.ACK, sock.fin_seq_tx, sock.rx.rcv_nxt)
            self._state_change(sock, TcpState.FIN_WAIT_1)
            return True
        if sock.win_change:
            sock.win_change = False
            self._send_ack(sock)
            return True
        if self.config.keepalive and sock.state == TcpState.ESTABLISHED:
            return self._maybe_keepalive(sock)
        return False

    def _maybe_keepalive(self, sock: TcpSocket) -> bool:
        """The first probe needs > INTERVAL of silence, later ones > 3 s since the last (FR-KA-3)."""
        age = self.now - sock.last_alive
        limit = 3.0 if sock.keep_count else self.config.keepalive_interval
        if age <= limit:
            return False
        sock.last_alive = self.now
        sock.keep_count += 1
        self._set_timer(sock, 2.5)
        seq = sock.tx.snd_nxt if self.config.faults.keepalive_probe_seq_nxt else seq_add(sock.tx.snd_nxt, -1)
        self.counters["tcp_keepalive_sent"] += 1
        self._emit(sock, TcpFlag.ACK, seq, sock.rx.rcv_nxt)
        return True

    # ------------------------------------------------------------------ timers
    def _socket_timer(self, sock: TcpSocket) -> None:
        """xTCPSocketCheck: delayed ACK, then sending, then the next timeout, then hang protection."""
        sock.timer_due = None
        if sock.delayed_ack:
            sock.delayed_ack = False
            if sock.state != TcpState.CLOSED and sock.rx is not None:
                self._send_ack(sock)
        if sock.state == TcpState.CONNECT_SYN:
            self._send_syn(sock)
        elif sock.state >= TcpState.ESTABLISHED:
            self._send_repeated(sock)
        # prvTCPNextTimeout runs whatever the state: a socket whose timer fired keeps one (a state
        # change out of the connected states stops it, vTCPStateChange, unless made here first).
        self._next_timeout(sock)
        if self.config.hang_protection and sock.state in HANG_STATES:
            if self.now - sock.last_act > self.config.hang_protection_time:
                self.counters["tcp_hang_protection"] += 1
                self._state_change(sock, TcpState.CLOSE_WAIT)

    def _next_timeout(self, sock: TcpSocket) -> None:
        """prvTCPNextTimeout."""
        if sock.state == TcpState.CONNECT_SYN:
            if sock.conn_prepared:
                delay = 3.0 * (1 << (sock.rep_count - 1)) if 0 < sock.rep_count < 3 else 11.0
            else:
                delay = 0.5
            self._set_timer(sock, delay)
        elif sock.timer_due is None:
            delay = None
            if sock.tx is not None and sock.state >= TcpState.ESTABLISHED:
                delay = sock.tx.retransmit_delay(sock.peer_window, self.now)
            if delay is None:
                delay = MAX_WAKEUP
            self._set_timer(sock, max(delay, 0.001))

    def _send_syn(self, sock: TcpSocket) -> None:
        """prvTCPSendPacket in CONNECT_SYN: 3 SYNs (0, +3 s, +9 s), give up at ~20 s."""
        if sock.rep_count >= 3:
            self.counters["tcp_connect_gave_up"] += 1
            self._state_change(sock, TcpState.CLOSE_WAIT)
            return
        if not sock.conn_prepared and not self._prepare_connect(sock):
            return
        sock.rep_count += 1
        # Sent from ucLastPacket through prvTCPReturnPacket(pxSocket, NULL, ...): the window is
        # prvTCPReturn_CheckTCPWindow's, like that of the RST prvHandleSynReceived may send later.
        self._emit(sock, TcpFlag.SYN, sock.isn, 0, options=self._syn_options(sock))

    def _prepare_connect(self, sock: TcpSocket) -> bool:
        """prvTCPPrepareConnect: an ARP miss costs one of the three attempts."""
        if self.netif.arp_lookup(sock.remote_ip, self.now) is None:
            sock.rep_count += 1
            self.netif.arp_request(sock.remote_ip, self.now)
            return False
        sock.mss = self.config.mss if self.netif.is_local(sock.remote_ip) else min(self.config.mss,
                                                                                   REDUCED_MSS)
        sock.conn_prepared = True
        sock.rep_count = 0      # a resolved address restarts the count for the SYNs
        return True


def _window_len(segs: int | None, buffer: int, mss: int) -> int:
    """The sliding window: max(1, (buffer / 2) / MSS) segments unless WIN_PROPERTIES set it."""
    if segs is None:
        segs = max(1, (buffer // 2) // mss)
    return segs * mss


def _round_up(n: int, mss: int) -> int:
    return ((n + mss - 1) // mss) * mss

