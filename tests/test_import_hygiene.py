"""Nothing below ``tui/`` imports Textual, and start-up does not import heavy libraries.

Each check runs in a fresh interpreter so that modules imported by other tests do not hide
an import.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import sreconsole

NON_TUI = sorted(
    m.name
    for m in pkgutil.walk_packages(sreconsole.__path__, "sreconsole.")
    if not m.name.startswith("sreconsole.tui") and m.name != "sreconsole.__main__"
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_every_non_tui_module_imports_without_textual():
    assert "sreconsole.config" in NON_TUI and "sreconsole.sources.demo.simulator" in NON_TUI
    imports = "\n".join(f"import {name}" for name in NON_TUI)
    loaded = _modules_after(imports)
    assert "textual" not in loaded, "a module below tui/ imports textual"


def test_tui_start_up_does_not_import_heavy_libraries():
    code = (
        "from sreconsole.config import load_settings\n"
        "from sreconsole.tui.app import make_app\n"
        "make_app(load_settings(overrides={'demo_mode': True}))\n"
    )
    loaded = _modules_after(code)
    for heavy in ("mlx", "mlflow", "fastembed", "duckdb", "kubernetes", "httpx", "onnxruntime", "numpy"):
        assert heavy not in loaded, f"{heavy} is imported at TUI start-up"
    assert "textual" in loaded  # the check itself can fail
