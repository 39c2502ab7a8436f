"""Deliberate deviations from FreeRTOS+TCP V4.4.1, for proving the suite catches bugs.

Each switch is a plausible firmware bug. All are off by default and can only be
set in code (never from a case file or target config), so a conformance run can
not silently use a broken stack. ``FAULT_SEMANTICS`` names the semantic IDs each
switch breaks; the harness's mutation tests assert that a case citing one of
those IDs fails when the switch is on.
"""

from dataclasses import dataclass, fields


@dataclass
class Faults:
    close_sends_rst: bool = False
    """closesocket() on a connected socket sends RST|ACK instead of nothing."""
    recv_zero_after_close: bool = False
    """recv() returns 0 instead of -ENOTCONN once the connection has ended."""
    keepalive_five_probes: bool = False
    """keep-alive gives up after the 5th unanswered probe instead of the 4th."""
    rst_in_window_closes: bool = False
    """a RST inside the window but not at RCV.NXT closes instead of drawing a challenge ACK."""
    fin_waits_for_close: bool = False
    """the peer's FIN is ACKed but our FIN waits until the application closes or shuts down."""
    syn_in_established_resets: bool = False
    """a SYN on an established 4-tuple resets the old connection (RST) instead of being dropped."""
    reuse_accept_new_socket: bool = False
    """with REUSE_LISTEN_SOCKET, accept() returns a new socket and the listener keeps listening."""
    semaphore_not_given_on_close: bool = False
    """the user semaphore / wake callback is not signalled when a connection ends."""
    keepalive_probe_seq_nxt: bool = False
    """keep-alive probes carry seq = SND.NXT instead of SND.NXT-1."""
    reset_seq_zero: bool = False
    """RSTs for unknown segments carry seq 0 instead of the segment's ack field."""
    shutdown_sends_rst: bool = False
    """shutdown() aborts with RST|ACK instead of a FIN."""
    issocketconnected_in_last_ack: bool = False
    """FreeRTOS_issocketconnected() still says 1 in LAST_ACK."""
    keepalive_not_reset_by_data: bool = False
    """incoming segments do not reset the keep-alive probe count and idle time."""
    reuse_admits_second_client: bool = False
    """with REUSE_LISTEN_SOCKET, a SYN from another client while connected gets a SYN|ACK of its own."""
    challenge_ack_wrong_seq: bool = False
    """the challenge ACK acknowledges the RST's sequence number instead of RCV.NXT."""
    listener_reports_connected: bool = False
    """without reuse, issocketconnected() on the listening socket says 1 once a child is connected."""
    shutdown_never_sends_fin: bool = False
    """shutdown() returns 0 but the FIN never leaves."""
    challenge_ack_after_isn: bool = False
    """in SYN_RECEIVED the challenge ACK carries seq = ISN+1, as if the SYN|ACK were acknowledged."""
    handshake_rst_keeps_fin: bool = False
    """the RST that answers bad flags while connecting keeps the segment's FIN (RST|FIN|ACK)."""

    def enabled(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


FAULT_SEMANTICS: dict[str, tuple[str, ...]] = {
    "close_sends_rst": ("FR-CLOSE-1", "FS-1"),
    "recv_zero_after_close": ("FR-RECV-2", "FS-3", "FS-8"),
    "keepalive_five_probes": ("FR-KA-4", "FS-5"),
    "rst_in_window_closes": ("FR-RST-2", "RFC-RST-VALID"),
    "fin_waits_for_close": ("FR-FIN-1", "FS-8", "FS-11"),
    "syn_in_established_resets": ("FR-SYN-1", "FS-4"),
    "reuse_accept_new_socket": ("FR-REUSE-1", "FS-6"),
    "semaphore_not_given_on_close": ("FR-EV-2", "FS-10"),
    "keepalive_probe_seq_nxt": ("FR-KA-2", "RFC-KA"),
    "reset_seq_zero": ("FR-RST-1",),
    "shutdown_sends_rst": ("FR-SHUT-2", "FS-2"),
    "issocketconnected_in_last_ack": ("FR-CONN-1", "FS-9"),
    "keepalive_not_reset_by_data": ("FR-KA-5", "FS-5"),
    "reuse_admits_second_client": ("FR-REUSE-2", "FS-6"),
    "challenge_ack_wrong_seq": ("FR-RST-2", "RFC-RST-VALID"),
    "listener_reports_connected": ("FR-ACCEPT-1", "FS-7"),
    "shutdown_never_sends_fin": ("FR-SHUT-2", "FS-2"),
    "challenge_ack_after_isn": ("FR-RST-2",),
    "handshake_rst_keeps_fin": ("FR-HS-3",),
}
