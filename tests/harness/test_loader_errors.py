"""Malformed case files: each must give exactly one `file:line: field: message`, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.loader import load_cases
from harness.yamlsrc import InputError

BASE = "id: t-one\ntitle: t\nsemantics: [FS-1]\n"
LISTEN = "setup:\n  listen: {port: 7000}\n"
KNOWN_STEPS = (
    "inject, expect, expect_unordered, expect_silence, fuzz, wait, call, await, handshake, device_connects, "
    "listen"
)
KNOWN_OPS = (
    "socket, bind, listen, accept, connect, send, recv, shutdown, closesocket, setsockopt, "
    "issocketconnected, connstatus, semaphore_create, semaphore_take, select"
)
KNOWN_INJECT = (
    "ack, checksum, df, ecn, flags, len, options, payload, peer, raw, seq, sport, tos, ttl, urg, win"
)
KNOWN_SETTINGS = (
    "hang_protection, hang_protection_time, ignore_unknown_packets, keepalive, keepalive_interval, "
    "mss, reuse_listen, rx_buffer, select, tcp_win, tx_buffer, user_semaphore, wake_callback, "
    "sysctl.net.ipv4.NAME, sysctl.net.core.NAME"
)
SYSCTL_NAMES = (
    "give net.ipv4.NAME or net.core.NAME (one level, lower case; per-interface conf.* and neigh.* "
    "are not supported)"
)
FLAGS_HINT = "(use F S R P A U E C, e.g. SA or FA)"

# (name, file text, the one expected message without the "file:" prefix)
CASES = [
    (
        "unknown top-level field",
        BASE + "colour: red\nsteps:\n  - wait: 1s\n",
        "4: colour: unknown field (known: alone, id, notes, peers, requires, semantics, settings, setup, "
        "source, steps, title, tolerance)",
    ),
    (
        "missing title",
        "id: t-one\nsemantics: [FS-1]\nsteps:\n  - wait: 1s\n",
        "1: title: required field is missing",
    ),
    (
        "semantics not a list",
        "id: t-one\ntitle: t\nsemantics: FS-1\nsteps:\n  - wait: 1s\n",
        "3: semantics: expected a list, got a string",
    ),
    (
        "unknown semantic ID",
        "id: t-one\ntitle: t\nsemantics: [FS-1, FS-99]\nsteps:\n  - wait: 1s\n",
        "3: semantics[1]: unknown semantic ID 'FS-99'",
    ),
    (
        "unknown capability",
        BASE + "requires: [keepalive, teleport]\nsteps:\n  - wait: 1s\n",
        "4: requires[1]: unknown capability 'teleport' (known: connstatus, keepalive, "
        "short_keepalive_default, reuse_listen, user_semaphore, wake_callback, select, hang_protection)",
    ),
    (
        "bad flag letters in inject",
        BASE + LISTEN + "steps:\n  - inject: {flags: SX}\n",
        f"7: steps[0].inject.flags: bad flag letters 'SX' {FLAGS_HINT}",
    ),
    (
        "bad flag letters in a set",
        BASE + "steps:\n  - expect:\n      flags: {in: [A, Q]}\n",
        f"6: steps[0].expect.flags.in[1]: bad flag letters 'Q' {FLAGS_HINT}",
    ),
    (
        "unknown step",
        BASE + "steps:\n  - wait: 1s\n  - injct: {flags: S}\n",
        f"6: steps[1].injct: unknown step 'injct' (known: {KNOWN_STEPS})",
    ),
    (
        "two actions in a step",
        BASE + "steps:\n  - wait: 1s\n    expect_silence: 2s\n",
        "5: steps[0]: a step has exactly one action, found wait, expect_silence",
    ),
    (
        "unknown field in a step",
        BASE + "steps:\n  - inject: {flags: S, sq: 1}\n",
        f"5: steps[0].inject.sq: unknown field (known: {KNOWN_INJECT})",
    ),
    (
        "duplicate case id",
        BASE + "steps:\n  - wait: 1s\n---\n" + BASE + "steps:\n  - wait: 2s\n",
        "7: id: duplicate case id 't-one' (also at {file}:1)",
    ),
    (
        "duplicate key",
        "id: t-one\ntitle: t\ntitle: u\nsemantics: [FS-1]\nsteps:\n  - wait: 1s\n",
        "3: title: duplicate key (first at line 2)",
    ),
    (
        "bad expression",
        BASE + "steps:\n  - expect: {flags: A, seq: snd.nxt -}\n",
        "5: steps[0].expect.seq: bad expression 'snd.nxt -': invalid syntax",
    ),
    (
        "unknown name in an expression",
        BASE + "steps:\n  - expect: {flags: A, ack: foo.bar}\n",
        "5: steps[0].expect.ack: bad expression 'foo.bar': unknown name 'foo' "
        "(known: snd, rcv, peer, profile, settings)",
    ),
    (
        "await of an unknown call",
        BASE + "steps:\n  - await: r1\n",
        "5: steps[0].await: no background call named 'r1' before this step",
    ),
    (
        "background call without a name",
        BASE + LISTEN + "steps:\n  - call: accept\n    background: true\n",
        "8: steps[0].background: a background call needs `as: name` to await it",
    ),
    (
        "unknown result name",
        BASE + LISTEN + "steps:\n  - call: recv\n    returns: ENOTCON\n",
        "8: steps[0].returns: unknown result name 'ENOTCON'",
    ),
    (
        "unknown operation",
        BASE + "steps:\n  - call: frobnicate\n",
        f"5: steps[0].call: unknown operation 'frobnicate' (known: {KNOWN_OPS})",
    ),
    (
        "repeat is neither a count nor an expression",
        BASE + "steps:\n  - wait: 1s\n    repeat: twice\n",
        "6: steps[0].repeat: bad expression 'twice': unknown name 'twice' "
        "(known: snd, rcv, peer, profile, settings)",
    ),
    (
        "repeat below its minimum",
        BASE + "steps:\n  - wait: 1s\n    repeat: 0\n",
        "6: steps[0].repeat: 0 is out of range for a repeat count (1 to 1000)",
    ),
    (
        "malformed case id",
        "id: Close Peer\ntitle: t\nsemantics: [FS-1]\nsteps:\n  - wait: 1s\n",
        "1: id: a case id is lower-case words joined by / - _ . such as close/peer-fin",
    ),
    (
        "unknown setting",
        BASE + "settings:\n  keepalive_intervall: 2s\nsteps:\n  - wait: 1s\n",
        f"5: settings.keepalive_intervall: unknown field (known: {KNOWN_SETTINGS})",
    ),
    (
        "wrong type for a setting",
        BASE + "settings:\n  keepalive: maybe\nsteps:\n  - wait: 1s\n",
        "5: settings.keepalive: expected true or false, got a string",
    ),
    (
        "sysctl outside net.ipv4 and net.core",
        BASE + "settings:\n  sysctl.kernel.panic: 1\nsteps:\n  - wait: 1s\n",
        f"5: settings.sysctl.kernel.panic: 'kernel.panic' is not a per-namespace sysctl a case can set: "
        f"{SYSCTL_NAMES}",
    ),
    (
        "per-interface sysctl",
        BASE + "settings:\n  sysctl.net.ipv4.conf.all.forwarding: 1\nsteps:\n  - wait: 1s\n",
        "5: settings.sysctl.net.ipv4.conf.all.forwarding: 'net.ipv4.conf.all.forwarding' is not a "
        f"per-namespace sysctl a case can set: {SYSCTL_NAMES}",
    ),
    (
        "host-wide sysctl",
        BASE + "settings:\n  sysctl.net.ipv4.tcp_mem: 1 2 3\nsteps:\n  - wait: 1s\n",
        "5: settings.sysctl.net.ipv4.tcp_mem: net.ipv4.tcp_mem is global to the host, not per network "
        "namespace: it can not be set per case",
    ),
    (
        "sysctl value true",
        BASE + "settings:\n  sysctl.net.ipv4.tcp_syn_retries: true\nsteps:\n  - wait: 1s\n",
        "5: settings.sysctl.net.ipv4.tcp_syn_retries: expected an integer or a string such as "
        "'4096 131072 6291456', got true or false (write 1 or 0)",
    ),
    (
        "sysctl value with a second assignment",
        BASE + "settings:\n  sysctl.net.ipv4.tcp_syn_retries: 2 net.core.somaxconn=1\nsteps:\n  - wait: 1s\n",
        "5: settings.sysctl.net.ipv4.tcp_syn_retries: '2 net.core.somaxconn=1' is not a sysctl value "
        "(numbers or words separated by spaces)",
    ),
    ("no steps", BASE + "steps: []\n", "4: steps: expected at least 1 item(s), got 0"),
    (
        "unknown socket name",
        BASE + LISTEN + "steps:\n  - call: recv\n    sock: nope\n",
        "8: steps[0].sock: no socket named 'nope' before this step",
    ),
    (
        "unknown time anchor",
        BASE + "steps:\n  - wait: 1s\n  - expect: {flags: A, since: later}\n",
        "6: steps[1].expect.since: no step labelled 'later' before this step (or use prev, last_inject)",
    ),
    (
        "raw bytes not hex",
        BASE + "steps:\n  - inject: {raw: 'xyz'}\n",
        "5: steps[0].inject.raw: raw bytes are an even number of hex digits",
    ),
    ("document not a mapping", "- id: t-one\n- title: t\n", "1: (document): expected a mapping, got a list"),
    (
        "YAML syntax error",
        BASE + "steps:\n  - wait: [1s\n",
        "6: yaml: expected ',' or ']', but got '<stream end>'",
    ),
    (
        "unknown option",
        BASE + "steps:\n  - inject: {flags: S, options: [mms]}\n",
        "5: steps[0].inject.options[0]: expected an option: nop, eol, mss, wscale, sackok, ts, sack, "
        "{mss: 1460}, {wscale: 7}, {ts: [val, ecr]}, {sack: [[left, right]]} or {raw: hex}",
    ),
    (
        "matcher of an unknown shape",
        BASE + "steps:\n  - expect: {flags: A, seq: {rang: [1, 2]}}\n",
        "5: steps[0].expect.seq: expected a value, {in: [...]}, {range: [lo, hi]}, {not: value} "
        "or {absent: true}",
    ),
    (
        "call without a socket",
        BASE + "steps:\n  - call: send\n    data: x\n",
        "5: steps[0].call: send needs a socket: create one first (listen, socket)",
    ),
    (
        "unquoted colon in a value",
        BASE + "source: thread 000 (Hein: no)\nsteps:\n  - wait: 1s\n",
        "4: yaml: mapping values are not allowed here (a ': ' inside a plain value: put the value in quotes)",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_case_gives_one_exact_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_cases([path])
    assert [str(p) for p in excinfo.value.problems] == [f"{path}:" + message.replace("{file}", str(path))]


def test_there_are_at_least_twenty_malformed_files() -> None:
    assert len(CASES) >= 20


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "id: t-one\ntitle: t\nsemantics: [FS-98]\nrequires: [teleport]\nsteps:\n"
        "  - inject: {flags: Z}\n  - wait: forever and ever\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as excinfo:
        load_cases([path])
    assert [(p.line, p.field) for p in excinfo.value.problems] == [
        (3, "semantics[0]"),
        (4, "requires[0]"),
        (6, "steps[0].inject.flags"),
        (7, "steps[1].wait"),
    ]


def test_cli_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + "steps:\n  - injct: {}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:5: steps[0].injct: unknown step")
    assert "Traceback" not in err


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for path in (first, second):
        path.write_text(BASE + "steps:\n  - wait: 1s\n", encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_cases([tmp_path])
    assert [str(p) for p in excinfo.value.problems] == [
        f"{second}:1: id: duplicate case id 't-one' (also at {first}:1)"
    ]
