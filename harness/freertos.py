"""FreeRTOS+TCP API numbers as a case names them (option, flag and shutdown names).

The numbers themselves live in stack_under_test.constants (taken from
projdefs.h and FreeRTOS_Sockets.h); they are facts of the FreeRTOS+TCP API, the
same for the bundled model and for firmware, so every FreeRTOS target shares them.
"""

from stack_under_test.constants import (
    MSG_DONTWAIT,
    MSG_PEEK,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    Errno,
    SockOpt,
    TcpState,
)

__all__ = ["Errno", "MSG_FLAGS", "SELECT_EVENTS", "SHUTDOWN_HOW", "SOCKET_OPTIONS", "TcpState"]

SOCKET_OPTIONS = {option.name: int(option) for option in SockOpt}
MSG_FLAGS = {"PEEK": MSG_PEEK, "DONTWAIT": MSG_DONTWAIT}
SHUTDOWN_HOW = {"RD": SHUT_RD, "WR": SHUT_WR, "RDWR": SHUT_RDWR}
# eSelectEvent_t (FR-EV-1).
SELECT_EVENTS = {"READ": 1, "WRITE": 2, "EXCEPT": 4}
