"""Call results in one vocabulary, with each target's raw value kept beside it.

FreeRTOS and BSD sockets overload the same numbers differently: FreeRTOS's recv
returns 0 for "no data yet" and -128 for "connection ended", BSD's returns 0 for
end of stream and EAGAIN for "no data yet". A Result therefore carries the raw
value, a primary `name` (the errno name when the raw value is an errno, else a
word such as `ok` or a count), and `tags` naming what the result *means*
(`closed`, `nodata`, `timeout`, `error`, ...). A case asserts the raw value
(`returns: -128`), the name (`returns: ENOTCONN`) or a meaning (`returns: closed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .freertos import Errno, TcpState

# Meanings shared by every target's mapping; targets may only use these.
MEANINGS = frozenset(
    {
        "ok",  # the call did what was asked
        "error",  # any failure
        "closed",  # the connection has ended (for whatever reason)
        "nodata",  # nothing to read yet; the connection may still be alive
        "timeout",  # a blocking call's timeout expired
        "data",  # a positive count of bytes
        "socket",  # a usable socket handle
        "invalid",  # an invalid handle came back (FREERTOS_INVALID_SOCKET)
        "taken",  # a semaphore was taken
        "eof",  # BSD end of stream (recv 0)
    }
)
ERRNO_NAMES = frozenset(e.name for e in Errno) | {"ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE"}
STATE_NAMES = frozenset(s.name for s in TcpState)
PENDING = "pending"  # `await: r1` + `returns: pending`: the call has not completed
KNOWN_NAMES = MEANINGS | ERRNO_NAMES | STATE_NAMES | {PENDING}


@dataclass(frozen=True)
class Result:
    op: str
    raw: object
    name: str | int | bool
    tags: frozenset[str] = field(default_factory=frozenset)
    data: bytes | None = None
    handle: object = None  # a socket handle returned by accept/socket, for `is:` checks

    def describe(self) -> str:
        tags = f" [{', '.join(sorted(self.tags))}]" if self.tags else ""
        return f"{self.name} (raw {self.raw!r}){tags}"

    def means(self, word: str) -> bool:
        return word == self.name or word in self.tags


def _errno(op: str, raw: int) -> Result:
    try:
        name = Errno(-raw).name
    except ValueError:
        name = f"E{-raw}"
    tags = {"error"}
    if name == "ENOTCONN" and op in ("recv", "send"):
        tags.add("closed")
    if name == "ETIMEDOUT":
        tags.add("timeout")
    if name == "EAGAIN":
        tags.add("nodata")
    return Result(op, raw, name, frozenset(tags))


def from_freertos(op: str, raw: object, *, blocked: bool = False, data: bytes | None = None) -> Result:
    """Normalise a FreeRTOS+TCP return value (SEMANTICS.md FR-* conventions).

    `blocked` says the call waited before returning, which is the only way to
    tell recv's "timed out" 0 from its "nothing there right now" 0.
    """
    if raw is None:
        return Result(op, raw, "ok", frozenset({"ok"}))
    assert isinstance(raw, int)
    if op == "connstatus":
        return Result(op, raw, TcpState(raw).name)
    if op == "issocketconnected":
        return _errno(op, raw) if raw < 0 else Result(op, raw, raw == 1)
    if op in ("accept", "socket"):
        if raw > 0:
            return Result(op, raw, "socket", frozenset({"ok", "socket"}), handle=raw)
        if raw == 0:
            return Result(op, raw, "timeout", frozenset({"timeout", "error"}))
        return Result(op, raw, "invalid", frozenset({"invalid", "error"}))
    if op == "semaphore_create":
        return Result(op, raw, "ok", frozenset({"ok"}), handle=raw)
    if op == "select":
        # FreeRTOS_select: the ready eSelectEvent_t bits, 0 when the timeout passed.
        return (
            Result(op, raw, raw, frozenset({"ok", "ready"}))
            if raw > 0
            else Result(op, raw, "timeout", frozenset({"timeout"}))
        )
    if op == "semaphore_take":
        return (
            Result(op, raw, "taken", frozenset({"ok", "taken"}))
            if raw
            else Result(op, raw, "timeout", frozenset({"timeout"}))
        )
    if raw < 0:
        return _errno(op, raw)
    if op in ("recv", "send"):
        if raw > 0:
            return Result(op, raw, raw, frozenset({"data", "ok"}), data=data)
        tags = {"nodata", "timeout"} if blocked else {"nodata"}
        return Result(op, raw, 0, frozenset(tags), data=data)
    if op == "closesocket":
        return (
            Result(op, raw, "ok", frozenset({"ok"}))
            if raw == 1
            else Result(op, raw, "invalid", frozenset({"invalid", "error"}))
        )
    if raw == 0:
        return Result(op, raw, "ok", frozenset({"ok"}))
    return Result(op, raw, raw)
