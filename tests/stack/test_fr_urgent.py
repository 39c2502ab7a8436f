"""Urgent data as prvCheckRxData (FreeRTOS_TCP_Reception.c 539-549) handles it.

With URG set, the data pointer moves past the urgent pointer's count of bytes and the length
drops by as much, but the sequence number stays SEG.SEQ: the rest of the segment is stored,
acknowledged and placed (FIN included) as if it began at SEG.SEQ. The urgent bytes never reach
the socket, RCV.NXT advances by the non-urgent length only, and the peer's next segment then
lands beyond RCV.NXT, as out-of-order data.
"""

from __future__ import annotations

from frkit import est, rel_ack
from peer import Peer

from stack_under_test.constants import MSG_DONTWAIT


def rel_acks(peer: Peer) -> list[tuple[str, int]]:
    peer.run(peer.stack.now + 0.1)          # past any delayed ACK
    return [(str(s.tcp.flags), rel_ack(peer, s)) for s in peer.take()]


def test_prvCheckRxData_urgent_bytes_skipped_without_advancing_the_sequence_number() -> None:
    st, peer, h = est()
    # Without URG the urgent pointer means nothing: every byte is data.
    peer.send("PA", payload=b"ab", urgptr=2)
    assert rel_acks(peer) == [("A", 3)]
    peer.seq += 2
    # URG with pointer 2: "!!" is skipped, "hello" is stored at SEG.SEQ; RCV.NXT moves by 5, not 7.
    start = peer.seq
    peer.send("PAU", payload=b"!!hello", urgptr=2)
    assert rel_acks(peer) == [("A", 8)]
    assert st.recv(h, 100, MSG_DONTWAIT).data == b"abhello"
    # The peer's next segment, at SEG.SEQ + 7, is now 2 bytes ahead: stored out of order, SACKed.
    peer.seq = start + 7
    peer.send("PA", payload=b"world")
    [sack] = peer.take()
    assert rel_ack(peer, sack) == 8
    assert [o[0] for o in sack.tcp.options] == ["NOP", "NOP", "SAck"]
    assert sack.tcp.options[2][1] == ((start + 7) % 2**32, (start + 12) % 2**32)
    assert st.recv(h, 100, MSG_DONTWAIT).result == 0


def test_prvCheckRxData_urgent_pointer_beyond_the_data_leaves_nothing() -> None:
    st, peer, h = est()
    peer.send("PAU", payload=b"abc", urgptr=10)      # min(3, 10) bytes skipped: length 0
    assert rel_acks(peer) == [], "a segment left with no data is not acknowledged"
    assert st.recv(h, 100, MSG_DONTWAIT).result == 0
    peer.send("PA", payload=b"abc")                  # RCV.NXT never moved: the same bytes are new
    assert rel_acks(peer) == [("A", 4)]
    assert st.recv(h, 100, MSG_DONTWAIT).data == b"abc"


def test_prvCheckRxData_fin_placed_after_the_shortened_data() -> None:
    # ulFINSequenceNumber = SEG.SEQ + ulReceiveLength (prvTCPHandleState): the FIN|ACK acknowledges
    # 1 + 4 + 1, not 1 + 6 + 1.
    st, peer, h = est()
    peer.send("FPAU", payload=b"xxdata", urgptr=2)
    assert rel_acks(peer) == [("FA", 6)]
    assert st.recv(h, 100, MSG_DONTWAIT).data == b"data"
