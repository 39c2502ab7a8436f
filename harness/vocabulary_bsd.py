"""BSD socket results (linux, lwIP) in the shared vocabulary, kept apart from FreeRTOS's overloads.

FreeRTOS's recv returns 0 for "no data yet" (DONTWAIT, or the timeout expired) and -128 for
"the connection has ended"; BSD's recv returns 0 for end of stream and -1/EAGAIN for "no data
yet". ECONNRESET, ETIMEDOUT (keep-alive or retransmission gave up) and ECONNABORTED (lwIP's
keep-alive end) have no FreeRTOS counterpart: they are reported under their own names, with
the meaning `closed` beside them, so a case can say what it means (`closed`, `nodata`,
`timeout`) and still see each target's own value. `Result.raw` is the BSD return value
(-1 on failure) and `Result.name` the errno name.
"""

from __future__ import annotations

from .vocabulary import Result

# Errors that end the connection when a data call sees them.
_ENDED = frozenset({"ECONNRESET", "ETIMEDOUT", "ECONNABORTED", "EPIPE", "ENOTCONN", "ECONNREFUSED"})
# Names the BSD mapping can produce beyond vocabulary.ERRNO_NAMES (reported as themselves).
EXTRA_NAMES = frozenset({"ENOSYS", "ENOTSOCK", "EHOSTUNREACH", "ENETUNREACH"})


def from_bsd(op: str, raw: int, errname: str | None = None, *, blocked: bool = False,
             data: bytes | None = None) -> Result:
    """Normalise one BSD call result (`raw` -1 with `errname` on failure)."""
    if raw < 0:
        name = errname or "EUNKNOWN"
        tags = {"error"}
        if name in ("EAGAIN", "EWOULDBLOCK"):
            name = "EAGAIN"
            tags.add("nodata")
            if blocked:                       # SO_RCVTIMEO expired: the call's timeout
                tags.add("timeout")
        if name == "EINPROGRESS" and blocked:
            tags.add("timeout")
        if name in _ENDED and op in ("recv", "send", "connect", "shutdown"):
            tags.add("closed")
        if name == "ETIMEDOUT" and op == "connect":
            tags.add("timeout")
        return Result(op, raw, name, frozenset(tags))
    if op in ("socket", "accept"):
        return Result(op, raw, "socket", frozenset({"ok", "socket"}), handle=raw)
    if op == "recv":
        if raw == 0:
            # End of stream: the peer's FIN (not "no data yet", which is EAGAIN on BSD).
            return Result(op, raw, "eof", frozenset({"eof", "closed"}), data=data)
        return Result(op, raw, raw, frozenset({"data", "ok"}), data=data)
    if op == "send":
        return Result(op, raw, raw, frozenset({"data", "ok"}) if raw > 0 else frozenset())
    if op == "issocketconnected":
        return Result(op, raw, raw == 1)
    if raw == 0:
        return Result(op, raw, "ok", frozenset({"ok"}))
    return Result(op, raw, raw)
