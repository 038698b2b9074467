"""Issue 15, hole 21: ``sreconsole ask --json | head`` ended with a BrokenPipeError traceback.

Every command now stops quietly when the reader of its output goes away, as Unix tools do,
with exit status 141 (128 + SIGPIPE: what a shell reports for ``yes | head``, so
``set -o pipefail`` treats sreconsole like any other tool). The pipes are real: the reading
end is closed before the command writes, so every write meets a closed pipe; and a real
shell pipeline into ``head -c 1`` on output larger than a pipe's buffer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

EXIT_BROKEN_PIPE = 141


def _closed_early(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "sreconsole", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    proc.stdout.close()  # the reader is gone before the first byte is written
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory) -> dict:
    """One data dir for the module: the demo's documents are indexed once, not per command."""
    return {"SRECONSOLE_DATA_DIR": str(tmp_path_factory.mktemp("pipe-data"))}


@pytest.mark.parametrize("args", [
    ("config", "show", "--json"),
    ("config", "show"),  # a Rich table
    ("alerts", "list", "--json"),
    ("alerts", "list"),
    ("doctor", "--json"),
    ("review", "list", "--json"),
    ("pipeline", "list", "--json"),
    ("ask", "how do I fix a crash looping pod", "--json", "--generator", "extractive"),
    ("ask", "how do I fix a crash looping pod"),
    ("kb", "search", "crash looping", "--json"),
])
def test_a_closed_pipe_ends_every_command_quietly(args, shared_data) -> None:
    result = _closed_early(*args, env=shared_data)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == EXIT_BROKEN_PIPE, (result.returncode, err)
    assert err == "", err  # not a traceback, not "Exception ignored ... BrokenPipeError"


def test_a_shell_pipeline_into_head(tmp_path, shared_data) -> None:
    """``sreconsole … | head -c 1`` with more output than a pipe holds (a batch of answers)."""
    env = {**os.environ, **shared_data}
    questions = tmp_path / "q.txt"
    questions.write_text("how do I fix a crash looping pod\n" * 200, encoding="utf-8")
    script = f'set -o pipefail; "{sys.executable}" -m sreconsole ask --batch "{questions}" --json --generator extractive | head -c 1 >/dev/null'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == EXIT_BROKEN_PIPE, (result.returncode, result.stderr)
    assert result.stderr == "", result.stderr
    # and the same command with a reader that stays writes every answer
    full = subprocess.run([sys.executable, "-m", "sreconsole", "ask", "--batch", str(questions), "--json", "--generator", "extractive"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert full.returncode == 0 and len([json.loads(line) for line in full.stdout.splitlines()]) == 200
    assert len(full.stdout.encode()) > 65536  # more than a pipe buffer: head's exit was met mid-stream
