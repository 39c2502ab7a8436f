"""The SAM4E agent mailbox in Python: the layout of firmware/tch_mailbox.h (PROTOCOL.md, version 2),
request encoding and response decoding for the host, and `HostMailboxLibrary`, which runs the
firmware's own protocol C code (compiled for the host) over a Python buffer: an emulated board's
SRAM is served by exactly the code the board runs.

A test compares every offset here with the C compiler's (tch_layout() in the host library).
"""

from __future__ import annotations

import ctypes
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from harness.freertos import MSG_FLAGS
from targets.sam4e.build import build_host_library

MAGIC = 0x31484354          # "TCH1" as bytes in memory
LAYOUT_VERSION = 2          # 2: op 15 SELECT, statuses UNSUPPORTED and NO_MEMORY
SLOTS = 4
DATA_SIZE = 1024
ARGS = 6
FOREVER = -1                # a timeout argument meaning portMAX_DELAY
SELECT_EVENTS = 0x0F        # TCH_SELECT_EVENTS: the eSELECT_* bits SELECT's events may hold (eSELECT_ALL)

# FreeRTOS+TCP V4.4.1's xFlags numbers (PEEK 4, DONTWAIT 16), what the firmware passes on.
FREERTOS_MSG = MSG_FLAGS


class Op(IntEnum):
    NOP = 0
    SOCKET = 1
    BIND = 2
    LISTEN = 3
    ACCEPT = 4
    CONNECT = 5
    SEND = 6
    RECV = 7
    SHUTDOWN = 8
    CLOSESOCKET = 9
    SETSOCKOPT = 10
    ISCONNECTED = 11
    CONNSTATUS = 12
    SEM_CREATE = 13
    SEM_TAKE = 14
    SELECT = 15


class Status(IntEnum):
    OK = 0
    BAD_OP = -1
    BAD_ARG = -2
    BAD_SOCKET = -3
    NO_HANDLE = -4
    UNSUPPORTED = -5        # a known op this firmware was built without (SELECT)
    NO_MEMORY = -6          # FreeRTOS could not allocate what the call needs (a socket set)


# struct tch_mailbox: offsets of the header fields.
HEADER = {"magic": 0, "layout_version": 4, "slot_count": 6, "slot_size": 8, "data_size": 12,
          "heartbeat": 16, "boot_id": 20, "reserved": 24, "slot": 32}
# struct tch_slot: offsets within one slot.
SLOT = {"req_seq": 0, "op": 4, "arg": 8, "data_len": 32, "resp_seq": 36, "status": 40, "result": 44,
        "result_len": 48, "t_start": 52, "t_end": 56, "data": 60}
SLOT_SIZE = SLOT["data"] + DATA_SIZE
MAILBOX_SIZE = HEADER["slot"] + SLOTS * SLOT_SIZE

# tch_layout()'s values, in its order (firmware/host/tch_layout.c).
LAYOUT_FIELDS: tuple[tuple[str, int], ...] = (
    ("sizeof(tch_mailbox)", MAILBOX_SIZE), ("sizeof(tch_slot)", SLOT_SIZE),
    *((f"tch_mailbox.{k}", v) for k, v in HEADER.items()),
    *((f"tch_slot.{k}", v) for k, v in SLOT.items()),
    ("TCH_MAGIC", MAGIC), ("TCH_LAYOUT_VERSION", LAYOUT_VERSION), ("TCH_SLOTS", SLOTS),
    ("TCH_DATA_SIZE", DATA_SIZE), ("TCH_ARGS", ARGS), ("TCH_OP_COUNT", len(Op)),
)

_HEAD = struct.Struct("<I6iI")                  # op, arg[6], data_len: slot offsets 4..36
_RESPONSE = struct.Struct("<IiiIII")            # resp_seq .. t_end: slot offsets 36..60
_HEADER = struct.Struct("<IHHIIII")             # magic .. boot_id


def slot_offset(slot: int) -> int:
    """Where slot `slot` starts, from the start of the mailbox."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot {slot} out of range 0..{SLOTS - 1}")
    return HEADER["slot"] + slot * SLOT_SIZE


def ipv4_arg(address: str) -> int:
    """CONNECT's arg1: the address in network order as the firmware's uint32 holds it, as int32."""
    return struct.unpack("<i", socket.inet_aton(address))[0]


def encode_request(op: int, args: Sequence[int] = (), data: bytes = b"") -> list[tuple[int, bytes]]:
    """The writes of a request as (offset within the slot, bytes), in order; req_seq is not among
    them: the caller writes it last. Two writes, because the firmware's response fields lie between
    data_len and data, and the host must not write those."""
    if len(args) > ARGS:
        raise ValueError(f"{len(args)} arguments: at most {ARGS}")
    if len(data) > DATA_SIZE:
        raise ValueError(f"{len(data)} bytes of data: at most {DATA_SIZE}")
    head = _HEAD.pack(int(op) & 0xFFFFFFFF, *(list(args) + [0] * (ARGS - len(args))), len(data))
    writes = [(SLOT["op"], head)]
    return [(SLOT["data"], bytes(data)), *writes] if data else writes


@dataclass(frozen=True)
class Response:
    resp_seq: int
    status: Status | int     # an int only when the firmware answers a status this mirror lacks
    result: int
    data: bytes
    t_start: int
    t_end: int


def decode_response(raw: bytes) -> Response:
    """A slot's response from its raw bytes, read from the slot's start (at least through the data
    that result_len announces)."""
    if len(raw) < SLOT["data"]:
        raise ValueError(f"{len(raw)} bytes: a slot's response needs at least {SLOT['data']}")
    resp_seq, status, result, result_len, t_start, t_end = _RESPONSE.unpack_from(raw, SLOT["resp_seq"])
    if result_len > DATA_SIZE:
        raise ValueError(f"result_len {result_len} > {DATA_SIZE}: not a valid response")
    end = SLOT["data"] + result_len
    if len(raw) < end:
        raise ValueError(f"{len(raw)} bytes: result_len {result_len} needs {end}")
    try:
        status = Status(status)
    except ValueError:
        pass
    return Response(resp_seq, status, result, bytes(raw[SLOT["data"]:end]), t_start, t_end)


def decode_header(raw: bytes) -> dict[str, int]:
    """The header fields (magic .. boot_id) from the mailbox's first bytes."""
    names = ("magic", "layout_version", "slot_count", "slot_size", "data_size", "heartbeat", "boot_id")
    return dict(zip(names, _HEADER.unpack_from(raw, 0), strict=True))


# ---- the firmware's C protocol code on the host ----

Call = Callable[[int, tuple[int, ...], bytes], tuple[int, int, bytes]]
"""(op, args, data) -> (status, result, out bytes): a stack binding written in Python."""

_CALL = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int32),
                         ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint8),
                         ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_int32))
_TICKS = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)
_DONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint32, ctypes.c_int32,
                         ctypes.c_int32)


class _Ops(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("call", _CALL), ("ticks", _TICKS), ("done", _DONE)]


def _monotonic_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) & 0xFFFFFFFF


class HostMailboxLibrary:
    """tch_mailbox.c compiled for the host (build.build_host_library), run over a writable buffer
    (bytearray, ctypes array, ...) holding a mailbox at `offset`. The C code reads and writes the
    buffer itself, so other threads see exactly the stores and their order the board would make.
    The GIL is released during a C call: slots can be served from several threads at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or build_host_library()
        lib = ctypes.CDLL(str(self.path))
        lib.tch_layout.argtypes = [ctypes.POINTER(ctypes.c_uint32), ctypes.c_uint]
        lib.tch_layout.restype = ctypes.c_uint
        lib.tch_mailbox_init.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.tch_mailbox_init.restype = None
        lib.tch_slot_service.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(_Ops)]
        lib.tch_slot_service.restype = ctypes.c_int
        lib.tch_heartbeat.argtypes = [ctypes.c_void_p]
        lib.tch_heartbeat.restype = None
        self._lib = lib

    @property
    def lib(self) -> ctypes.CDLL:
        """The loaded library, for the tests of its other parts (RTT block, formatter)."""
        return self._lib

    def layout(self) -> list[int]:
        """The values LAYOUT_FIELDS names, as the C compiler laid the structs out."""
        count = self._lib.tch_layout(None, 0)
        out = (ctypes.c_uint32 * count)()
        self._lib.tch_layout(out, count)
        return list(out)

    def init(self, buffer: Any, offset: int = 0, boot_id: int = 0) -> None:
        """tch_mailbox_init() on the mailbox at buffer[offset:]."""
        self._lib.tch_mailbox_init(_address(buffer, offset), boot_id & 0xFFFFFFFF)

    def heartbeat(self, buffer: Any, offset: int = 0) -> None:
        self._lib.tch_heartbeat(_address(buffer, offset))

    def service(self, buffer: Any, offset: int, slot: int, call: Call,
                ticks: Callable[[], int] | None = None,
                done: Callable[[int, int, int, int], None] | None = None) -> bool:
        """tch_slot_service() once: True if it answered a request, False if the slot was idle.
        `call` is the stack binding; an exception in it (or in ticks/done) is raised here, after
        the C code has published its answer."""
        if not 0 <= slot < SLOTS:
            raise ValueError(f"slot {slot} out of range 0..{SLOTS - 1}")
        errors: list[BaseException] = []
        ticks = ticks or _monotonic_ms

        def c_call(_ctx: Any, op: int, arg: Any, data: Any, data_len: int, out: Any, out_cap: int,
                   out_len: Any, status: Any) -> int:
            try:
                st, result, payload = call(op, tuple(arg[i] for i in range(ARGS)),
                                           ctypes.string_at(data, data_len))
                if len(payload) > out_cap:
                    raise ValueError(f"{len(payload)} bytes out for a {out_cap}-byte buffer")
                ctypes.memmove(out, payload, len(payload))
                out_len[0] = len(payload)
                status[0] = int(st)
                return int(result)
            except BaseException as e:  # noqa: BLE001 - re-raised by service(); C can not unwind it
                errors.append(e)
                status[0] = Status.BAD_ARG
                return 0

        def c_ticks(_ctx: Any) -> int:
            try:
                return int(ticks()) & 0xFFFFFFFF
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return 0

        def c_done(_ctx: Any, slot_: int, op: int, status: int, result: int) -> None:
            try:
                if done is not None:
                    done(slot_, op, status, result)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        # The callback objects must outlive the C call: keep them in locals until it returns.
        ops = _Ops(None, _CALL(c_call), _TICKS(c_ticks), _DONE(c_done))
        ran = bool(self._lib.tch_slot_service(_address(buffer, offset), slot, ctypes.byref(ops)))
        if errors:
            raise errors[0]
        return ran


def _address(buffer: Any, offset: int) -> int:
    """The address of buffer[offset], checked: the mailbox must fit and be 4-byte aligned."""
    view = (ctypes.c_uint8 * memoryview(buffer).nbytes).from_buffer(buffer)
    if offset < 0 or offset + MAILBOX_SIZE > len(view):
        raise ValueError(f"a mailbox at {offset} does not fit a {len(view)}-byte buffer")
    address = ctypes.addressof(view) + offset
    if address % 4:
        raise ValueError(f"the mailbox at {address:#x} is not 4-byte aligned")
    return address
