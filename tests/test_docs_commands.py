"""The documented commands run as written: the `sh demo` blocks of README.md and docs/lockers.md, on a demo.

Convention (stated at the top of each such block's doc): a fenced block whose info string is `sh demo`
runs in bash, in document order, against a fresh `smartstore demo`, with `BASE` (http://127.0.0.1:PORT)
and `ADMIN_KEY`, `MANAGER_KEY`, `INTEGRATOR_KEY`, `KIOSK_KEY` set. A comment `# -> STATUS {json…}` right
after a command says what it answers: the HTTP status of the last `curl` so far, and every `"key": value`
pair shown (`…` matches anything; `...` stands for pairs left out).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from smartstore.launcher.broker import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DOCS = (REPO / "README.md", REPO / "docs" / "lockers.md")
KEYS = {
    "ADMIN_KEY": "ssk_docsadm1_" + "D0c5AdM1n9" * 4,
    "MANAGER_KEY": "ssk_docsmgr1_" + "M4n4G3rX7q" * 4,
    "INTEGRATOR_KEY": "ssk_docsint1_" + "1nT3gR4t0r" * 4,
    "KIOSK_KEY": "ssk_docskio1_" + "K10sKk3yZz" * 4,
}
FENCE = re.compile(r"^```sh demo\n(.*?)^```$", re.S | re.M)
PAIR = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null|…)')
STATUS_LINE = re.compile(r"^HTTP_STATUS (\d{3})$", re.M)
SCRIPT_TIMEOUT_S = 75


@dataclass
class DocCommand:
    where: str
    text: str
    status: int | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    expected: str = ""


def doc_commands(path: Path) -> list[DocCommand]:
    """The commands of a doc's `sh demo` blocks with what the `# ->` comment after each says."""
    commands: list[DocCommand] = []
    source = path.read_text()
    for block in FENCE.finditer(source):
        first_line = source.count("\n", 0, block.start(1)) + 1
        pending: list[str] = []
        in_expectation = False
        for offset, line in enumerate(block.group(1).splitlines()):
            if not pending and line.startswith("#"):
                if line.startswith("# ->"):
                    in_expectation = True
                    commands[-1].expected = line[4:].strip()
                elif in_expectation and line.startswith("#  "):
                    commands[-1].expected += " " + line[1:].strip()
                else:
                    in_expectation = False
                continue
            in_expectation = False
            if not pending and not line.strip():
                continue
            if not pending:
                where = f"{path.name}:{first_line + offset}"
            pending.append(line)
            text = "\n".join(pending)
            if not line.endswith("\\") and text.count("'") % 2 == 0 and _balanced(text):
                commands.append(DocCommand(where, text))
                pending = []
        assert not pending, f"{path.name}: unfinished command at the end of a block: {pending}"
    for command in commands:
        if match := re.match(r"(\d{3})\b\s*(.*)", command.expected):
            command.status = int(match.group(1))
        command.pairs = PAIR.findall(command.expected)
    return commands


def _balanced(text: str) -> bool:
    """A `for`/`until … do` loop ends with its `done`."""
    opened = len(re.findall(r"\bdo\b", text))
    return opened == len(re.findall(r"\bdone\b", text))


def answers(output: str, key: str, value: str) -> bool:
    if value == "…":
        return re.search(rf'"{key}"\s*:', output) is not None
    if value.startswith('"'):
        pattern = "".join(".*?" if part == "…" else re.escape(part) for part in re.split("(…)", value))
        return re.search(rf'"{key}"\s*:\s*{pattern}', output) is not None
    return re.search(rf'"{key}"\s*:\s*{re.escape(value)}\b', output) is not None


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """A fresh `smartstore demo` on free ports with fixed keys; yields its base URL."""
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            if os.environ.get("SMARTSTORE_REQUIRE_SERVICES"):
                pytest.fail(f"{tool} is not installed (the documented commands need it)")
            pytest.skip(f"{tool} is not installed (the documented commands need it)")
    http_port, mqtt_port = free_port(), free_port()
    output = tmp_path / "demo.out"
    command = [
        sys.executable,
        *("-m", "smartstore.launcher.cli", "demo", "--duration", "150"),
        *("--http-port", str(http_port), "--mqtt-port", str(mqtt_port), "--data-dir", str(tmp_path / "demo")),
    ]
    env = {**os.environ, **{f"SMARTSTORE_{name}": key for name, key in KEYS.items()}}
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 40
        while "Stops after" not in output.read_text(errors="replace"):
            assert process.poll() is None, output.read_text(errors="replace")
            assert time.monotonic() < deadline, "no banner\n" + output.read_text(errors="replace")
            time.sleep(0.2)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        # A reader follows the banner at once; the simulated locker must be online by then, or a load's
        # open command goes to nobody (commands are not queued for a locker that never connected). The
        # demo waits for it before printing the banner.
        devices = f"{base}/api/v1/stores/store-berlin-01/devices"
        headers = {"X-API-Key": KEYS["ADMIN_KEY"]}
        lockers = {
            d["id"]: d["state"]
            for d in httpx.get(devices, headers=headers, timeout=5).json()
            if d["kind"] == "locker"
        }
        assert lockers == {"locker-1": "online"}, output.read_text(errors="replace")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_documented_commands_run_as_written(demo: str, tmp_path: Path) -> None:
    commands = [command for doc in DOCS for command in doc_commands(doc)]
    assert len(commands) > 20, "the docs lost their runnable blocks"
    runs = tmp_path / "runs"
    runs.mkdir()
    lines = [
        # The status goes to stderr, so `$(curl …)` and pipes see the body alone, as the reader does.
        "curl() { command curl -w '%{stderr}\\nHTTP_STATUS %{http_code}\\n' \"$@\"; }",
        f"cd {tmp_path}",
    ]
    for i, command in enumerate(commands):
        lines.append(f'{{\n{command.text}\n}} >"{runs}/{i}.out" 2>"{runs}/{i}.err"; echo $? >"{runs}/{i}.rc"')
    env = {**os.environ, "BASE": demo, **KEYS}
    # A command that hangs is the first without an exit status below.
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["bash", "-c", "\n".join(lines)], env=env, timeout=SCRIPT_TIMEOUT_S, check=False)
    last_status: int | None = None
    for i, command in enumerate(commands):
        rc = runs / f"{i}.rc"
        what = f"{command.where}: {command.text}"
        assert rc.exists(), f"did not finish within {SCRIPT_TIMEOUT_S} s: {what}"
        out, err = (runs / f"{i}.out").read_text(), (runs / f"{i}.err").read_text()
        assert rc.read_text().strip() == "0", f"{what}\nexit {rc.read_text().strip()}\n{out}\n{err}"
        if statuses := STATUS_LINE.findall(err):
            last_status = int(statuses[-1])
        if command.status is not None:
            assert last_status == command.status, f"{what}\nanswered {last_status}: {out}"
        for key, value in command.pairs:
            assert answers(out, key, value), f"{what}\nexpected {key}: {value} in {out}"
