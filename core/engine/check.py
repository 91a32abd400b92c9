"""`--check CMD`: an independent test of Claude's "success", run through the shell."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

OUTPUT_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class CheckResult:
    command: str
    exit_code: int  # -N when killed by signal N; 124 when it ran out of time
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT characters
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def as_dict(self) -> dict[str, object]:
        return {"command": self.command, "exit_code": self.exit_code,
                "duration_s": round(self.duration_s, 3), "output": self.output[-4000:]}


def run_check(command: str, *, env: Mapping[str, str], timeout_s: float = 300.0) -> CheckResult:
    """Run `command` with /bin/sh, stdin closed, and wait for it (at most `timeout_s`)."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(command, shell=True, env=dict(env), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s, check=False)
        code, raw = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        code, raw = 124, (exc.stdout or b"") + f"\n[cua: killed after {timeout_s:g} s]\n".encode()
    output = raw.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:]
    return CheckResult(command, code, output, time.monotonic() - t0)
