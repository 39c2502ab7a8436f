"""The checksum of a reply built in a received frame's buffer (FR-HS-4, FR-OOO-1).

prvTCPReturnPacket_IPV4 (FreeRTOS_TCP_Transmission_IPv4.c 217) calls usGenerateProtocolChecksum
with the buffer's xDataLength before it sets xDataLength to the reply's length (224). When the
reply (IP total length + 14) is longer than that, prvChecksumIPv4Checks gives up ("location 6")
and the checksum field keeps what the buffer held: the received segment's checksum. xDataLength
is the frame as received, Ethernet padding included, less any IP options prvCheckIP4HeaderOptions
cut out. Data replies are unaffected (prvTCPBufferResize), and so is anything sent from a timer
(the socket's 70-byte ucLastPacket).
"""

from __future__ import annotations

from frkit import est, push
from peer import DUT_IP, DUT_MAC, LINUX_SYN_OPTIONS, Peer, listening_stack
from scapy.layers.inet import IP, TCP, IPOption_NOP
from scapy.layers.l2 import Ether
from wirekit import checksums_ok

from stack_under_test import StackConfig

MSS_ONLY = [("MSS", 1460)]


def frame_from(peer: Peer, flags: str, *, seq: int, payload: bytes = b"", options: list | None = None,
               pad_to: int | None = None, ip_option_words: int = 0, ack: int | None = None) -> bytes:
    """A frame from the peer, optionally Ethernet-padded and with NOP IP options (4 bytes a word)."""
    ip = IP(src=peer.ip, dst=DUT_IP, options=[IPOption_NOP()] * (4 * ip_option_words))
    tcp = TCP(sport=peer.port, dport=peer.dut_port, flags=flags, seq=seq % 2**32,
              ack=(peer.rcv_nxt if ack is None else ack) % 2**32 if "A" in flags else 0,
              window=peer.window, options=options or [])
    raw = bytes(Ether(src=peer.mac, dst=DUT_MAC) / ip / tcp / payload)
    return raw if pad_to is None else raw.ljust(pad_to, b"\x00")


def sack_reply(config: StackConfig | None, payload_len: int, pad_to: int | None = None,
               ip_option_words: int = 0) -> tuple[bytes, bytes]:
    """(the out-of-order frame, the stack's reply to it) on a fresh connection."""
    st, peer, _ = est(config)
    frame = frame_from(peer, "PA", seq=peer.seq + 100, payload=b"x" * payload_len, pad_to=pad_to,
                       ip_option_words=ip_option_words)
    st.receive(frame, st.now)
    [reply] = peer.take()
    assert [o[0] for o in reply.tcp.options] == ["NOP", "NOP", "SAck"]
    return frame, bytes(reply.pkt)


def test_FR_OOO_1_sack_ack_checksum_written_only_if_the_frame_holds_the_66_byte_reply() -> None:
    # (payload bytes, Ethernet padding to, IP option words): frame length, xDataLength, checksum ok
    table = [
        ((10, None, 0), 64, False),     # the wire run: 64-byte frame, 66-byte SACK ACK
        ((11, None, 0), 65, False),
        ((12, None, 0), 66, True),
        ((10, 66, 0), 66, True),        # padding counts: it is part of xDataLength
        ((10, None, 1), 64, False),     # a 68-byte frame, but its 4 IP option bytes are cut out
        ((12, None, 1), 66, True),
    ]
    seen, fixed = [], []
    for (payload, pad, words), xdatalength, _ in table:
        frame, reply = sack_reply(None, payload, pad, words)
        assert len(reply) == 66 and len(frame) - 4 * words == xdatalength
        seen.append(checksums_ok(reply))
        fixed.append(checksums_ok(sack_reply(StackConfig(upstream_defects=False), payload, pad, words)[1]))
    assert seen == [ok for *_, ok in table]
    assert all(fixed), "upstream_defects=False models pull request 1332: every checksum written"


def test_prvTCPReturnPacket_IPV4_unwritten_checksum_is_the_received_segments() -> None:
    frame, reply = sack_reply(None, 10)
    assert Ether(reply)[TCP].chksum == Ether(frame)[TCP].chksum
    assert not checksums_ok(reply)


def test_FR_HS_4_each_synack_follows_the_syn_it_is_built_in() -> None:
    # A retransmitted SYN in SYN_RECEIVED goes back to SYN_FIRST and the SYN|ACK is built again,
    # in the new SYN's buffer: its length decides, not the first SYN's.
    for first, again, expected in ((LINUX_SYN_OPTIONS, [], [True, False]),
                                   ([], LINUX_SYN_OPTIONS, [False, True])):
        st, _ = listening_stack()
        peer = Peer(st)
        oks = []
        for options in (first, again):
            st.receive(frame_from(peer, "S", seq=peer.isn, options=options), st.now)
            [sa] = peer.take()
            assert str(sa.tcp.flags) == "SA" and len(bytes(sa.pkt)) == 66
            oks.append(checksums_ok(bytes(sa.pkt)))
        assert oks == expected


def test_FR_HS_4_prvCheckIP4HeaderOptions_ip_options_do_not_lengthen_the_buffer() -> None:
    # MSS-only SYN (58 bytes) with 8 bytes of IP options: a 66-byte frame, but xDataLength 58.
    st, _ = listening_stack()
    peer = Peer(st)
    frame = frame_from(peer, "S", seq=peer.isn, options=MSS_ONLY, ip_option_words=2)
    assert len(frame) == 66
    st.receive(frame, st.now)
    [sa] = peer.take()
    assert str(sa.tcp.flags) == "SA" and not checksums_ok(bytes(sa.pkt))


def test_prvTCPReturnPacket_IPV4_which_replies_the_length_rule_hits() -> None:
    """Within one connection: only the option-carrying reply longer than its frame is hit."""
    st, peer, h = est()
    # Out-of-order data in a short frame: the 66-byte SACK ACK is hit.
    st.receive(frame_from(peer, "PA", seq=peer.seq + 5, payload=b"world"), st.now)
    [sack] = peer.take()
    assert sack.tcp.options and not checksums_ok(bytes(sack.pkt))
    # The gap filled by a short frame: a 54-byte cumulative ACK, which always fits.
    push(peer, b"hello")
    [ack] = peer.take()
    assert not ack.tcp.options and checksums_ok(bytes(ack.pkt))
    # Data sent in reply to a 54-byte ACK: prvTCPBufferResize gave it a buffer of its own size.
    assert st.send(h, b"d" * 3000).result == 3000
    first = peer.take()
    assert [len(s.payload) for s in first] == [1460, 1460]          # the 2-MSS window is full
    peer.rcv_nxt = (first[0].tcp.seq + 1460) % 2**32
    ack_frame = frame_from(peer, "A", seq=peer.seq)
    assert len(ack_frame) == 54
    st.receive(ack_frame, st.now)
    [more] = peer.take()
    assert len(more.payload) == 80 and checksums_ok(bytes(more.pkt))
    # A SYN from a timer (connect) is built in ucLastPacket: 66 bytes, always checksummed.
    c = st.socket()
    st.connect(c, peer.ip, 9000)
    peer.run(st.now + 0.1)
    [syn] = [s for s in peer.take() if str(s.tcp.flags) == "S"]
    assert len(bytes(syn.pkt)) == 66 and checksums_ok(bytes(syn.pkt))
