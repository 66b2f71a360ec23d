"""The test suite as a new contributor runs it: a fresh clone of HEAD, then `.ci/run` (venv, install, the
README's test command), timed; repeated, and optionally with both cores kept busy by other processes.

Run: .venv/bin/python bench/suite.py [--runs N] [--busy K]
Clones into a temporary folder beside a link to ../shared (Twilio's specs), as CI does. Prints, per run, the
wall time (install included), pytest's own time, the counts and the slowest test; last line
`suite: runs R, green G, worst wall W s, slowest test T s (NAME)`. Exits 1 unless every run is green.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"


def one_run(workdir: Path) -> tuple[float, int, str]:
    """Clones HEAD into `workdir`/main and runs .ci/run there; (wall seconds, exit code, output)."""
    shared = ROOT.parent / "shared"
    if shared.exists():
        (workdir / "shared").symlink_to(shared)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(workdir / "main")], check=True)
    started = time.monotonic()
    done = subprocess.run(["bash", ".ci/run"], cwd=workdir / "main", capture_output=True, text=True,
                          env={**os.environ, "CI": "true"})
    return time.monotonic() - started, done.returncode, done.stdout + done.stderr


def slowest(output: str) -> tuple[float, str]:
    """The first row of pytest's --durations table."""
    found = re.search(r"^(\d+\.\d+)s (?:call|setup|teardown)\s+(\S+)", output, re.M)
    return (float(found.group(1)), found.group(2)) if found else (0.0, "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs one after another (default 1)")
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes running meanwhile (default 0)")
    options = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(options.busy)]
    walls: list[float] = []
    worst_test = (0.0, "?")
    green = 0
    try:
        for run in range(1, options.runs + 1):
            with tempfile.TemporaryDirectory() as workdir:
                wall, code, output = one_run(Path(workdir))
            summary = re.findall(r"^=*\s*(\d+ passed.*?) in ([\d.]+)s", output, re.M)
            test = slowest(output)
            walls.append(wall)
            worst_test = max(worst_test, test)
            green += code == 0
            said = f"{summary[-1][0]}, pytest {summary[-1][1]} s" if summary else output[-2000:]
            print(f"run {run}: exit {code}, wall {wall:.1f} s (install included); {said}; "
                  f"slowest test {test[0]:.2f} s ({test[1]})", flush=True)
    finally:
        for process in busy:
            process.kill()
    print(f"suite: runs {options.runs}, busy processes {options.busy}, green {green}, worst wall {max(walls):.1f} s, "
          f"slowest test {worst_test[0]:.2f} s ({worst_test[1]})")
    return 0 if green == options.runs else 1


if __name__ == "__main__":
    sys.exit(main())
