"""Every StackConfig default against FreeRTOSIPConfigDefaults.h (V4.4.1).

The values are the ones SEMANTICS.md lists at the top of its FR group and the source-facts table
(freertos-tcp-source-facts.md section 0, with the header's line numbers); ARP settings come from the
same header (ipconfigARP_CACHE_ENTRIES 10, ipconfigMAX_ARP_AGE 150 x the 10 s ARP timer).
A new StackConfig field fails ``test_every_field_is_pinned`` until it is added here.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from stack_under_test import Stack, StackConfig
from stack_under_test.faults import Faults

MSS = 1460

FREERTOS_DEFAULTS = {
    "tcp_win": True,                      # ipconfigUSE_TCP_WIN 1
    "keepalive": False,                   # ipconfigTCP_KEEP_ALIVE 0
    "keepalive_interval": 20.0,           # ipconfigTCP_KEEP_ALIVE_INTERVAL 20 s
    "hang_protection": True,              # ipconfigTCP_HANG_PROTECTION 1
    "hang_protection_time": 30.0,         # ipconfigTCP_HANG_PROTECTION_TIME 30 s
    "mss": MSS,                           # ipconfigTCP_MSS = MTU 1500 - 40
    "rx_buffer": 4 * MSS,                 # ipconfigTCP_RX_BUFFER_LENGTH 4 x MSS
    "tx_buffer": 4 * MSS,                 # ipconfigTCP_TX_BUFFER_LENGTH 4 x MSS
    "rx_window_mss": None,                # derived: max(1, buffer / 2 / MSS) = 2 MSS
    "tx_window_mss": None,
    "srtt_minimum": 0.050,                # ipconfigTCP_SRTT_MINIMUM_VALUE_MS 50
    "ignore_unknown_packets": False,      # ipconfigIGNORE_UNKNOWN_PACKETS 0
    "user_semaphore": False,              # ipconfigSOCKET_HAS_USER_SEMAPHORE 0
    "wake_callback": False,               # ipconfigSOCKET_HAS_USER_WAKE_CALLBACK 0
    "select": False,                      # ipconfigSUPPORT_SELECT_FUNCTION 0
    "ttl": 128,                           # ipconfigTCP_TIME_TO_LIVE 128
    "arp_cache_age": 1500.0,              # ipconfigMAX_ARP_AGE 150 x ipARP_TIMER_PERIOD_MS 10 s
    "gratuitous_arp": True,               # vARPAgeCache: ARP timer 10 s, arpGRATUITOUS_ARP_PERIOD 20 s
}
ARP_CACHE_ENTRIES = 10                    # ipconfigARP_CACHE_ENTRIES ( 10 )

# Not FreeRTOS options: the harness's addressing and the model's own switches.
HARNESS_DEFAULTS = {
    "mac": "02:74:63:68:00:02",
    "ip": "198.18.0.2",
    "netmask": "255.255.255.0",
    "gateway": None,
    "upstream_defects": True,             # behave like V4.4.1 (FR-HS-4, FR-CONNECT-3) by default
    "isn_seed": 0,
}


def test_every_field_is_pinned() -> None:
    pinned = set(FREERTOS_DEFAULTS) | set(HARNESS_DEFAULTS) | {"arp_cache_entries", "faults"}
    assert {f.name for f in fields(StackConfig)} == pinned


@pytest.mark.parametrize("name", sorted(FREERTOS_DEFAULTS))
def test_freertos_default(name: str) -> None:
    assert getattr(StackConfig(), name) == FREERTOS_DEFAULTS[name]


def test_arp_cache_entries_default() -> None:
    assert StackConfig().arp_cache_entries == ARP_CACHE_ENTRIES


@pytest.mark.parametrize("name", sorted(HARNESS_DEFAULTS))
def test_harness_default(name: str) -> None:
    assert getattr(StackConfig(), name) == HARNESS_DEFAULTS[name]


def test_no_fault_switch_is_on_by_default() -> None:
    assert StackConfig().faults == Faults()
    assert StackConfig().faults.enabled() == []
    assert all(getattr(Faults(), f.name) is False for f in fields(Faults))


def test_defaults_are_per_instance() -> None:
    a, b = StackConfig(), StackConfig()
    a.faults.close_sends_rst = True
    assert b.faults.close_sends_rst is False


def test_socket_block_times_default_to_portmax_delay() -> None:
    # ipconfigSOCK_DEFAULT_RECEIVE_BLOCK_TIME / _SEND_BLOCK_TIME = portMAX_DELAY (None here).
    st = Stack(StackConfig())
    h = st.socket()
    assert st.sockets[h].rcv_timeout is None
    assert st.sockets[h].snd_timeout is None
    assert (st.sockets[h].tx_buffer, st.sockets[h].rx_buffer) == (4 * MSS, 4 * MSS)


def test_api_numbers_are_freertos_sockets_h() -> None:
    """Flags and shutdown values as FreeRTOS_Sockets.h V4.4.1 defines them: a firmware agent
    passes these numbers straight to the real FreeRTOS_recv/send/shutdown."""
    from stack_under_test import constants as c

    assert (c.ZERO_COPY, c.MSG_PEEK, c.MSG_DONTWAIT) == (1, 4, 16)
    assert (c.SHUT_RD, c.SHUT_WR, c.SHUT_RDWR) == (0, 1, 2)
