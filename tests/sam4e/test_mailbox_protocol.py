"""The firmware's protocol code (tch_mailbox.c, compiled for the host) over a Python buffer: what
PROTOCOL.md promises the host. The "host" here writes the buffer as the pyOCD adapter writes SRAM;
the C code serves it as the board's workers do. Needs gcc."""

from __future__ import annotations

import ctypes
import re
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from targets.sam4e.mailbox import (
    DATA_SIZE,
    FOREVER,
    HEADER,
    LAYOUT_VERSION,
    MAGIC,
    MAILBOX_SIZE,
    SELECT_EVENTS,
    SLOT,
    SLOT_SIZE,
    SLOTS,
    HostMailboxLibrary,
    Op,
    Response,
    Status,
    decode_header,
    decode_response,
    encode_request,
    slot_offset,
)
from tests.conftest import require

BASE = 64   # the mailbox sits inside a larger "SRAM", as on the board
ROUNDS = 1000
FIRMWARE = Path(__file__).resolve().parents[2] / "targets" / "sam4e" / "firmware"


@pytest.fixture(scope="module")
def lib() -> HostMailboxLibrary:
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    return HostMailboxLibrary()


class Host:
    """The adapter's side of the mailbox, over the emulated SRAM."""

    def __init__(self, lib: HostMailboxLibrary) -> None:
        self.lib = lib
        self.sram = (ctypes.c_uint8 * (BASE + MAILBOX_SIZE + 64))()
        lib.init(self.sram, BASE, boot_id=0xB007)

    def at(self, slot: int, field: str) -> int:
        return BASE + slot_offset(slot) + SLOT[field]

    def u32(self, slot: int, field: str) -> int:
        return struct.unpack_from("<I", self.sram, self.at(slot, field))[0]

    def put_u32(self, slot: int, field: str, value: int) -> None:
        struct.pack_into("<I", self.sram, self.at(slot, field), value & 0xFFFFFFFF)

    def submit(self, slot: int, op: int, args: list[int] | tuple[int, ...] = (), data: bytes = b"") -> int:
        """Rule 2: request fields, then req_seq = resp_seq + 1, last."""
        assert self.u32(slot, "req_seq") == self.u32(slot, "resp_seq"), "slot busy"
        for offset, chunk in encode_request(op, args, data):
            start = BASE + slot_offset(slot) + offset
            self.sram[start:start + len(chunk)] = chunk
        seq = (self.u32(slot, "resp_seq") + 1) & 0xFFFFFFFF
        self.put_u32(slot, "req_seq", seq)
        return seq

    def response(self, slot: int) -> Response:
        start = BASE + slot_offset(slot)
        return decode_response(bytes(self.sram[start:start + SLOT_SIZE]))

    def serve(self, slot: int, call: Any, **kw: Any) -> bool:
        return self.lib.service(self.sram, BASE, slot, call, **kw)


@pytest.fixture
def host(lib: HostMailboxLibrary) -> Host:
    return Host(lib)


def echo(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
    return Status.OK, args[0] + 1, data[::-1]


def test_init_writes_the_header_and_clears_the_slots(lib: HostMailboxLibrary) -> None:
    sram = bytearray(b"\xa5" * (MAILBOX_SIZE + 16))
    lib.init(sram, 8, boot_id=0x12345678)
    assert decode_header(bytes(sram[8:])) == {
        "magic": MAGIC, "layout_version": LAYOUT_VERSION, "slot_count": SLOTS, "slot_size": SLOT_SIZE,
        "data_size": DATA_SIZE, "heartbeat": 0, "boot_id": 0x12345678}
    assert sram[8 + HEADER["reserved"]:8 + MAILBOX_SIZE] == bytes(MAILBOX_SIZE - HEADER["reserved"])
    assert sram[:8] == b"\xa5" * 8 and sram[8 + MAILBOX_SIZE:] == b"\xa5" * 8   # nothing outside
    lib.heartbeat(sram, 8)
    lib.heartbeat(sram, 8)
    assert decode_header(bytes(sram[8:]))["heartbeat"] == 2


def test_an_idle_slot_runs_nothing(host: Host) -> None:
    calls = []
    assert not host.serve(0, lambda *a: calls.append(a) or (0, 0, b""))
    assert calls == []
    assert host.u32(0, "resp_seq") == 0


def test_a_request_runs_once_and_only_once(host: Host) -> None:
    calls = []
    ticks = iter([100, 107])

    def call(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        calls.append((op, args, data))
        return echo(op, args, data)

    seq = host.submit(2, Op.SEND, [41, 8], b"payload")
    assert host.serve(2, call, ticks=lambda: next(ticks))
    assert not host.serve(2, call)
    assert not host.serve(2, call)
    assert calls == [(Op.SEND, (41, 8, 0, 0, 0, 0), b"payload")]
    assert host.response(2) == Response(seq, Status.OK, 42, b"daolyap", 100, 107)
    assert all(host.u32(s, "resp_seq") == 0 for s in (0, 1, 3))     # other slots untouched


def test_resp_seq_is_published_after_everything_else(host: Host) -> None:
    """While the call runs (and when t_end is taken) resp_seq is still the old value and the old
    results stand; the `done` hook, after publication, sees the new ones."""
    host.submit(1, Op.NOP)
    host.serve(1, lambda *a: (Status.OK, 5, b"first"))
    seen: dict[str, Any] = {}
    ticks_calls = 0

    def call(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        seen["in call"] = (host.u32(1, "resp_seq"), host.response(1).result)
        return Status.OK, 6, b"second"

    def ticks() -> int:
        nonlocal ticks_calls
        ticks_calls += 1
        seen[f"ticks {ticks_calls}"] = (host.u32(1, "resp_seq"), host.response(1).result)
        return 0

    def done(slot: int, op: int, status: int, result: int) -> None:
        seen["done"] = (slot, host.u32(1, "resp_seq"), host.response(1))

    seq = host.submit(1, Op.NOP)
    host.serve(1, call, ticks=ticks, done=done)
    old = (seq - 1, 5)
    assert seen["in call"] == old and seen["ticks 1"] == old and seen["ticks 2"] == old
    assert seen["done"] == (1, seq, Response(seq, Status.OK, 6, b"second", 0, 0))


def test_a_polling_host_never_sees_resp_seq_before_the_results(lib: HostMailboxLibrary, host: Host) -> None:
    """The real arrangement, at full speed: a "firmware" thread serves the slot in a loop while
    this thread, as the host, submits and then spins in C (tch_host_await, no GIL) on resp_seq,
    reading status/result/result_len the moment it changes: every round sees its own results.
    (A reorder of the final stores is too quick to be caught this way on x86, whose stores are
    seen in order: the next test checks their order in the source.)"""
    stop = threading.Event()
    await_ = lib.lib.tch_host_await
    await_.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int32)]
    slot_address = ctypes.addressof(host.sram) + host.at(3, "req_seq")

    def firmware() -> None:
        while not stop.is_set():
            host.serve(3, lambda op, args, data: (Status.OK, args[0], bytes(args[0] % 2)))

    worker = threading.Thread(target=firmware)
    worker.start()
    seen, stale = (ctypes.c_int32 * 3)(), []
    try:
        for round_ in range(1, ROUNDS + 1):
            seq = host.submit(3, Op.NOP, [round_])
            assert await_(slot_address, seq, 2_000_000_000, seen), "the firmware thread never answered"
            if list(seen) != [Status.OK, round_, round_ % 2]:
                stale.append((round_, list(seen)))
    finally:
        stop.set()
        worker.join(10)
    assert stale == []
    assert host.u32(3, "resp_seq") == ROUNDS


def test_resp_seq_is_the_last_store_after_a_barrier() -> None:
    """PROTOCOL.md firmware rule 2, in tch_slot_service's source: results, TCH_DMB(), resp_seq."""
    source = (FIRMWARE / "tch_mailbox.c").read_text()
    body = source[source.index("int tch_slot_service("):]
    body = body[:body.index("\n}\n")]
    stores = [(m.group(1), m.start()) for m in re.finditer(r"\bvs->(\w+)\s*=(?!=)", body)]
    assert [name for name, _ in stores][-6:] == ["status", "result", "result_len", "t_start", "t_end",
                                                 "resp_seq"]
    between = body[stores[-2][1]:stores[-1][1]]
    assert "TCH_DMB();" in between


def test_the_call_runs_on_a_copy_of_the_request(host: Host) -> None:
    """A host that breaks rule 2 and rewrites a busy slot does not change the running call. The
    rewrite happens in the t_start tick, after the worker picked the request up, before the call."""
    got = {}

    def rewrite() -> int:
        if not got:
            got["rewritten"] = True
            for offset, chunk in encode_request(Op.RECV, [9, 9, 9], b"XXXX"):
                start = host.at(0, "req_seq") + offset
                host.sram[start:start + len(chunk)] = chunk
        return 0

    def call(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        got["request"] = (op, args, data)
        return Status.OK, 0, b""

    host.submit(0, Op.SEND, [1, 2], b"abcd")
    host.serve(0, call, ticks=rewrite)
    assert got == {"rewritten": True, "request": (Op.SEND, (1, 2, 0, 0, 0, 0), b"abcd")}


@pytest.mark.parametrize("op", [len(Op), 255, 0xFFFFFFFF])
def test_an_unknown_op_is_answered_bad_op(host: Host, op: int) -> None:
    seq = host.submit(0, op)
    assert host.serve(0, lambda *a: pytest.fail("an unknown op reached the binding"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.BAD_OP, 0, b"")


@pytest.mark.parametrize("data_len", [DATA_SIZE + 1, 0x80000000, 0xFFFFFFFF])
def test_data_len_beyond_the_data_area_is_bad_arg(host: Host, data_len: int) -> None:
    host.submit(0, Op.SEND, [1, 0])        # encode_request refuses it: write data_len by hand
    seq = host.u32(0, "req_seq")
    host.put_u32(0, "req_seq", seq - 1)    # back to idle while the field is rewritten
    host.put_u32(0, "data_len", data_len)
    host.put_u32(0, "req_seq", seq)
    assert host.serve(0, lambda *a: pytest.fail("a bad data_len reached the binding"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.BAD_ARG, 0, b"")


@pytest.mark.parametrize("length,status", [(DATA_SIZE + 1, Status.BAD_ARG), (-1, Status.BAD_ARG),
                                           (-(2**31), Status.BAD_ARG), (DATA_SIZE, Status.OK),
                                           (0, Status.OK)])
def test_recv_length_is_checked_against_the_data_area(host: Host, length: int, status: Status) -> None:
    calls = []
    host.submit(0, Op.RECV, [1, length, 0])
    host.serve(0, lambda *a: calls.append(a) or (Status.OK, 0, b""))
    assert host.response(0).status == status
    assert len(calls) == (status == Status.OK)


@pytest.mark.parametrize("events", [-1, SELECT_EVENTS + 1, 0x10, 0xFF, -(2**31), 2**31 - 1])
def test_select_events_beyond_eselect_all_are_bad_arg(host: Host, events: int) -> None:
    """eSELECT_CALL_IP (0x10) and above are FreeRTOS's own: tch_mailbox.c refuses them, and no call
    reaches the binding (so a build without select answers BAD_ARG, not UNSUPPORTED, here too)."""
    seq = host.submit(0, Op.SELECT, [1, events, 0])
    assert host.serve(0, lambda *a: pytest.fail("bad SELECT events reached the binding"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.BAD_ARG, 0, b"")


@pytest.mark.parametrize("timeout", [-2, -1000, -(2**31)])
def test_a_select_timeout_below_forever_is_bad_arg(host: Host, timeout: int) -> None:
    seq = host.submit(0, Op.SELECT, [1, 1, timeout])
    assert host.serve(0, lambda *a: pytest.fail("a bad SELECT timeout reached the binding"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.BAD_ARG, 0, b"")


@pytest.mark.parametrize(("events", "timeout"), [(0, 0), (1, FOREVER), (2, 250), (4, 0), (8, 0),
                                                  (SELECT_EVENTS, 2**31 - 1)])
def test_a_valid_select_reaches_the_binding_untouched(host: Host, events: int, timeout: int) -> None:
    """Every eSELECT bit combination (0..15), a timeout in ms or FOREVER: the binding gets the args as
    written and its answer (status and FreeRTOS_select's bits) is published as it gave it."""
    calls = []

    def select(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        calls.append((op, args, data))
        return Status.OK, events & 3, b""

    seq = host.submit(0, Op.SELECT, [3, events, timeout])
    assert host.serve(0, select)
    assert calls == [(Op.SELECT, (3, events, timeout, 0, 0, 0), b"")]
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.OK, events & 3, b"")


@pytest.mark.parametrize("status", [Status.UNSUPPORTED, Status.NO_MEMORY, Status.BAD_SOCKET])
def test_select_refusals_of_the_binding_are_published(host: Host, status: Status) -> None:
    """A build without select (UNSUPPORTED), no heap for a set (NO_MEMORY), an unknown handle."""
    seq = host.submit(0, Op.SELECT, [1, 1, 0])
    host.serve(0, lambda *a: (status, 0, b"ignored"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, status, 0, b"")


def test_other_ops_keep_their_args_unchecked_by_the_select_rule(host: Host) -> None:
    """The SELECT checks are SELECT's: a NOP or SEND with the same argument values still runs."""
    calls = []
    for op in (Op.NOP, Op.SEND, Op.SEM_TAKE):
        host.submit(0, op, [1, 0xFF, -2])
        host.serve(0, lambda *a: calls.append(a[0]) or (Status.OK, 0, b""))
        assert host.response(0).status == Status.OK
    assert calls == [Op.NOP, Op.SEND, Op.SEM_TAKE]


def test_a_refusal_by_the_binding_is_published_without_data(host: Host) -> None:
    seq = host.submit(0, Op.BIND, [7, 80])
    host.serve(0, lambda *a: (Status.BAD_SOCKET, 0, b"ignored"))
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (seq, Status.BAD_SOCKET, 0, b"")


def test_sequence_numbers_wrap_at_2_32(host: Host) -> None:
    host.put_u32(0, "resp_seq", 0xFFFFFFFF)
    host.put_u32(0, "req_seq", 0xFFFFFFFF)
    assert not host.serve(0, echo)
    assert host.submit(0, Op.NOP, [1]) == 0
    assert host.serve(0, echo)
    assert host.response(0).resp_seq == 0 and host.response(0).result == 2
    assert host.submit(0, Op.NOP, [2]) == 1
    assert host.serve(0, echo)
    assert host.response(0).resp_seq == 1 and host.response(0).result == 3


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()   # never leave a worker blocked, whatever the test did


def test_a_blocking_call_in_one_slot_leaves_the_others_free(host: Host, release: threading.Event) -> None:
    """PROTOCOL.md's example: a pending recv in slot 0 while slot 1 calls issocketconnected."""
    started = threading.Event()

    def blocking_recv(op: int, args: tuple[int, ...], data: bytes) -> tuple[int, int, bytes]:
        started.set()
        assert release.wait(10), "never released"
        return Status.OK, 4, b"late"

    recv_seq = host.submit(0, Op.RECV, [1, 100, 0])
    worker = threading.Thread(target=host.serve, args=(0, blocking_recv))
    worker.start()
    try:
        assert started.wait(10)
        for expected in (1, 0, 1):
            seq = host.submit(1, Op.ISCONNECTED, [1])
            assert host.serve(1, lambda *a, e=expected: (Status.OK, e, b""))
            assert host.response(1).resp_seq == seq and host.response(1).result == expected
        assert host.u32(0, "resp_seq") == recv_seq - 1       # slot 0 still pending
    finally:
        release.set()
        worker.join(10)
    assert not worker.is_alive()
    r = host.response(0)
    assert (r.resp_seq, r.status, r.result, r.data) == (recv_seq, Status.OK, 4, b"late")


def test_binding_errors_surface_in_python(host: Host) -> None:
    host.submit(0, Op.RECV, [1, 10, 0])
    with pytest.raises(ValueError, match="1025 bytes out"):
        host.serve(0, lambda *a: (Status.OK, 1025, bytes(DATA_SIZE + 1)))
    # The C side still answered (no slot stuck busy), as a refusal.
    assert host.response(0).status == Status.BAD_ARG
    host.submit(0, Op.NOP)
    with pytest.raises(ZeroDivisionError):
        host.serve(0, lambda *a: (1 // 0, 0, b""))


def test_buffer_checks(lib: HostMailboxLibrary, host: Host) -> None:
    with pytest.raises(ValueError, match="slot 4 out of range"):
        host.serve(SLOTS, echo)
    assert lib.lib.tch_slot_service(ctypes.addressof(host.sram) + BASE, SLOTS, None) == 0
    with pytest.raises(ValueError, match="does not fit"):
        lib.init(bytearray(MAILBOX_SIZE), 4)
    with pytest.raises(ValueError, match="not 4-byte aligned"):
        lib.init((ctypes.c_uint8 * (MAILBOX_SIZE + 8))(), 2)
