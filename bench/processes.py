"""A load-generator subprocess: its spec and result files, its progress lines, its STOP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.servers import ROOT


class Loadgen:
    """`python -m bench.loadgen`; prints its progress through `log`."""

    def __init__(self, name: str, spec: dict, work_dir: Path, env: dict[str, str], log) -> None:
        self.name = name
        self.spec_path = work_dir / f"{name}.spec.json"
        self.result_path = work_dir / f"{name}.result.json"
        self.spec_path.write_text(json.dumps(spec))
        self.result_path.unlink(missing_ok=True)
        self.log = log
        self.connected = threading.Event()
        self.all_closed = threading.Event()  # the server closed every socket (sockets mode)
        self.all_ticking = threading.Event()  # every socket ticked after the last MARK (recover mode)
        self.connect_line = ""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(self.spec_path), str(self.result_path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip()
            if line == "ALLCLOSED":
                self.all_closed.set()
            if line == "ALLTICKING":
                self.all_ticking.set()
            if line.startswith("CONNECTED"):
                self.connect_line = line
                self.connected.set()
            if line.startswith(("progress", "CONNECTED")) or "Error" in line:
                self.log(f"  [{self.name}] {line}")

    def wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.5):
            if self.process.poll() is not None:
                raise RuntimeError(f"load generator {self.name} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"load generator {self.name}: not connected after {timeout} s")

    def send(self, line: str) -> None:
        """One line to the generator's stdin (gone already: nothing to tell)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(f"{line}\n")
                self.process.stdin.flush()
            except (BrokenPipeError, OSError):
                pass

    def mark(self, moment: float) -> None:
        """Tell a recover-mode generator to say ALLTICKING once every socket ticked after `moment`."""
        self.all_ticking.clear()
        self.send(f"MARK {moment!r}")

    def stop(self) -> None:
        """Tell a sockets-mode generator to close its sockets and write its result."""
        self.send("STOP")

    def result(self, timeout: float = 300) -> dict:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise RuntimeError(f"load generator {self.name} did not finish in {timeout} s") from None
        if self.process.returncode != 0 or not self.result_path.exists():
            raise RuntimeError(f"load generator {self.name} failed with {self.process.returncode}")
        return json.loads(self.result_path.read_text())
