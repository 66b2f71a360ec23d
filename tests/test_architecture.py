"""The picture is the architecture: core never loads textual, tui never imports twilio, sim never imports tui."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_importing_every_core_module_loads_no_textual() -> None:
    modules = [f"core.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "core")])]
    assert modules, "core has no modules to import"
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui', 'sim')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_tui_never_imports_twilio() -> None:
    imported = _imported_modules("tui")
    assert "textual" in imported  # the scan sees tui's imports at all
    assert "twilio" not in imported


def test_sim_never_imports_tui_or_core() -> None:
    imported = _imported_modules("sim")
    assert "aiohttp" in imported
    assert not {"tui", "core", "textual"} & imported


def test_the_app_draws_its_first_frame_before_twilio_and_aiohttp_are_imported() -> None:
    """bench/startup.py's first frame: twilio and aiohttp (≈135 ms of imports) load only when connecting."""
    code = "import sys, tui.cli, tui.app\nprint(sorted(m for m in ('twilio', 'aiohttp', 'sim') if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
