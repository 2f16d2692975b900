"""Run every benchmark in this folder (``make bench``). Each prints ratios against a baseline it measures itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    failures = 0
    scale = os.environ.get("KAM_BENCH_SCALE", "")
    # `make bench SCALE=10m` runs the scale tier alone; plain `make bench` every other benchmark
    benches = [HERE / "bench_scale.py"] if scale else sorted(set(HERE.glob("bench_*.py")) - {HERE / "bench_scale.py"})
    for bench in benches:
        print(f"=== {bench.name}", flush=True)
        failures += subprocess.run([sys.executable, str(bench), *sys.argv[1:]]).returncode != 0
    sys.exit(1 if failures else 0)
