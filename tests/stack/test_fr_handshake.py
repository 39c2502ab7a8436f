"""FR-HS-1..4: SYN and SYN|ACK format, no SYN|ACK timer, unchecked ack numbers, the checksum defect."""

from __future__ import annotations

import pytest
from frkit import bits_raised, client, rel_ack, rel_seq, state_changes, syns, with_fault
from peer import LINUX_SYN_OPTIONS, Peer, Sent, listening_stack
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from wirekit import checksums_ok

from stack_under_test import StackConfig
from stack_under_test.constants import Errno, TcpState

FREERTOS_SYN_OPTIONS = [("MSS", 1460), ("NOP", None), ("WScale", 0), ("NOP", None), ("NOP", None),
                        ("SAckOK", b"")]
NO_OPTIONS: list = []
MSS_ONLY = [("MSS", 1460)]


def syn_to(peer: Peer, options: list) -> Sent:
    """A fresh SYN from the peer (seq = its ISN); returns the stack's single reply."""
    peer.seq = peer.isn
    peer.send("S", options=options)
    sent = peer.take()
    assert len(sent) == 1, sent
    return sent[0]


# -- FR-HS-1 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [LINUX_SYN_OPTIONS, NO_OPTIONS, MSS_ONLY],
                         ids=["linux", "none", "mss-only"])
def test_FR_HS_1_synack_options_window_whatever_the_syn_offered(options: list) -> None:
    st, _ = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, options)
    assert str(sa.tcp.flags) == "SA"
    assert sa.tcp.options == FREERTOS_SYN_OPTIONS
    assert sa.tcp.dataofs == 8                       # 12 option bytes, no timestamps
    assert sa.tcp.window == 2920
    assert sa.tcp.ack == peer.isn + 1
    assert sa.payload == b""


def test_FR_HS_1_client_syn_has_the_same_options_and_every_retry_the_same_isn() -> None:
    st, peer, h, call = client()
    peer.run(15.0)
    sent = syns(peer.take())
    assert len(sent) == 3
    for s in sent:
        assert s.tcp.options == FREERTOS_SYN_OPTIONS
        assert s.tcp.dataofs == 8
        assert s.tcp.window == 2920
        assert s.tcp.ack == 0
    assert len({s.tcp.seq for s in sent}) == 1


def test_FR_HS_1_isn_comes_from_the_seeded_hook() -> None:
    def isn(seed: int) -> int:
        st, _ = listening_stack(StackConfig(isn_seed=seed))
        return syn_to(Peer(st), LINUX_SYN_OPTIONS).tcp.seq

    assert isn(1) == isn(1)
    assert isn(1) != isn(2)


def test_FR_HS_1_synack_resent_with_the_same_isn() -> None:
    st, _ = listening_stack()
    peer = Peer(st)
    first = syn_to(peer, LINUX_SYN_OPTIONS)
    peer.run(1.0)
    again = syn_to(peer, LINUX_SYN_OPTIONS)
    assert (str(again.tcp.flags), again.tcp.seq, again.tcp.options) == ("SA", first.tcp.seq,
                                                                         FREERTOS_SYN_OPTIONS)


def test_FR_HS_2_a_syn_with_another_seq_draws_a_synack_for_it() -> None:
    """Measured on the real V4.4.1 (the state x segment matrix): eSYN_FIRST takes the new SYN's
    seq, so the SYN|ACK sent again acknowledges that SYN, with the same ISN of ours."""
    st, _ = listening_stack()
    peer = Peer(st)
    first = syn_to(peer, LINUX_SYN_OPTIONS)
    peer.send("S", seq=peer.isn + 10_000_000, options=LINUX_SYN_OPTIONS)
    (again,) = peer.take()
    assert (str(again.tcp.flags), again.tcp.seq, again.tcp.ack) == ("SA", first.tcp.seq,
                                                                      peer.isn + 10_000_001)


# -- FR-HS-2 ---------------------------------------------------------------------------------------

def test_FR_HS_2_synack_never_retransmitted_by_timer() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, LINUX_SYN_OPTIONS)
    assert sa.time == 0.0
    peer.run(34.0)
    assert peer.take() == []
    # Only a retransmitted SYN makes it resend.
    resent = syn_to(peer, LINUX_SYN_OPTIONS)
    assert (resent.time, str(resent.tcp.flags), resent.tcp.seq) == (34.0, "SA", sa.tcp.seq)


def test_FR_HS_2_late_ack_at_35s_still_completes() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, LINUX_SYN_OPTIONS)
    accept = st.accept(listener)
    peer.run(35.0)
    peer.send("A", seq=peer.isn + 1, ack=sa.tcp.seq + 1)
    assert accept.done and accept.finished == 35.0
    assert st.connstatus(accept.result) == TcpState.ESTABLISHED


def test_FR_HS_2_half_open_child_removed_by_hang_protection() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, LINUX_SYN_OPTIONS)
    st.pop_events()
    peer.run(45.0)
    assert peer.take() == []                         # removed silently
    events = st.pop_events()
    ends = [(e.time, e.detail) for e in events if e.kind == "state"]
    assert ends == [(40.0, (4, 8))]
    peer.send("A", seq=peer.isn + 1, ack=sa.tcp.seq + 1)
    late = peer.take()
    assert [(str(s.tcp.flags), s.tcp.seq, s.tcp.ack) for s in late] == [("RA", sa.tcp.seq + 1, peer.isn + 1)]


# -- FR-HS-3 ---------------------------------------------------------------------------------------

def test_FR_HS_3_client_accepts_synack_with_any_ack_number() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    peer.accept_syn(syn, ack=syn.tcp.seq + 5000)
    assert call.done and call.result == 0
    assert st.connstatus(h) == TcpState.ESTABLISHED


def test_FR_HS_3_server_accepts_handshake_ack_with_any_ack_number() -> None:
    st, listener = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, LINUX_SYN_OPTIONS)
    accept = st.accept(listener)
    peer.send("A", seq=peer.isn + 1, ack=sa.tcp.seq + 99_999)
    assert accept.done and st.connstatus(accept.result) == TcpState.ESTABLISHED


def test_FR_HS_3_crossing_syn_aborts_with_syn_rst() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    peer.dut_port = syn.tcp.sport
    peer.run(1.0)
    st.pop_events()
    peer.send("S", seq=20000, options=MSS_ONLY)      # simultaneous open
    reply = peer.take()
    assert [(str(s.tcp.flags), s.tcp.seq, s.tcp.ack) for s in reply] == [("SR", 0, 20000)]
    assert call.done and call.result == -Errno.ENOTCONN and call.finished == 1.0
    assert st.connstatus(h) == TcpState.CLOSE_WAIT
    assert state_changes(st.pop_events(), h) == [(1.0, 2, 8)]


@pytest.mark.parametrize(("flags", "reply"), [("S", "SR"), ("A", "RA"), ("SAF", "SRA")],
                         ids=["crossing-syn", "bare-ack", "synack-fin"])
def test_FR_HS_3_prvHandleSynReceived_rst_in_connect_syn_has_the_sockets_window(flags: str,
                                                                                reply: str) -> None:
    # The reply is the received header with RST added, but it leaves through prvSendData ->
    # prvTCPReturnPacket(pxSocket, ...), whose prvTCPReturn_CheckTCPWindow writes the socket's
    # window (min(xSize.ulRxWindowLength, uxRxStreamSize)): 2920 as on the wire, not the
    # segment's 64240 and not 0. With WIN_PROPERTIES it follows the socket's receive window.
    for opts, window in (({}, 2920), ({"win_properties": {"tx_buf": 5840, "tx_win": 2, "rx_buf": 5840,
                                                           "rx_win": 1}}, 1460)):
        st, peer, h, call = client(**opts)
        syn = syns(peer.take())[0]
        assert syn.tcp.window == window                  # the SYN's window comes from the same place
        peer.dut_port = syn.tcp.sport
        ack = (syn.tcp.seq + 1) % 2**32
        peer.send(flags, seq=20000, ack=ack if "A" in flags else 12345, options=MSS_ONLY, window=64240)
        sent = peer.take()
        assert [(str(s.tcp.flags), s.tcp.window) for s in sent] == [(reply, window)]
        assert st.connstatus(h) == TcpState.CLOSE_WAIT


def test_FR_HS_3_synack_fin_aborts_with_rst() -> None:
    st, peer, h, call = client()
    syn = syns(peer.take())[0]
    peer.dut_port = syn.tcp.sport
    peer.seq = peer.isn
    peer.send("SAF", ack=syn.tcp.seq + 1, options=MSS_ONLY)
    reply = peer.take()
    assert len(reply) == 1
    flags = str(reply[0].tcp.flags)
    assert "R" in flags and "S" in flags and "A" in flags
    assert (reply[0].tcp.seq, reply[0].tcp.ack) == (syn.tcp.seq + 1, peer.isn)
    assert call.done and call.result == -Errno.ENOTCONN
    assert st.connstatus(h) == TcpState.CLOSE_WAIT


def check_FR_HS_3_ack_fin_as_third_packet(config: StackConfig) -> None:
    st, listener = listening_stack(config)
    peer = Peer(st)
    sa = syn_to(peer, LINUX_SYN_OPTIONS)
    st.pop_events()
    peer.send("FA", seq=peer.isn + 1, ack=sa.tcp.seq + 1)
    reply = peer.take()
    assert [(str(s.tcp.flags), s.tcp.seq, s.tcp.ack) for s in reply] == [
        ("RA", sa.tcp.seq + 1, peer.isn + 1)]
    events = st.pop_events()
    assert [e.detail for e in events if e.kind == "state"] == [(4, 8)]
    assert bits_raised(events, listener) & 0x04 == 0          # no ACCEPT
    # The child is gone: the next ACK meets the listener.
    peer.send("A", seq=peer.isn + 1, ack=sa.tcp.seq + 1)
    assert [str(s.tcp.flags) for s in peer.take()] == ["RA"]


def test_FR_HS_3_ack_fin_as_third_packet_aborts_the_child() -> None:
    """The reply keeps the segment's flags plus RST, but not its FIN."""
    check_FR_HS_3_ack_fin_as_third_packet(StackConfig())


def test_fault_handshake_rst_keeps_fin_breaks_FR_HS_3() -> None:
    with pytest.raises(AssertionError):
        check_FR_HS_3_ack_fin_as_third_packet(with_fault("handshake_rst_keeps_fin"))


# -- FR-HS-4 ---------------------------------------------------------------------------------------

def padded_syn_reply(config: StackConfig, options: list, pad_to: int | None) -> Sent:
    st, _ = listening_stack(config)
    peer = Peer(st)
    frame = bytes(Ether(src=peer.mac, dst="02:74:63:68:00:02") / IP(src=peer.ip, dst="198.18.0.2")
                  / TCP(sport=peer.port, dport=7000, flags="S", seq=peer.isn, window=64240,
                        options=options))
    if pad_to is not None:
        frame = frame.ljust(pad_to, b"\x00")
    st.receive(frame, 0.0)
    peer.run(0.0)
    sent = peer.take()
    assert len(sent) == 1 and str(sent[0].tcp.flags) == "SA"
    return sent[0]


CASES = [(NO_OPTIONS, None, 54), (NO_OPTIONS, 60, 60), (MSS_ONLY, None, 58), (LINUX_SYN_OPTIONS, None, 74)]


@pytest.mark.parametrize(("options", "pad", "length"), CASES, ids=["bare-54", "bare-padded-60", "mss-58",
                                                                   "linux-74"])
def test_FR_HS_4_short_syn_gets_synack_with_bad_checksum(options: list, pad: int | None,
                                                        length: int) -> None:
    sa = padded_syn_reply(StackConfig(), options, pad)
    assert len(bytes(sa.pkt)) == 66
    assert checksums_ok(bytes(sa.pkt)) is (length >= 66)


@pytest.mark.parametrize(("options", "pad", "length"), CASES, ids=["bare-54", "bare-padded-60", "mss-58",
                                                                   "linux-74"])
def test_FR_HS_4_fixed_by_upstream_defects_false(options: list, pad: int | None, length: int) -> None:
    sa = padded_syn_reply(StackConfig(upstream_defects=False), options, pad)
    assert checksums_ok(bytes(sa.pkt))


def test_FR_HS_4_later_replies_that_fit_their_frame_are_unaffected() -> None:
    # The defect hits a reply longer than the frame it is built in (test_fr_checksum_length.py);
    # 54-byte ACKs to 54- and 59-byte frames always fit.
    # (wirekit.checksums_ok, not peer.checksum_ok: the latter counts Ethernet padding into the TCP
    # checksum, so it fails every 60-byte padded frame, e.g. a bare ACK.)
    st, listener = listening_stack()
    peer = Peer(st)
    sa = syn_to(peer, NO_OPTIONS)
    assert not checksums_ok(bytes(sa.pkt))
    accept = st.accept(listener)
    peer.dut_isn = sa.tcp.seq
    peer.seq, peer.rcv_nxt = peer.isn + 1, sa.tcp.seq + 1
    peer.send("A")
    peer.send("PA", payload=b"hello")
    acks = peer.take()
    assert [(rel_seq(peer, s), rel_ack(peer, s)) for s in acks] == [(1, 6)]
    assert all(checksums_ok(bytes(s.pkt)) for s in acks)
    assert accept.done
