"""The Python mirror of the SAM4E mailbox equals the C definition, and encodes/decodes as the
firmware lays things out. The layout comparison runs the host-compiled tch_layout() (needs gcc)."""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest

from harness.freertos import SHUTDOWN_HOW, SOCKET_OPTIONS
from targets.sam4e import mailbox
from targets.sam4e.mailbox import (
    DATA_SIZE,
    LAYOUT_FIELDS,
    SLOT,
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
