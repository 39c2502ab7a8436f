"""FreeRTOS+TCP V4.4.1 numbers that applications and the wire can observe.

Values come from projdefs.h, FreeRTOS_Sockets.h, FreeRTOS_TCP_IP.h and
FreeRTOS_IP_Private.h (see ../shared/SEMANTICS.md); keeping them in one module
lets the harness and the tests name them instead of repeating magic numbers.
"""

from enum import IntEnum, IntFlag


class Errno(IntEnum):
    """pdFREERTOS_ERRNO_* (API calls return them negated)."""

    EINTR = 4
    EBADF = 9
    EAGAIN = 11
    ENOMEM = 12
    EINVAL = 22
    ENOSPC = 28
    EOPNOTSUPP = 95
    EAFNOSUPPORT = 97
    ENOPROTOOPT = 109
    EADDRINUSE = 112
    ETIMEDOUT = 116
    EINPROGRESS = 119
    EALREADY = 120
    EADDRNOTAVAIL = 125
    EISCONN = 127
    ENOTCONN = 128
    ECANCELED = 140


class TcpState(IntEnum):
    """eIPTCPState_t, as FreeRTOS_connstatus() reports it."""

    CLOSED = 0
    LISTEN = 1
    CONNECT_SYN = 2
    SYN_FIRST = 3
    SYN_RECEIVED = 4
    ESTABLISHED = 5
    FIN_WAIT_1 = 6
    FIN_WAIT_2 = 7
    CLOSE_WAIT = 8
    CLOSING = 9
    LAST_ACK = 10
    TIME_WAIT = 11


class EventBit(IntFlag):
    """eSocketEvent_t bits of a socket's event group."""

    RECEIVE = 0x01
    SEND = 0x02
    ACCEPT = 0x04
    CONNECT = 0x08
    BOUND = 0x10
    CLOSED = 0x20
    INTR = 0x40


class SelectBit(IntFlag):
    """eSelectEvent_t bits."""

    READ = 1
    WRITE = 2
    EXCEPT = 4
    INTR = 8


class SockOpt(IntEnum):
    """FREERTOS_SO_* option numbers (FreeRTOS_Sockets.h 109-151)."""

    RCVTIMEO = 0
    SNDTIMEO = 1
    UDPCKSUM_OUT = 2
    SET_SEMAPHORE = 3
    SNDBUF = 4
    RCVBUF = 5
    TCP_CONN_HANDLER = 6
    TCP_RECV_HANDLER = 7
    TCP_SENT_HANDLER = 8
    UDP_RECV_HANDLER = 9
    UDP_SENT_HANDLER = 10
    REUSE_LISTEN_SOCKET = 11
    CLOSE_AFTER_SEND = 12
    WIN_PROPERTIES = 13
    SET_FULL_SIZE = 14
    STOP_RX = 15
    UDP_MAX_RX_PACKETS = 16
    WAKEUP_CALLBACK = 17
    SET_LOW_HIGH_WATER = 18


class TcpFlag:
    """TCP flag bits as plain ints: an IntFlag made every `flags & SYN` build an enum member, a
    tenth of the time a segment took (issue 14's fuzzing runs millions of them)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


# FreeRTOS_recv()/FreeRTOS_send() flags.
ZERO_COPY = 1           # FREERTOS_ZERO_COPY
MSG_PEEK = 4            # FREERTOS_MSG_PEEK (FreeRTOS_Sockets.h V4.4.1; 2 is MSG_OOB)
MSG_DONTWAIT = 16       # FREERTOS_MSG_DONTWAIT (8 is MSG_DONTROUTE)

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

# Socket handle values as an application compares them.
NULL_SOCKET = 0
INVALID_SOCKET = -1

# portMAX_DELAY: block forever.
MAX_DELAY = None

# tcpMAXIMUM_TCP_WAKEUP_TIME_MS: an idle socket's timer wakes at most this often.
MAX_TCP_WAKEUP = 20.0
