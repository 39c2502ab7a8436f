"""The stack's own knobs as settings: Linux sysctls a target applies to each case's fresh namespace.

A sysctl is a setting named `sysctl.<name>`, spelled the same everywhere: in a target file's
`settings.defaults` (or `fixed`), in a case's `settings:`, in an expression
(`settings.sysctl.net.ipv4.tcp_syn_retries`) and in each case's settings in summary.json. A
target whose file lists `sysctl` under `settings.runtime` lets a case change any of them; a
target whose driver has no sysctls (every stack but a Linux kernel) rejects them at open.

Only knobs a network namespace has of its own can be set per case: `net.ipv4.NAME` and
`net.core.NAME`, one level deep (per-interface `conf.*`/`neigh.*` would name an interface
that changes from case to case), minus those the kernel keeps for the whole host (below). The
kernel has the last word: a name it does not know inside a namespace, or a value it refuses,
is an error when the namespace is made (harness.wire.links.make_veth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PREFIX = "sysctl."
# What a setting's name after `sysctl.` may be.
_NAME = re.compile(r"^net\.(ipv4|core)\.[a-z0-9_]+$")
# Values go to `sysctl -w name=value` as one argument (no shell): numbers, words and lists of
# them ("4096 131072 6291456", "cubic").
_VALUE = re.compile(r"^[A-Za-z0-9_.:-]+( [A-Za-z0-9_.:-]+)*$")
# net.ipv4/net.core knobs that are global, not per namespace (Linux 6.x: present in the
# initial namespace only). Writing them from a case would change the host for everyone.
GLOBAL = frozenset(
    {
        "net.core.bpf_jit_enable", "net.core.bpf_jit_harden", "net.core.bpf_jit_kallsyms",
        "net.core.bpf_jit_limit", "net.core.busy_poll", "net.core.busy_read", "net.core.default_qdisc",
        "net.core.dev_weight", "net.core.dev_weight_rx_bias", "net.core.dev_weight_tx_bias",
        "net.core.devconf_inherit_init_net", "net.core.fb_tunnels_only_for_init_net",
        "net.core.flow_limit_cpu_bitmap", "net.core.flow_limit_table_len", "net.core.gro_normal_batch",
        "net.core.high_order_alloc_disable", "net.core.max_skb_frags", "net.core.mem_pcpu_rsv",
        "net.core.message_burst", "net.core.message_cost", "net.core.netdev_budget",
        "net.core.netdev_budget_usecs", "net.core.netdev_max_backlog", "net.core.netdev_rss_key",
        "net.core.netdev_tstamp_prequeue", "net.core.netdev_unregister_timeout_secs",
        "net.core.rps_sock_flow_entries", "net.core.skb_defer_max", "net.core.warnings",
        "net.ipv4.cipso_cache_bucket_size", "net.ipv4.cipso_cache_enable", "net.ipv4.cipso_rbm_optfmt",
        "net.ipv4.cipso_rbm_strictvalid", "net.ipv4.fib_sync_mem", "net.ipv4.inet_peer_maxttl",
        "net.ipv4.inet_peer_minttl", "net.ipv4.inet_peer_threshold", "net.ipv4.ipfrag_secret_interval",
        "net.ipv4.tcp_available_ulp", "net.ipv4.tcp_low_latency", "net.ipv4.tcp_max_orphans",
        "net.ipv4.tcp_mem", "net.ipv4.udp_mem",
    }
)


def is_sysctl(key: str) -> bool:
    return key.startswith(PREFIX)


def name_problem(name: str) -> str | None:
    """Why `name` (without the `sysctl.` prefix) can not be set per case, or None."""
    if not _NAME.match(name):
        return (f"{name!r} is not a per-namespace sysctl a case can set: give net.ipv4.NAME or "
                "net.core.NAME (one level, lower case; per-interface conf.* and neigh.* are not supported)")
    if name in GLOBAL:
        return f"{name} is global to the host, not per network namespace: it can not be set per case"
    return None


def value_problem(value: Any) -> str | None:
    """Why `value` can not be a sysctl's value, or None."""
    expected = "expected an integer or a string such as '4096 131072 6291456'"
    if isinstance(value, bool):
        return f"{expected}, got true or false (write 1 or 0)"
    if not isinstance(value, int | str):
        return f"{expected}, got {value!r}"
    if isinstance(value, str) and not _VALUE.match(" ".join(value.split())):
        return f"{value!r} is not a sysctl value (numbers or words separated by spaces)"
    return None


def problems(settings: Mapping[str, Any], prefix: str = PREFIX) -> list[tuple[str, str]]:
    """(key, message) for every bad `<prefix><name>: value` entry of a settings mapping."""
    found = []
    for key, value in settings.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        why = name_problem(key[len(prefix):]) or value_problem(value)
        if why:
            found.append((key, why))
    return found


def normalise(value: Any) -> int | str:
    """One spelling per value: 3 and "3" are 3; runs of spaces are one space."""
    if isinstance(value, str):
        text = " ".join(value.split())
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    return int(value)


def of(settings: Mapping[str, Any]) -> dict[str, str]:
    """The sysctls in a case's effective settings, as `sysctl -w` takes them: {name: value}."""
    return {key[len(PREFIX):]: str(value) for key, value in settings.items() if is_sysctl(key)}
