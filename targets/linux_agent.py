"""The linux target's agent: BSD socket calls on the host kernel's TCP, inside the target's netns.

Run by the harness as `ip netns exec <ns> python3 -u linux_agent.py`; speaks the JSON-lines
protocol of harness/wire/agent_protocol.md on stdin/stdout. Standard library only, and
nothing from the harness, so it starts fast and can not be confused by the harness's state.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import sys
import threading
import time
from typing import Any

_out_lock = threading.Lock()
_socks: dict[int, socket.socket] = {}
_keepalive: dict[str, Any] | None = None

# linux/tcp_states.h
_TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
               6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
# FreeRTOS_issocketconnected(): ESTABLISHED <= state < CLOSE_WAIT (FreeRTOS's finished state),
# i.e. ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2. Linux's CLOSE_WAIT (peer's FIN seen, we have not
# closed) is not counted: the peer has left, which is what the FreeRTOS call reports.
_CONNECTED = {1, 4, 5}
_FLAGS = {"DONTWAIT": socket.MSG_DONTWAIT, "PEEK": socket.MSG_PEEK}
_HOW = {"RD": socket.SHUT_RD, "WR": socket.SHUT_WR, "RDWR": socket.SHUT_RDWR}


def emit(msg: dict[str, Any]) -> None:
    line = json.dumps(msg) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def _sock(args: dict[str, Any]) -> socket.socket:
    s = _socks.get(int(args["sock"]))
    if s is None:
        raise OSError(errno.EBADF, "no such socket")
    return s


def _apply_keepalive(s: socket.socket) -> None:
    if not _keepalive or not _keepalive.get("on"):
        return
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(_keepalive["idle"])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, round(_keepalive["interval"])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, int(_keepalive["count"]))


def _timeval(value: Any) -> bytes:
    seconds = 0.0 if value is None else float(value)
    return struct.pack("@ll", int(seconds), int((seconds % 1) * 1e6))


def _tcp_state(s: socket.socket) -> int:
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def op_configure(args: dict[str, Any]) -> dict[str, Any]:
    global _keepalive
    _keepalive = args.get("keepalive")
    return {"raw": 0}


def op_socket(args: dict[str, Any]) -> dict[str, Any]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A server restarting on its port must not wait out TIME_WAIT; usual Linux server practice.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _apply_keepalive(s)
    _socks[s.fileno()] = s
    return {"raw": s.fileno()}


def op_bind(args: dict[str, Any]) -> dict[str, Any]:
    _sock(args).bind(("0.0.0.0", int(args["port"])))
    return {"raw": 0}


def op_listen(args: dict[str, Any]) -> dict[str, Any]:
    _sock(args).listen(int(args.get("backlog", 4)))
    return {"raw": 0}


def op_accept(args: dict[str, Any]) -> dict[str, Any]:
    c, _ = _sock(args).accept()
    _apply_keepalive(c)
    _socks[c.fileno()] = c
    return {"raw": c.fileno()}


def op_connect(args: dict[str, Any]) -> dict[str, Any]:
    _sock(args).connect((args["ip"], int(args["port"])))
    return {"raw": 0}


def _flags(args: dict[str, Any]) -> int:
    out = 0
    for name in args.get("flags", ()):
        out |= _FLAGS[name]
    return out


def op_send(args: dict[str, Any]) -> dict[str, Any]:
    return {"raw": _sock(args).send(bytes.fromhex(args["data"]), _flags(args) | socket.MSG_NOSIGNAL)}


def op_recv(args: dict[str, Any]) -> dict[str, Any]:
    data = _sock(args).recv(int(args["len"]), _flags(args))
    return {"raw": len(data), "data": data.hex()}


def op_shutdown(args: dict[str, Any]) -> dict[str, Any]:
    _sock(args).shutdown(_HOW[args.get("how", "RDWR")])
    return {"raw": 0}


def op_closesocket(args: dict[str, Any]) -> dict[str, Any]:
    s = _socks.pop(int(args["sock"]), None)
    if s is None:
        raise OSError(errno.EBADF, "no such socket")
    s.close()
    return {"raw": 0}


def op_setsockopt(args: dict[str, Any]) -> dict[str, Any]:
    s, option, value = _sock(args), args["option"], args.get("value")
    if option in ("RCVTIMEO", "SNDTIMEO"):
        which = socket.SO_RCVTIMEO if option == "RCVTIMEO" else socket.SO_SNDTIMEO
        s.setsockopt(socket.SOL_SOCKET, which, _timeval(value))
    elif option in ("SNDBUF", "RCVBUF"):
        which = socket.SO_SNDBUF if option == "SNDBUF" else socket.SO_RCVBUF
        s.setsockopt(socket.SOL_SOCKET, which, int(value))
    elif option == "KEEPALIVE":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(value)))
    elif option in ("KEEPIDLE", "KEEPINTVL", "KEEPCNT"):
        s.setsockopt(socket.IPPROTO_TCP, getattr(socket, f"TCP_{option}"), int(value))
    else:
        raise OSError(errno.ENOPROTOOPT, f"option {option} not supported")
    return {"raw": 0}


def op_issocketconnected(args: dict[str, Any]) -> dict[str, Any]:
    return {"raw": int(_tcp_state(_sock(args)) in _CONNECTED)}


def op_tcpstate(args: dict[str, Any]) -> dict[str, Any]:
    state = _tcp_state(_sock(args))
    return {"raw": state, "state": _TCP_STATES.get(state, str(state))}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def handle(msg: dict[str, Any], entered: threading.Event | None = None) -> None:
    rid, op, args = msg.get("id"), msg.get("op"), msg.get("args") or {}
    t0 = time.time()
    fn = OPS.get(op)  # type: ignore[arg-type]
    if entered is not None:
        entered.set()
    try:
        if fn is None:
            raise OSError(errno.ENOSYS, f"op {op} not implemented")
        out = fn(args)
    except OSError as exc:
        code = exc.errno if exc.errno is not None else (errno.ETIMEDOUT if isinstance(exc, TimeoutError)
                                                         else errno.EIO)
        out = {"raw": -1, "errno": code, "errname": errno.errorcode.get(code, f"E{code}")}
    except Exception as exc:  # a bug here, not the stack's answer: the harness reports an error
        emit({"id": rid, "fatal": f"{type(exc).__name__}: {exc}", "t0": t0, "t": time.time()})
        return
    emit({"id": rid, **out, "t0": t0, "t": time.time()})


def main() -> None:
    emit({"event": "ready", "t": time.time(), "pid": os.getpid(), "kernel": os.uname().release})
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError as exc:
            emit({"id": None, "fatal": f"bad request line: {exc}"})
            continue
        # One thread per call: blocking calls (recv, accept, connect) stay pending while others run.
        # The next request waits until this one's thread is running: on a loaded host a recv's
        # thread could otherwise start after a later shutdown's and see the shutdown first.
        entered = threading.Event()
        threading.Thread(target=handle, args=(msg, entered), daemon=True).start()
        entered.wait(5.0)
    # stdin closed: the harness is gone. Do not wait for blocked calls.
    os._exit(0)


if __name__ == "__main__":
    main()
