"""The fault matrix as a table: every Twilio step of every send path × every fault kind, on fresh simulators,
then the send keys pressed three times in every mode with both draft settings, in the app.

Run: .venv/bin/python bench/faults.py
The cases are tests/test_fault_matrix.py's CASES and UNKNOWN_CASES (every create's answer lost and every read
after it failing: the outcome stays unknown until a later look-up settles it), on the tests' virtual-time event
loop (a 10 s deadline or a 15 s hang costs no real time; tests/virtual_time.py). Prints one row per path and
step, one column per fault (the outcome the agent was told, `!` when the simulator's state disagrees), the
problems; then the double presses (the app headless at 80×24 on its simulator, the key pressed 3 times 0.15 s
apart, with the send answered at once and with 1 s of latency); and last
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
from tests.test_fault_matrix import CASES, FAULTS, UNKNOWN, UNKNOWN_CASES, Verdict, matrix_config, run_case  # noqa: E402


async def run_all(workdir: Path) -> list[Verdict]:
    verdicts = []
    for case in CASES + UNKNOWN_CASES:
        async with Simulator(matrix_config()) as sim:  # a fresh world on 127.0.0.1 for every case
            verdicts.append(await run_case(sim, workdir, case))
    return verdicts


def table(verdicts: list[Verdict]) -> list[str]:
    rows: dict[str, dict[str, str]] = {}
    for verdict in verdicts:
        row = rows.setdefault(f"{verdict.case.path.name} / {verdict.case.step.name}", {})
        row[verdict.case.fault] = verdict.outcome + (" !" if verdict.problems else "")
    first = max(len(name) for name in rows)
    columns = [*FAULTS, UNKNOWN]
    widths = {fault: max([len(fault)] + [len(row.get(fault, "")) for row in rows.values()]) for fault in columns}
    lines = [" | ".join(["path / step".ljust(first)] + [fault.ljust(widths[fault]) for fault in columns])]
    lines.append("-+-".join(["-" * first] + ["-" * widths[fault] for fault in columns]))
    for name, row in rows.items():
        lines.append(" | ".join([name.ljust(first)] + [row.get(fault, "").ljust(widths[fault]) for fault in columns]))
    return lines


PRESS_KEYS = {"open_chat": "ctrl+o", "wait_me": "ctrl+r", "wait_any": "ctrl+t"}


async def double_press(workdir: Path, mode: str, keep: bool, latency: float) -> tuple[str, int]:
    """The send key pressed three times, 0.15 s apart: how many times the message reached the customer."""
    from tests.outbound_fixtures import JANE, project_settings
    from tests.tui_fixtures import SimBackend, settle, sim_of, type_draft

    backend = SimBackend(project_settings(workdir, ui={"keep_draft_after_send": keep}))
    app = backend.app()
    body = f"Pressed three times ({mode}, keep={keep}, latency={latency})"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        sim_of(backend).world.config.latency = latency
        await type_draft(pilot, "4155550100", body)
        for _ in range(3):
            await pilot.press(PRESS_KEYS[mode])
            await pilot.pause(0.15)
        await settle(pilot)
        reached = [m for c in sim_of(backend).world.conversations.conversations.values()
                   if c.customer and c.customer.address == JANE.address for m in c.messages if m.body == body]
        said = str(app.query_one("#status").render())
    return said, len(reached)


async def double_presses(workdir: Path) -> list[tuple[str, str, int]]:
    found = []
    for mode in PRESS_KEYS:
        for keep in (False, True):
            for latency in (0.0, 1.0):
                said, reached = await double_press(workdir, mode, keep, latency)
                found.append((f"{mode:<9} keep_draft={keep!s:<5} latency={latency:.0f} s", said, reached))
    return found


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
    with tempfile.TemporaryDirectory() as workdir:
        presses = asyncio.run(double_presses(Path(workdir)))  # Textual runs on real time
    print("\nsend key pressed 3 times, 0.15 s apart | reached the customer | the app said")
    for case, said, reached in presses:
        print(f"{case} | {reached} | {said}")
    duplicates = sum(bool(v.duplicates) for v in verdicts) + sum(reached > 1 for _, _, reached in presses)
    orphans = sum(bool(v.orphans) for v in verdicts)
    lost = sum(bool(v.lost) for v in verdicts)
    other = sum(bool(v.other) for v in verdicts)
    print(f"wall time: {time.monotonic() - started:.1f} s; other problems (crashes, faults that never fired): {other}")
    lost += sum(reached == 0 for _, _, reached in presses)  # a key pressed three times sends once
    print(f"fault cases: {len(verdicts) + len(presses)}, duplicates: {duplicates}, orphans: {orphans}, lost: {lost}")
    return 1 if duplicates or orphans or lost or other else 0


if __name__ == "__main__":
    sys.exit(main())
