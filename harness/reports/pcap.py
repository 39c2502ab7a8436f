"""One pcap per case, every frame in both directions, with capture timestamps."""

from __future__ import annotations

from pathlib import Path

from scapy.utils import RawPcapWriter

from ..runner import CaseResult

LINKTYPE_ETHERNET = 1


def pcap_name(case_id: str) -> str:
    return case_id.replace("/", "__") + ".pcap"


def write_pcap(path: Path, result: CaseResult, epoch: float) -> None:
    """`epoch` anchors the case's first instant to wall time, so Wireshark shows real dates.

    Written to a temporary name and renamed, so a pcap in results/ is always whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        writer = RawPcapWriter(str(tmp), linktype=LINKTYPE_ETHERNET, sync=False)
        try:
            writer.write_header(None)
            for frame in result.frames:
                at = epoch + (frame.time - result.t0)
                sec = int(at)
                writer.write_packet(
                    frame.data,
                    sec=sec,
                    usec=int((at - sec) * 1e6),
                    caplen=len(frame.data),
                    wirelen=len(frame.data),
                )
        finally:
            writer.close()
        tmp.replace(path)
    except BaseException:  # Ctrl-C or SIGTERM mid-write: no half file left behind
        tmp.unlink(missing_ok=True)
        raise
