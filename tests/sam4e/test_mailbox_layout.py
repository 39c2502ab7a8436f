"""The Python mirror of the SAM4E mailbox equals the C definition, and encodes/decodes as the
firmware lays things out. The layout comparison runs the host-compiled tch_layout() (needs gcc)."""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import pytest

from harness.freertos import SELECT_EVENTS, SHUTDOWN_HOW, SOCKET_OPTIONS
from targets.sam4e import mailbox
from targets.sam4e.mailbox import (
    DATA_SIZE,
    HEADER,
    LAYOUT_FIELDS,
    LAYOUT_VERSION,
    MAILBOX_SIZE,
    SLOT,
    SLOT_SIZE,
    HostMailboxLibrary,
    Op,
    Status,
    decode_response,
    encode_request,
)
from tests.conftest import require

FIRMWARE = Path(mailbox.__file__).with_name("firmware")


@pytest.fixture(scope="module")
def lib() -> HostMailboxLibrary:
    require(shutil.which("gcc"), "needs gcc: apt-get install gcc")
    return HostMailboxLibrary()


def defines(header: Path, prefix: str) -> dict[str, int]:
    """`#define PREFIXNAME value` lines of a C header, values as ints (u suffixes and parens off)."""
    pattern = rf"^#define\s+{prefix}(\w*)\s+\(?\s*(-?\d+)u?\s*\)?"
    return {name: int(value) for name, value in re.findall(pattern, header.read_text(), re.M)}


def test_python_layout_equals_the_c_compilers(lib: HostMailboxLibrary) -> None:
    c_values = lib.layout()
    assert len(c_values) == len(LAYOUT_FIELDS), "tch_layout() and LAYOUT_FIELDS list different things"
    mismatches = [f"{name}: C {c}, Python {py}" for (name, py), c in zip(LAYOUT_FIELDS, c_values, strict=True)
                  if c != py]
    assert not mismatches


def test_op_and_status_numbers_equal_the_header() -> None:
    header = FIRMWARE / "tch_mailbox.h"
    ops = defines(header, "TCH_OP_")
    assert ops.pop("COUNT") == len(Op)
    assert ops == {op.name: op.value for op in Op}
    assert defines(header, "TCH_ST_") == {st.name: st.value for st in Status}
    events = re.search(r"^#define\s+TCH_SELECT_EVENTS\s+(0x[0-9A-Fa-f]+)u", header.read_text(), re.M)
    assert events and int(events.group(1), 16) == mailbox.SELECT_EVENTS


def test_version_2_adds_select_to_the_version_1_structs() -> None:
    """PROTOCOL.md "Versions": op 15 and statuses -5/-6 are new, every byte of the layout is v1's."""
    assert LAYOUT_VERSION == 2
    assert (Op.SELECT, len(Op)) == (15, 16)
    assert (Status.UNSUPPORTED, Status.NO_MEMORY) == (-5, -6)
    assert (SLOT_SIZE, MAILBOX_SIZE, HEADER["slot"]) == (1084, 4368, 32)
    assert list(SLOT.values()) == [0, 4, 8, 32, 36, 40, 44, 48, 52, 56, 60]


def test_select_events_are_freertos_eselect_bits() -> None:
    """SELECT's events pass on as eSelectEvent_t: the stub's enum (FreeRTOS_Sockets.h V4.4.1),
    the harness's SELECT_EVENTS and the mailbox's accepted mask agree."""
    stub = (FIRMWARE / "stubs" / "FreeRTOS_Sockets.h").read_text()
    found = re.findall(r"\beSELECT_(\w+)\s*=\s*(0x[0-9A-Fa-f]+)", stub)
    enum = {name: int(value, 16) for name, value in found}
    assert enum == {"READ": 1, "WRITE": 2, "EXCEPT": 4, "INTR": 8, "ALL": 0xF, "CALL_IP": 0x10}
    assert {k: enum[k] for k in SELECT_EVENTS} == SELECT_EVENTS
    assert enum["ALL"] == mailbox.SELECT_EVENTS


SELECT_API = ("FreeRTOS_CreateSocketSet", "FreeRTOS_DeleteSocketSet", "FreeRTOS_select", "FreeRTOS_FD_SET",
              "FreeRTOS_FD_CLR", "FreeRTOS_FD_ISSET")


def prototypes(header: str, names: tuple[str, ...]) -> dict[str, str]:
    """`type name(params)` of each declared function, whitespace normalised."""
    flat = re.sub(r"\s+", " ", re.sub(r"/\*.*?\*/", " ", header, flags=re.S))
    found = {}
    for name in names:
        m = re.search(rf"(\w[\w *]*?)\s*\b{name}\s*\(([^)]*)\)\s*;", flat)
        if m:
            found[name] = re.sub(r"\s*([(),*])\s*", r"\1", f"{m.group(1)} {name}({m.group(2)})").strip()
    return found


def test_stub_select_prototypes_equal_freertos_tcp_v441() -> None:
    """The stubs declare the select API as the real header does (../shared/third_party, or
    $TCH_FREERTOS_PLUS_TCP): the cross-compile checks the agent's calls against the real types."""
    repo = FIRMWARE.parents[2]
    pinned = repo.parent / "shared" / "third_party" / "FreeRTOS-Plus-TCP"
    root = Path(os.environ.get("TCH_FREERTOS_PLUS_TCP") or pinned)
    real = root / "source" / "include" / "FreeRTOS_Sockets.h"
    if not real.is_file():
        pytest.skip(f"no FreeRTOS-Plus-TCP tree at {root} (set TCH_FREERTOS_PLUS_TCP)")
    stub = prototypes((FIRMWARE / "stubs" / "FreeRTOS_Sockets.h").read_text(), SELECT_API)
    assert set(stub) == set(SELECT_API)
    assert stub == prototypes(real.read_text(), SELECT_API)


def test_stub_headers_carry_freertos_tcp_v441_numbers() -> None:
    sockets = FIRMWARE / "stubs" / "FreeRTOS_Sockets.h"
    assert defines(sockets, "FREERTOS_SO_") == SOCKET_OPTIONS
    assert defines(sockets, "FREERTOS_SHUT_") == SHUTDOWN_HOW
    # The firmware passes flags on untouched: the mirror's flag numbers are FreeRTOS's own.
    msg = defines(sockets, "FREERTOS_MSG_")
    assert {k: msg[k] for k in mailbox.FREERTOS_MSG} == mailbox.FREERTOS_MSG
    assert defines(sockets, "FREERTOS_ZERO_COPY") == {"": 1}


def test_encode_request_writes_around_the_response_fields() -> None:
    writes = encode_request(Op.SEND, [3, 16], b"hello")
    assert writes == [
        (SLOT["data"], b"hello"),
        (SLOT["op"], struct.pack("<I6iI", Op.SEND, 3, 16, 0, 0, 0, 0, 5)),
    ]
    for offset, chunk in writes:   # never over resp_seq .. t_end, which the firmware owns
        assert offset + len(chunk) <= SLOT["resp_seq"] or offset >= SLOT["data"]
    assert encode_request(Op.NOP) == [(SLOT["op"], struct.pack("<I6iI", 0, 0, 0, 0, 0, 0, 0, 0))]
    assert encode_request(Op.CONNECT, [1, mailbox.ipv4_arg("198.18.0.1"), 80])[0][1][8:12] == \
        bytes([198, 18, 0, 1])
    # SELECT: arg0 sock, arg1 events, arg2 timeout ms (FOREVER -1), no data.
    assert encode_request(Op.SELECT, [2, 5, mailbox.FOREVER]) == [
        (SLOT["op"], struct.pack("<I6iI", 15, 2, 5, -1, 0, 0, 0, 0))]


@pytest.mark.parametrize("args,data", [([0] * 7, b""), ([], bytes(DATA_SIZE + 1))])
def test_encode_request_refuses_what_the_slot_can_not_hold(args: list[int], data: bytes) -> None:
    with pytest.raises(ValueError):
        encode_request(Op.SEND, args, data)


def test_decode_response() -> None:
    raw = bytearray(SLOT["data"] + 8)
    struct.pack_into("<IiiIII", raw, SLOT["resp_seq"], 7, 0, 3, 3, 100, 105)
    raw[SLOT["data"]:SLOT["data"] + 3] = b"abc"
    assert decode_response(bytes(raw)) == mailbox.Response(7, Status.OK, 3, b"abc", 100, 105)
    struct.pack_into("<i", raw, SLOT["status"], -99)
    assert decode_response(bytes(raw)).status == -99          # unknown status kept as a number
    struct.pack_into("<I", raw, SLOT["result_len"], 9)
    with pytest.raises(ValueError, match="result_len 9 needs"):
        decode_response(bytes(raw))
    struct.pack_into("<I", raw, SLOT["result_len"], DATA_SIZE + 1)
    with pytest.raises(ValueError, match="not a valid response"):
        decode_response(bytes(raw))
    with pytest.raises(ValueError):
        decode_response(bytes(10))
