"""The fault matrix as a table: every Twilio step of every send path × every fault kind, on fresh simulators.

Run: .venv/bin/python bench/faults.py
The cases are tests/test_fault_matrix.py's CASES, on the tests' virtual-time event loop (a 10 s deadline or a
15 s hang costs no real time; tests/virtual_time.py). Prints one row per path and step, one column per fault
(the outcome the agent was told, `!` when the simulator's state disagrees), the problems, and last
`fault cases: N, duplicates: D, orphans: O, lost: L`. Exits 1 unless every count is 0.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.server import Simulator  # noqa: E402
from tests import virtual_time  # noqa: E402
from tests.test_fault_matrix import CASES, FAULTS, Verdict, matrix_config, run_case  # noqa: E402


async def run_all(workdir: Path) -> list[Verdict]:
    verdicts = []
    for case in CASES:
        async with Simulator(matrix_config()) as sim:  # a fresh world on 127.0.0.1 for every case
            verdicts.append(await run_case(sim, workdir, case))
    return verdicts


def table(verdicts: list[Verdict]) -> list[str]:
    rows: dict[str, dict[str, str]] = {}
    for verdict in verdicts:
        row = rows.setdefault(f"{verdict.case.path.name} / {verdict.case.step.name}", {})
        row[verdict.case.fault] = verdict.outcome + (" !" if verdict.problems else "")
    first = max(len(name) for name in rows)
    widths = {fault: max([len(fault)] + [len(row.get(fault, "")) for row in rows.values()]) for fault in FAULTS}
    lines = [" | ".join(["path / step".ljust(first)] + [fault.ljust(widths[fault]) for fault in FAULTS])]
    lines.append("-+-".join(["-" * first] + ["-" * widths[fault] for fault in FAULTS]))
    for name, row in rows.items():
        lines.append(" | ".join([name.ljust(first)] + [row.get(fault, "").ljust(widths[fault]) for fault in FAULTS]))
    return lines


def main() -> int:
    logging.disable(logging.WARNING)  # the service logs each repaired failure; the table says it all
    warnings.simplefilter("ignore", DeprecationWarning)
    started = time.monotonic()
    virtual_time.install()
    with tempfile.TemporaryDirectory() as workdir, asyncio.Runner(loop_factory=virtual_time.VirtualTimeLoop) as runner:
        verdicts = runner.run(run_all(Path(workdir)))
    for line in table(verdicts):
        print(line)
    for verdict in verdicts:
        for problem in verdict.problems:
            print(f"! {verdict.case.id}: {problem}")
    duplicates = sum(bool(v.duplicates) for v in verdicts)
    orphans = sum(bool(v.orphans) for v in verdicts)
    lost = sum(bool(v.lost) for v in verdicts)
    other = sum(bool(v.other) for v in verdicts)
    print(f"wall time: {time.monotonic() - started:.1f} s; other problems (crashes, faults that never fired): {other}")
    print(f"fault cases: {len(verdicts)}, duplicates: {duplicates}, orphans: {orphans}, lost: {lost}")
    return 1 if duplicates or orphans or lost or other else 0


if __name__ == "__main__":
    sys.exit(main())
