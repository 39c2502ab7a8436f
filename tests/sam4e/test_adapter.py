"""Sam4eBoard against the emulated SAM4E through real pyOCD (locally and through pyOCD's remote
probe server): open, the one-line errors, flash + GPNVM1 + reset, mailbox round trips, and the
mailbox faults PROTOCOL.md's host rules exist for — a call that times out must never have its
late answer taken for a later call."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from targets.sam4e.adapter import BoardError, Sam4eBoard
from targets.sam4e.driver import MailboxError, MailboxTimeout
from targets.sam4e.emulation.constants import CHIPID_CIDR, PERIPH_BASE
from targets.sam4e.emulation.elf import build_elf
from targets.sam4e.mailbox import HEADER, LAYOUT_VERSION, SLOT, SLOTS, Op, Status, slot_offset
from targets.sam4e.rtt import RttStream
from tests.conftest import require
from tests.sam4e.test_adapter_rig import Rig, make_rig, probe_for, wait_for


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require(shutil.which("gcc"), "needs gcc (the firmware's mailbox code runs host-compiled): apt-get "
                                 "install gcc")
    with make_rig(tmp_path) as r:
        yield r


@pytest.fixture
def booted(rig: Rig) -> Iterator[Sam4eBoard]:
    board = Sam4eBoard(rig.config()).open()
    try:
        board.flash()
        board.ensure_boot_from_flash()
        board.reset()
        yield board
    finally:
        board.close()


@pytest.mark.parametrize("transport", ["emu", "remote"])
def test_open_flash_boot_and_nop_round_trips(rig: Rig, transport: str) -> None:
    with probe_for(rig, transport) as uid, Sam4eBoard(rig.config(uid)) as board:
        board.flash()
        assert bytes(rig.board.flash[:len(rig.image.text)]) == rig.image.text
        assert rig.board.gpnvm & 0b10 == 0
        assert board.ensure_boot_from_flash() is True
        assert rig.board.gpnvm & 0b11 == 0b10            # GPNVM1 set, the security bit untouched
        assert board.ensure_boot_from_flash() is False

        head = board.reset()
        assert head is not None and rig.board.booted_from == "flash"
        assert board.boot_id == rig.firmware.boot_ids[-1]
        for _ in range(20):
            response = board.call(Op.NOP, timeout=1.0)
            assert (response.status, response.result) == (Status.OK, 0)
        echo = board.call(Op.SEND, [1, 0], b"x" * 1024, timeout=1.0)
        assert echo.data == b"x" * 1024 and echo.result == 1024
        if transport == "emu":
            # The bench figure: one NOP = request writes + req_seq + resp_seq polls + response read.
            board.call(Op.NOP, timeout=1.0)
            assert board.last_call_transactions is not None and 0 < board.last_call_transactions < 60
        else:
            assert board.remote   # pyOCD's remote client has no nRESET: the reset was SYSRESETREQ
        wait_for(lambda: any(text == "boot 1" for _, text in board.log_lines()))

        board.reset()                                   # a second boot: a new boot_id, log continues
        assert rig.board.boot_count == 2 and board.boot_id == rig.firmware.boot_ids[-1]
        wait_for(lambda: any(text == "boot 2" for _, text in board.log_lines()))
        assert board.call(Op.NOP).status == Status.OK


def test_smart_flash_leaves_an_unchanged_image_alone(rig: Rig) -> None:
    with Sam4eBoard(rig.config()) as board:
        board.flash()
        programmed = rig.board.flash_stats.pages_programmed
        board.flash()
        assert rig.board.flash_stats.pages_programmed == programmed


# ---- one-line errors --------------------------------------------------------------------------

def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


def test_missing_probe(rig: Rig) -> None:
    with pytest.raises(BoardError) as err:
        Sam4eBoard(rig.config("emu:no-such-board")).open()
    assert _one_line(err.value) == ("no debug probe with id emu:no-such-board found: connect the "
                                    "board's EDBG USB "
                                    "port or fix probe: in test board config")


def test_missing_pack_and_elf(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(BoardError) as err:
        Sam4eBoard(rig.config(pack=tmp_path / "nope.pack")).open()
    assert "CMSIS pack" in _one_line(err.value) and "nope.pack not found" in str(err.value)
    with pytest.raises(BoardError) as err:
        Sam4eBoard(rig.config(elf=tmp_path / "nope.elf")).open()
    assert "firmware ELF" in _one_line(err.value) and "set elf: in test board config" in str(err.value)


def test_elf_without_the_agent_symbols(rig: Rig, tmp_path: Path) -> None:
    bare = tmp_path / "bare.elf"
    bare.write_bytes(build_elf([], []))
    with pytest.raises(BoardError) as err:
        Sam4eBoard(rig.config(elf=bare)).open()
    assert "has no symbol tch_mailbox" in _one_line(err.value)


def test_wrong_chip_is_refused_before_anything_is_written(rig: Rig) -> None:
    rig.board.peripherals.on_read[CHIPID_CIDR - PERIPH_BASE] = lambda: 0x29A70EE1   # a SAM3X8E
    with pytest.raises(BoardError) as err:
        Sam4eBoard(rig.config()).open()
    assert _one_line(err.value).startswith(f"wrong chip behind probe {rig.emu_id}: CHIPID_CIDR 0x29a70ee1, "
                                           "expected ATSAM4E16E 0xa3cc0ce0")
    assert rig.board.flash_stats.pages_programmed == 0 and rig.board.gpnvm == 0


def test_firmware_without_the_agent_times_out_with_a_hint(tmp_path: Path) -> None:
    with make_rig(tmp_path, agent=False) as rig, Sam4eBoard(rig.config(boot_timeout=0.3)) as board:
        board.flash()
        board.ensure_boot_from_flash()
        with pytest.raises(BoardError) as err:
            board.reset()
        assert "did not come up within 0.3 s of reset" in _one_line(err.value)


@pytest.mark.parametrize(("offset", "value", "field"), [
    (HEADER["magic"], 0xDEADBEEF, "magic 0xdeadbeef, expected 0x31484354"),
    (HEADER["layout_version"], 1 | (SLOTS << 16), "layout_version 1, expected 2"),   # a v1 firmware
    (HEADER["slot_count"] - 2, LAYOUT_VERSION | (3 << 16), "slot_count 3, expected 4"),
    (HEADER["data_size"], 512, "data_size 512, expected 1024"),
])
def test_header_mismatch(rig: Rig, booted: Sam4eBoard, offset: int, value: int, field: str) -> None:
    rig.board.write32(rig.image.symbols["tch_mailbox"] + offset, value)
    with pytest.raises(MailboxError) as err:
        booted.attach()
    assert field in _one_line(err.value)


# ---- the mailbox's fault rules ----------------------------------------------------------------

@pytest.mark.parametrize("transport", ["emu", "remote"])
def test_a_timed_out_call_is_never_answered_to_a_later_one(rig: Rig, transport: str) -> None:
    """The race of the research notes: a call times out while the core is halted; its request is
    still in the slot, and the firmware answers it once running again. The next calls must get
    their own answers, the late one must be dropped, and the stale slot is not rewritten."""
    with probe_for(rig, transport) as uid, Sam4eBoard(rig.config(uid)) as board:
        board.flash()
        board.ensure_boot_from_flash()
        board.reset()
        target, mailbox = board.target, board.mailbox
        assert mailbox is not None
        with board.lock:
            target.halt()
        with pytest.raises(MailboxTimeout):
            board.call(Op.SEND, [1, 0], b"old", timeout=0.2)
        assert mailbox.stale_slots() == [0]
        with pytest.raises(MailboxError, match="never rewritten"):
            mailbox.submit(Op.SEND, [1, 0], b"new", slot=0)

        rig.firmware.held.add(0)            # running again, but slot 0 answers only later
        with board.lock:
            target.resume()
        assert rig.board.firmware_running
        first = board.call(Op.SEND, [1, 0], b"new-1", timeout=1.0)
        assert first.data == b"new-1"
        rig.firmware.held.discard(0)        # now the late answer comes, amid further calls
        for i in range(30):
            payload = f"call-{i}".encode()
            assert board.call(Op.SEND, [1, 0], payload, timeout=1.0).data == payload
        wait_for(lambda: any(s == 0 and d == b"old" for s, _, d in rig.firmware.served))
        board.call(Op.NOP)                   # reclaims slot 0 once its answer is in
        assert mailbox.stale_slots() == []
        assert [r.data for r in mailbox.discarded] == [b"old"]


def test_slots_that_never_answer_resynchronise_by_reset(rig: Rig, booted: Sam4eBoard) -> None:
    rig.firmware.held.update(range(SLOTS))
    for i in range(SLOTS):
        with pytest.raises(MailboxTimeout):
            booted.call(Op.SEND, [1, 0], f"lost-{i}".encode(), timeout=0.1)
    assert booted.mailbox is not None and booted.mailbox.stale_slots() == list(range(SLOTS))
    boots = rig.board.boot_count
    with pytest.raises(BoardError) as err:
        booted.call(Op.NOP, timeout=0.2)
    assert "resynchronised by resetting the board" in _one_line(err.value)
    assert rig.board.boot_count == boots + 1 and booted.resyncs == 1
    assert any("resynchronised" in text for _, text in booted.notes)
    assert booted.call(Op.SEND, [1, 0], b"fresh").data == b"fresh"


def test_a_foreign_resp_seq_is_a_protocol_error(rig: Rig, booted: Sam4eBoard) -> None:
    rig.firmware.held.add(0)
    mailbox = booted.mailbox
    assert mailbox is not None
    pending = booted.submit(Op.NOP)
    assert pending.slot == 0
    rig.board.write32(rig.image.symbols["tch_mailbox"] + slot_offset(0) + SLOT["resp_seq"], pending.seq + 5)
    with pytest.raises(MailboxError, match="resp_seq .* expected .* someone else"):
        mailbox.poll(pending)


def test_a_pending_slot_found_at_attach_is_stale(rig: Rig, booted: Sam4eBoard) -> None:
    """A board that kept running after another harness detached mid-call: its slot is not ours."""
    rig.firmware.held.add(0)
    booted.submit(Op.SEND, [1, 0], b"previous harness")
    booted.attach()
    assert booted.mailbox is not None and booted.mailbox.stale_slots() == [0]
    assert booted.call(Op.SEND, [1, 0], b"mine").data == b"mine"


# ---- RTT ----------------------------------------------------------------------------------------

def test_rtt_lines_stream_past_the_buffer_wrapping(rig: Rig, booted: Sam4eBoard) -> None:
    """3x the 1 KiB up buffer, written as fast as the ring lets the firmware (it never blocks:
    a message that does not fit is retried here, as a patient logger would)."""
    lines = [f"line {i:04d} " + "x" * (i % 37) for i in range(150)]
    for text in lines:
        while not rig.firmware.log(text):
            pass
    wait_for(lambda: [t for _, t in booted.log_lines()][-1:] == [lines[-1]], timeout=5)
    got = [t for _, t in booted.log_lines() if t.startswith("line ")]
    assert got == lines
    assert booted.rtt is not None and booted.rtt.bytes_read > 3 * 1024
    stamps = [t for t, _ in booted.log_lines()]
    assert stamps == sorted(stamps)


def test_rtt_waits_for_the_control_block_id(rig: Rig, booted: Sam4eBoard) -> None:
    """The id is written last; until the firmware wrote it the reader retries instead of failing."""
    booted._stop_rtt()
    rtt_at = rig.image.symbols["_SEGGER_RTT"]
    rig.board.write_memory(rtt_at, bytes(16))          # as after reset, before SEGGER_RTT_Init
    stream = RttStream(booted.target, rtt_at, booted.lock, poll=0.005).start()
    try:
        assert not stream.wait_attached(0.1)
        assert rig.firmware.rtt is not None
        rig.firmware.rtt.init()
        rig.firmware.log("late hello")
        assert stream.wait_attached(2.0)
        wait_for(lambda: [t for _, t in stream.lines] == ["late hello"])
    finally:
        stream.stop()
