"""Wall time of `cua --version`, `cua --help`, `cua runs list` and `cua run --help`, median of
several runs.

Run:  python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_ms(argv: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    # The entry point next to this interpreter: a version manager's shim would add its own time.
    cua = str(Path(sys.executable).parent / "cua")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CUA_DATA_DIR": tmp}
        base = median_ms([sys.executable, "-c", "pass"], args.runs, env)
        print(f"python3 -c pass: {base:.0f} ms (the interpreter alone)")
        for argv in ([cua, "--version"], [cua, "--help"], [cua, "runs", "list"],
                     [cua, "run", "--help"]):
            print(f"{' '.join(['cua', *argv[1:]])}: {median_ms(argv, args.runs, env):.0f} ms")


if __name__ == "__main__":
    main()
