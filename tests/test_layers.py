"""The layers of the code (README, "Layout of the code") hold: ``lint-imports`` keeps every
contract in pyproject.toml (imports point down only, nothing outside tui/ imports textual,
Bruno and the review queue do not know each other).

It reads the source statically, so it also sees imports made inside functions, which the
subprocess checks in test_import_hygiene.py never execute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.is_file(), f"{lint} is missing: install the test extra (pip install -e '.[test]')"
    # This checkout's src/ first, so the graph is of the code under test, not of whatever
    # copy of sreconsole the interpreter happens to have installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)}
    out = subprocess.run(
        [str(lint), "--no-cache", "--no-logo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"lint-imports exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", out.stdout)
    assert kept and int(kept.group(1)) >= 3, out.stdout  # the contracts were read and all ran
