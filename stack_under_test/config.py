"""Per-instance equivalents of the ipconfig* options that change observable behaviour.

FreeRTOS+TCP fixes these at compile time; here each Stack instance gets its own,
with FreeRTOSIPConfigDefaults.h's defaults (V4.4.1), so one process can run
differently configured stacks side by side.
"""

from dataclasses import dataclass, field

from .faults import Faults


@dataclass
class StackConfig:
    mac: str = "02:74:63:68:00:02"
    ip: str = "198.18.0.2"
    netmask: str = "255.255.255.0"
    gateway: str | None = None

    tcp_win: bool = True                      # ipconfigUSE_TCP_WIN
    keepalive: bool = False                   # ipconfigTCP_KEEP_ALIVE
    keepalive_interval: float = 20.0          # ipconfigTCP_KEEP_ALIVE_INTERVAL (s)
    hang_protection: bool = True              # ipconfigTCP_HANG_PROTECTION
    hang_protection_time: float = 30.0        # ipconfigTCP_HANG_PROTECTION_TIME (s)
    mss: int = 1460                           # ipconfigTCP_MSS
    rx_buffer: int = 5840                     # ipconfigTCP_RX_BUFFER_LENGTH (4 x MSS)
    tx_buffer: int = 5840                     # ipconfigTCP_TX_BUFFER_LENGTH (4 x MSS)
    rx_window_mss: int | None = None          # sliding window in MSS; None: max(1, buffer / 2 / MSS)
    tx_window_mss: int | None = None
    srtt_minimum: float = 0.050               # ipconfigTCP_SRTT_MINIMUM_VALUE_MS
    ignore_unknown_packets: bool = False      # ipconfigIGNORE_UNKNOWN_PACKETS
    user_semaphore: bool = False              # ipconfigSOCKET_HAS_USER_SEMAPHORE
    wake_callback: bool = False               # ipconfigSOCKET_HAS_USER_WAKE_CALLBACK
    select: bool = False                      # ipconfigSUPPORT_SELECT_FUNCTION
    ttl: int = 128                            # ipconfigTCP_TIME_TO_LIVE
    arp_cache_age: float = 1500.0             # ipconfigMAX_ARP_AGE (150) x 10 s ARP timer
    arp_cache_entries: int = 10               # ipconfigARP_CACHE_ENTRIES
    gratuitous_arp: bool = True               # vARPAgeCache: who-has our IP 10 s after start, then every 30 s
    upstream_defects: bool = True             # model FR-HS-4 (+ SACK ACK) and FR-CONNECT-3 as V4.4.1 has them
    isn_seed: int = 0                         # seeds ulApplicationGetNextSequenceNumber()
    faults: Faults = field(default_factory=Faults)
