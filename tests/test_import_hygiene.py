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


def test_the_knowledge_store_does_not_pull_in_pandas():
    """DuckDB imports pandas on any query with parameters, pyarrow on building a table: ~72 MB
    and ~0.45 s of imports a console paid for nothing. The store refuses pandas to its own
    calls only (store_file.without_pandas): pandas still imports for anyone else after."""
    code = (
        "import os, sys, tempfile\n"
        "os.environ['SRECONSOLE_DATA_DIR'] = tempfile.mkdtemp()\n"
        "import duckdb\n"
        "duckdb.connect().execute('SELECT ?', ['x']).fetchall()\n"
        "raw = 'pandas' in sys.modules\n"
        "for name in [m for m in sys.modules if m == 'pandas' or m.startswith('pandas.')]:\n"
        "    del sys.modules[name]\n"
        "from sreconsole.config import load_settings\n"
        "from sreconsole.services.knowledge import KnowledgeService\n"
        "k = KnowledgeService(load_settings(overrides={'demo_mode': True}))\n"
        "k.prepare()\n"
        "found = k.for_alert('KubePodCrashLooping', {'namespace': 'payments'}, 'payments-api crash looping')\n"
        "store = 'pandas' in sys.modules\n"
        "import pandas\n"
        "print(json.dumps({'raw': raw, 'store': store, 'passages': len(found.passages), 'later': pandas.DataFrame({'a': [1]}).shape[0]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["raw"]:
        import pytest

        pytest.skip("this DuckDB no longer imports pandas for parameters: store_file.without_pandas can go")
    assert result["passages"] > 0  # the store really answered
    assert result["store"] is False, "the knowledge store imported pandas"
    assert result["later"] == 1  # and pandas still works for whoever needs it afterwards
