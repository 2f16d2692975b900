"""Run every benchmark in this folder (``make bench``). Each prints ratios against a baseline it measures itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    failures = 0
    for bench in sorted(HERE.glob("bench_*.py")):
        print(f"=== {bench.name}", flush=True)
        failures += subprocess.run([sys.executable, str(bench), *sys.argv[1:]]).returncode != 0
    sys.exit(1 if failures else 0)
