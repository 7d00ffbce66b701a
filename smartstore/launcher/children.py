"""Child processes of the demo: `python -m smartstore.launcher.cli ...`, output to a log, errors echoed."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

_ERROR_LINE = re.compile(r"^(?:\S+ \S+ (?:ERROR|CRITICAL) |(?:ERROR|CRITICAL):|Traceback )")


@dataclass
class Child:
    """One component run as `python -m smartstore.launcher.cli ...`, its output copied to a log file."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        command = [sys.executable, "-m", "smartstore.launcher.cli", "--log-level", "INFO", *self.argv]
        logger.debug("starting %s: %s", self.name, " ".join(command))
        # A session of its own: a terminal Ctrl-C reaches the demo only, which then stops children in order.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._pump = threading.Thread(
            target=self._copy_output, args=(self.process.stdout,), name=f"log-{self.name}", daemon=True
        )
        self._pump.start()

    def _copy_output(self, stream: IO[bytes]) -> None:
        in_traceback = False
        with self.log_path.open("ab") as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip()
                if _ERROR_LINE.match(line):
                    in_traceback = line.startswith("Traceback ")
                    print(f"[{self.name}] {line}", file=sys.stderr, flush=True)
                elif in_traceback:
                    print(f"[{self.name}] {line}", file=sys.stderr, flush=True)
                    # The traceback ends with its unindented "SomeError: message" line.
                    in_traceback = line.startswith((" ", "\t")) or not line
        stream.close()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
                process.kill()
                process.wait(timeout)
        if self._pump is not None:
            self._pump.join(timeout)
