"""Sam4eTarget: the target file, the NIC check, call mapping, and part of the conformance suite run
on the emulated board (AgentFirmware: the agent's C mailbox code over the emulated SRAM, the
bundled FreeRTOS+TCP model behind it) with a tch veth pair as the cable between NIC and GMAC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import HARNESS_MAC
from harness.cli import main
from harness.target import load_target
from harness.wire import links
from targets.mailbox_target import plan
from targets.sam4e.config import load_board
from targets.sam4e.emulation import (
    EmulatedSam4e,
    build_firmware_elf,
    make_pack,
    register_board,
    unregister_board,
)
from targets.sam4e.mailbox import FOREVER, Op
from targets.sam4e.target import Sam4eError, Sam4eTarget, check_interface
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
SUITE_PARTS = ("handshake", "recv")
SELECT_CASES = REPO / "testcases" / "events" / "select.yaml"


def test_the_target_file_loads_with_its_board_section() -> None:
    config = load_target("sam4e")
    assert config.clock == "wall" and config.driver == "targets.sam4e.target:Sam4eTarget"
    board = load_board(config.path)
    assert board.pack.suffix == ".pack" and board.nic and board.probe
    assert config.verdicts_path == REPO / "targets" / "sam4e.verdicts.yaml"


def test_the_target_file_declares_select_as_built() -> None:
    """PROTOCOL v2 has SELECT: the capability and the FreeRTOSIPConfig.h value it needs."""
    config = load_target("sam4e")
    assert "select" in config.capabilities and config.fixed_settings["select"] is True
    assert "select" not in Sam4eTarget.unsupported


@pytest.mark.parametrize(("args", "request_"), [
    ({"sock": 3, "events": 1, "timeout": 0}, [3, 1, 0]),
    ({"sock": 2, "events": 7, "timeout": 0.25}, [2, 7, 250]),
    ({"sock": 1, "events": 4, "timeout": None}, [1, 4, FOREVER]),   # None: portMAX_DELAY
    ({"sock": 1, "events": 2}, [1, 2, FOREVER]),
])
def test_select_maps_to_the_select_op(args: dict[str, object], request_: list[int]) -> None:
    """The runner's select (sock, events bitmask, timeout in seconds) as one SELECT request; its
    result is FreeRTOS_select's value, taken whole."""
    calls = plan("select", args)
    assert next(calls) == (Op.SELECT, request_, b"")


def test_interface_errors_say_what_to_fix() -> None:
    with pytest.raises(Sam4eError) as err:
        check_interface("tchnosuchnic", "targets/sam4e.yaml")
    assert str(err.value) == ("network interface tchnosuchnic does not exist: fix nic: in targets/sam4e.yaml "
                              "(ip link lists them)")


def test_an_interface_that_is_down(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "needs root for ip link: sudo .tox/tests/bin/python -m pytest")
    require(shutil.which("ip"), "needs iproute2: apt-get install iproute2")
    link = links.make_tap()
    try:
        subprocess.run(["ip", "link", "set", link.harness_if, "down"], check=True)
        with pytest.raises(Sam4eError, match=f"{link.harness_if} is down: ip link set {link.harness_if} up"):
            check_interface(link.harness_if, "x")
    finally:
        link.close()


# ---- the suite on the emulated board ---------------------------------------------------------

@pytest.fixture
def cable() -> Iterator[tuple[str, str]]:
    """A veth pair in the root namespace, no addresses: (NIC end, GMAC end)."""
    require(os.geteuid() == 0, "needs root for a veth pair: sudo .tox/tests/bin/python -m pytest")
    require(links.missing_requirements() is None, str(links.missing_requirements()))
    with links.make_veth_pair(HARNESS_MAC) as link:
        assert link.device_if
        yield link.harness_if, link.device_if


def _firmware(image: object, gmac: str) -> object:
    from targets.sam4e.emulation.firmware import AgentFirmware, stack_config_for

    # Built as targets/sam4e.yaml's settings.fixed says (the README's FreeRTOSIPConfig.h: FreeRTOS+TCP
    # defaults plus ipconfigSOCKET_HAS_USER_SEMAPHORE 1 and ipconfigSUPPORT_SELECT_FUNCTION 1).
    config = stack_config_for(load_target("sam4e"))
    return AgentFirmware(image, gmac_if=gmac, config=config)  # type: ignore[arg-type]


@pytest.fixture
def emulated_target_file(tmp_path: Path, cable: tuple[str, str]) -> Iterator[Path]:
    require(shutil.which("gcc"), "needs gcc (the firmware's mailbox code runs host-compiled): apt-get "
                                 "install gcc")
    try:
        import targets.sam4e.emulation.firmware  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the emulated agent firmware is not there yet: {exc}")
    nic, gmac = cable
    image = build_firmware_elf(tmp_path / "fw.elf")
    firmware = _firmware(image, gmac)
    board = EmulatedSam4e(firmware=firmware)  # type: ignore[arg-type]
    uid = register_board(board, f"target-{os.getpid()}-{id(board):x}")
    data = yaml.safe_load((REPO / "targets" / "sam4e.yaml").read_text())
    data["board"] = {"probe": uid, "pack": str(make_pack(tmp_path / "sam4e.pack")),
                                "elf": str(image.path), "nic": nic, "project_dir": str(tmp_path / "pyocd")}
    data["verdicts"] = str(REPO / "targets" / "sam4e.verdicts.yaml")
    path = tmp_path / "sam4e-emulated.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cwd = os.getcwd()
    try:
        yield path
    finally:
        os.chdir(cwd)
        firmware.close()  # type: ignore[attr-defined]
        unregister_board(uid)


def test_socket_calls_through_the_mailbox(emulated_target_file: Path) -> None:
    config = load_target(str(emulated_target_file))
    target = config.open()
    assert isinstance(target, Sam4eTarget)
    try:
        target.reset({})
        sock = _wait(target, target.call("socket"))
        assert sock.means("socket")
        assert _wait(target, target.call("bind", sock=sock.raw, port=5000)).means("ok")
        assert _wait(target, target.call("listen", sock=sock.raw, backlog=2)).means("ok")
        assert _wait(target, target.call("connstatus", sock=sock.raw)).name == "LISTEN"
        ready = _wait(target, target.call("select", sock=sock.raw, events=1, timeout=0))
        assert ready.means("timeout") and ready.raw == 0   # nobody to accept: FreeRTOS_select's 0
        pending = target.call("accept", sock=sock.raw)   # blocks: portMAX_DELAY
        state = _wait(target, target.call("issocketconnected", sock=sock.raw))
        assert state.raw == 0 and not pending.done      # another slot answered meanwhile
        assert _wait(target, target.call("closesocket", sock=sock.raw)).means("ok")
        with pytest.raises(Sam4eError, match="select: the agent answered TCH_ST_BAD_SOCKET"):
            _wait(target, target.call("select", sock=sock.raw, events=1, timeout=0))
        assert any("rtt: " in text for _, text in target.notes())
    finally:
        target.close()


def _wait(target: Sam4eTarget, handle: object, timeout: float = 3.0) -> object:
    import time

    deadline = time.time() + timeout
    while not handle.done:  # type: ignore[attr-defined]
        assert time.time() < deadline, f"{handle.op} did not complete"  # type: ignore[attr-defined]
        target.frames(min(deadline, time.time() + 0.05))
    return handle.result()  # type: ignore[attr-defined]


def test_handshake_and_recv_cases_on_the_emulated_board(emulated_target_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 0: every verdict is the one targets/sam4e.verdicts.yaml expects."""
    parts = [str(REPO / "testcases" / part) for part in SUITE_PARTS]
    results = str(tmp_path / "results")
    status = main(["run", "--target", str(emulated_target_file), "--results", results, *parts])
    out = capsys.readouterr()
    assert status == 0, out.out[-4000:] + out.err[-2000:]
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    totals = summary["totals"]
    print("sam4e (emulated):", json.dumps(totals), f"{summary['wall_time']:.1f} s")
    assert totals["passed"] > 0 and totals["errors"] == 0


def _verdicts(status: int, results: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = capsys.readouterr()
    assert status == 0, out.out[-4000:] + out.err[-2000:]
    cases = json.loads((results / "summary.json").read_text())["cases"]
    return {case["id"]: case["verdict"] for case in cases}


def test_select_cases_on_the_emulated_board_as_on_inprocess(emulated_target_file: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """testcases/events/select.yaml through the SELECT op: none skipped (the capability is declared),
    every one passes, the same verdicts as the in-process target's."""
    board = tmp_path / "board"
    status = main(["run", "--target", str(emulated_target_file), "--results", str(board), str(SELECT_CASES)])
    on_board = _verdicts(status, board, capsys)
    inproc = tmp_path / "inprocess"
    status = main(["run", "--target", "inprocess", "--results", str(inproc), str(SELECT_CASES)])
    assert on_board == _verdicts(status, inproc, capsys)
    assert len(on_board) == 2 and set(on_board.values()) == {"pass"}, on_board
