"""The host side of the agent mailbox (firmware/PROTOCOL.md), over any debug-port memory view.

Why it is shaped like this:
- the host owns each slot's `req_seq`: it remembers what it wrote and writes it last, after the
  request fields; it never computes the next sequence from `resp_seq` alone while a request may
  be pending (the race found in the pyOCD research: a stale request's answer taken for a new one);
- a slot is in one of three states: idle (req == resp), owned (a live call, foreground or
  background, waits for its answer) or stale (its call timed out: the slot stays reserved until
  `resp_seq` catches up, and that late answer is dropped, never handed to a later call);
- a `resp_seq` that is neither the value before the request nor the request's own is a protocol
  error (another host, a corrupted mailbox, a firmware bug), never guessed around;
- every sequence of probe accesses that must not interleave (a request's writes, a response's
  reads) runs under `lock`, which the RTT reader shares.

Memory is anything with pyOCD's target methods read32/write32/read_memory_block8/
write_memory_block8 (a pyOCD target, or a plain object in unit tests).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .mailbox import (
    DATA_SIZE,
    HEADER,
    LAYOUT_VERSION,
    MAGIC,
    SLOT,
    SLOT_SIZE,
    SLOTS,
    Response,
    decode_header,
    decode_response,
    encode_request,
    slot_offset,
)

_POLL = 0.0005   # seconds between resp_seq reads while a foreground call waits


class Memory(Protocol):
    def read32(self, addr: int) -> int: ...
    def write32(self, addr: int, value: int) -> None: ...
    def read_memory_block8(self, addr: int, size: int) -> Sequence[int]: ...
    def write_memory_block8(self, addr: int, data: Sequence[int] | bytes) -> None: ...


class MailboxError(RuntimeError):
    """A one-line description of what went wrong with the mailbox and what to do."""


class MailboxTimeout(MailboxError):
    pass


class NoFreeSlot(MailboxError):
    """Every slot is owned by a live call or stale: the caller decides whether to resynchronise."""

    def __init__(self, message: str, stale: list[int]):
        super().__init__(message)
        self.stale = stale


@dataclass
class Pending:
    """A request in a slot, waiting for `resp_seq == seq`."""

    slot: int
    seq: int
    before: int          # resp_seq when the request was written (the only other legal value)
    op: int
    submitted: float
    response: Response | None = None


class Mailbox:
    """The mailbox at `address` in `memory`; `attach()` checks the header first."""

    def __init__(self, memory: Memory, address: int, lock: threading.RLock | None = None):
        self.memory, self.address = memory, address
        self.lock = lock or threading.RLock()
        self.boot_id: int | None = None
        self._owned: dict[int, Pending] = {}
        self._stale: dict[int, Pending] = {}
        self.discarded: list[Response] = []   # late answers to timed-out calls, never returned

    # ---- header -------------------------------------------------------------------------------

    def header(self) -> dict[str, int]:
        with self.lock:
            raw = bytes(self.memory.read_memory_block8(self.address, HEADER["slot"]))
        return decode_header(raw)

    def attach(self, where: str = "") -> dict[str, int]:
        """Check the header (PROTOCOL.md host rule 1) and adopt the slots' current state.

        A slot found pending (a previous host's call still running, since the board keeps running
        when a harness detaches) is stale from the start: its answer belongs to nobody here.
        """
        head = self.header()
        at = f"tch_mailbox at {self.address:#010x}{where}"
        if head["magic"] != MAGIC:
            raise MailboxError(f"{at}: magic {head['magic']:#010x}, expected {MAGIC:#010x} ('TCH1'): the "
                               "firmware has not started the agent (tch_agent_start) or the ELF is not the "
                               "flashed firmware")
        expected = {"layout_version": LAYOUT_VERSION, "slot_count": SLOTS, "slot_size": SLOT_SIZE,
                    "data_size": DATA_SIZE}
        for field, want in expected.items():
            if head[field] != want:
                raise MailboxError(f"{at}: {field} {head[field]}, expected {want}: rebuild the firmware with "
                                   "targets/sam4e/firmware of this harness version")
        self.boot_id = head["boot_id"]
        self._owned.clear()
        self._stale.clear()
        with self.lock:
            for slot in range(SLOTS):
                req, resp = self._seqs(slot)
                if req != resp:
                    self._stale[slot] = Pending(slot, req, resp, -1, time.monotonic())
        return head

    # ---- slots --------------------------------------------------------------------------------

    def _slot_addr(self, slot: int, field: str) -> int:
        return self.address + slot_offset(slot) + SLOT[field]

    def _seqs(self, slot: int) -> tuple[int, int]:
        req = self.memory.read32(self._slot_addr(slot, "req_seq"))
        resp = self.memory.read32(self._slot_addr(slot, "resp_seq"))
        return req, resp

    def stale_slots(self) -> list[int]:
        return sorted(self._stale)

    def owned_slots(self) -> list[int]:
        return sorted(self._owned)

    def _reclaim(self) -> None:
        """Stale slots whose late answer arrived become idle; the answer is kept aside, unused."""
        for slot, pending in list(self._stale.items()):
            response = self._check(pending)
            if response is not None:
                self.discarded.append(response)
                del self._stale[slot]

    def _free_slot(self) -> int | None:
        for slot in range(SLOTS):
            if slot not in self._owned and slot not in self._stale:
                return slot
        return None

    def submit_waiting(self, op: int, args: Sequence[int] = (), data: bytes = b"", slot: int | None = None,
                       wait: float = 0.0) -> Pending:
        """submit(), waiting up to `wait` seconds while every slot is stale (an old call may still
        answer). NoFreeSlot when they stay stale, or at once when live calls hold them all."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.submit(op, args, data, slot=slot)
            except NoFreeSlot as busy:
                if not busy.stale or time.monotonic() >= deadline:
                    raise
                time.sleep(0.001)

    def submit(self, op: int, args: Sequence[int] = (), data: bytes = b"",
               slot: int | None = None) -> Pending:
        """Write a request into an idle slot (or `slot`, which the caller owns and is done with)."""
        requests = encode_request(op, args, data)   # checks sizes before anything is written
        with self.lock:
            if slot is None:
                self._reclaim()
                slot = self._free_slot()
                if slot is None:
                    stale = self.stale_slots()
                    raise NoFreeSlot(f"no free mailbox slot: {len(self._owned)} owned by pending calls, "
                                     f"stale {stale or 'none'}", stale)
            elif slot in self._stale or (slot in self._owned and self._owned[slot].response is None):
                raise MailboxError(f"slot {slot} still has a request pending: it is never rewritten")
            req, resp = self._seqs(slot)
            if req != resp:
                # The host's bookkeeping says idle but the board says pending: something else
                # wrote the slot. Reserve it rather than overwrite a running call.
                self._stale[slot] = Pending(slot, req, resp, -1, time.monotonic())
                raise MailboxError(f"slot {slot}: req_seq {req} != resp_seq {resp} though no call of this "
                                   "host is pending there: is another harness attached?")
            base = self.address + slot_offset(slot)
            for offset, chunk in requests:
                self.memory.write_memory_block8(base + offset, chunk)
            seq = (resp + 1) & 0xFFFFFFFF
            self.memory.write32(base + SLOT["req_seq"], seq)   # last: publishes the request
            pending = Pending(slot, seq, resp, int(op), time.monotonic())
            self._owned[slot] = pending
            return pending

    def _check(self, pending: Pending) -> Response | None:
        """The response if `resp_seq` reached the request's sequence; None while it has not."""
        base = self.address + slot_offset(pending.slot)
        resp = self.memory.read32(base + SLOT["resp_seq"])
        if resp == pending.before:
            return None
        if resp != pending.seq:
            raise MailboxError(f"slot {pending.slot}: resp_seq {resp}, expected {pending.before} "
                               "(pending) or "
                               f"{pending.seq} (answered): the mailbox was written by someone else; reset "
                               "the board")
        head = bytes(self.memory.read_memory_block8(base, SLOT["data"]))
        length = struct.unpack_from("<I", head, SLOT["result_len"])[0]
        if length > DATA_SIZE:
            raise MailboxError(f"slot {pending.slot}: result_len {length} > {DATA_SIZE}: corrupted response")
        data = bytes(self.memory.read_memory_block8(base + SLOT["data"], length)) if length else b""
        return decode_response(head + data)

    def poll(self, pending: Pending) -> Response | None:
        """One look at a live call's slot; the response once it came (the slot is then the caller's
        to reuse with `submit(slot=...)` or to give back with `release`)."""
        if pending.response is not None:
            return pending.response
        with self.lock:
            if self._owned.get(pending.slot) is not pending:
                raise MailboxError(f"slot {pending.slot}: this call no longer owns it (timed out or reset)")
            pending.response = self._check(pending)
        return pending.response

    def release(self, pending: Pending) -> None:
        """Give an answered call's slot back; an unanswered one's becomes stale (never reused
        until its late answer arrives)."""
        with self.lock:
            if self._owned.get(pending.slot) is pending:
                del self._owned[pending.slot]
                if pending.response is None:
                    self._stale[pending.slot] = pending

    def wait(self, pending: Pending, timeout: float) -> Response:
        deadline = time.monotonic() + timeout
        while True:
            response = self.poll(pending)
            if response is not None:
                return response
            if time.monotonic() >= deadline:
                self.release(pending)   # stale from now on
                raise MailboxTimeout(f"mailbox op {pending.op} in slot {pending.slot} got no answer within "
                                     f"{timeout:g} s (heartbeat {self.header()['heartbeat']}): the slot "
                                     "stays "
                                     "reserved until its answer arrives")
            time.sleep(_POLL)

    def forget(self) -> None:
        """After a board reset: nothing of the old boot is pending any more."""
        with self.lock:
            self._owned.clear()
            self._stale.clear()
