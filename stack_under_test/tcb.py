"""The per-socket record (FreeRTOS_Socket_t with its xTCP part)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .constants import TcpState
from .tcp_window import RxWindow, TxWindow

# prvTCPSocketIsActive: segments for a socket in any other state are answered as "no socket".
ACTIVE_STATES = frozenset({
    TcpState.LISTEN, TcpState.CONNECT_SYN, TcpState.SYN_FIRST, TcpState.SYN_RECEIVED,
    TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.LAST_ACK,
})
CONNECTING_STATES = frozenset({TcpState.CONNECT_SYN, TcpState.SYN_FIRST, TcpState.SYN_RECEIVED})
# States prvTCPStatusAgeCheck looks at (hang protection).
HANG_STATES = frozenset({
    TcpState.CONNECT_SYN, TcpState.SYN_FIRST, TcpState.SYN_RECEIVED, TcpState.FIN_WAIT_1,
    TcpState.FIN_WAIT_2, TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT,
})


def now_connected(state: int) -> bool:
    """tcpNOW_CONNECTED: the notion of 'connected' used for events (LAST_ACK counts)."""
    return state >= TcpState.ESTABLISHED and state != TcpState.CLOSE_WAIT


@dataclass
class TcpSocket:
    handle: int
    state: TcpState = TcpState.CLOSED
    local_port: int = 0
    remote_ip: int = 0
    remote_port: int = 0

    # Listening and accepting.
    reuse: bool = False
    backlog: int = 0
    child_count: int = 0
    parent: TcpSocket | None = None
    pass_queued: bool = False      # an orphan child, owned by the IP task until connected
    pass_accept: bool = False      # may be returned by accept()

    # Sequence space and windows.
    isn: int = 0
    irs: int = 0
    tx: TxWindow | None = None
    rx: RxWindow | None = None
    streams_created: bool = False
    tx_buffer: int = 0
    rx_buffer: int = 0
    tx_win_segs: int | None = None
    rx_win_segs: int | None = None
    mss: int = 1460
    peer_window: int = 0
    peer_wscale: int = 0
    our_wscale: int = 0
    peer_sent_wscale: bool = False

    # Close bookkeeping (bFinSent, bFinRecv, ...).
    user_shutdown: bool = False
    fin_sent: bool = False
    fin_acked: bool = False
    fin_recv: bool = False
    fin_last: bool = False
    fin_accepted: bool = False
    fin_seq_tx: int = 0
    fin_seq_rx: int = 0
    win_change: bool = False
    send_keepalive: bool = False
    conn_prepared: bool = False
    malloc_error: bool = False
    rx_stopped: bool = False
    our_seq: int = 0               # ulOurSequenceNumber, the seq of control segments

    # Timers.
    timer_due: float | None = None
    last_alive: float = 0.0
    keep_count: int = 0
    last_act: float = 0.0
    rep_count: int = 0
    delayed_ack: bool = False

    # Application-facing.
    rcv_timeout: float | None = None
    snd_timeout: float | None = None
    semaphore: int | None = None
    wake_callback: Callable[[int], None] | None = None
    select_bits: int = 0
    pending_bits: int = 0          # xEventBits, not yet delivered
    group_bits: int = 0            # the event group the blocking calls wait on
    select_set: object | None = None
    connect_write_once: bool = False
    freed: bool = False

    def is_bound(self) -> bool:
        return self.local_port != 0
