"""The conversation on disk: ``<data dir>/chat/history.jsonl``, one JSON object a line.

Appending only (several consoles on one bastion may share the data dir; a line is written
in one call). ``{"role": "new"}`` marks a new chat: :meth:`ChatHistory.load` returns the
turns after the last one. Unreadable lines are skipped, a missing or unwritable file is no
history: the conversation on screen is what matters.
"""

from __future__ import annotations

import json
from pathlib import Path

from sreconsole.domain.chat import Answer, ChatTurn, Citation

READ_LINES = 400
"""Only the end of the file is read back (it grows for as long as nobody starts a new chat)."""
KEEP_TURNS = 40


class ChatHistory:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> list[ChatTurn]:
        if self.path is None or not self.path.exists():
            return []
        turns: list[ChatTurn] = []
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()[-READ_LINES:]
        except OSError:
            return []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            if row.get("role") == "new":
                turns = []
            elif row.get("role") in ("user", "assistant") and isinstance(row.get("text"), str):
                raw = row.get("citations") if isinstance(row.get("citations"), list) else []
                cites = tuple(c for c in (_citation(n, d) for n, d in enumerate(raw, 1)) if c is not None)
                turns.append(ChatTurn(row["role"], row["text"], str(row.get("generator", "")), cites))
        return turns[-KEEP_TURNS:]

    def record(self, answer: Answer) -> None:
        self._append(
            {"role": "user", "text": answer.query},
            {"role": "assistant", "text": answer.text, "generator": answer.generator, "citations": [c.as_dict() for c in answer.citations]},
        )

    def new_chat(self) -> None:
        self._append({"role": "new"})

    def _append(self, *rows: dict) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        except OSError:
            pass  # history is a convenience; the answer is on screen


def _citation(n: int, d: object) -> Citation | None:
    """A stored citation back as a :class:`Citation` (its passage text is not kept: the
    side panel reads the file), or ``None`` for a line someone edited into nonsense."""
    if not isinstance(d, dict) or not isinstance(d.get("path"), str):
        return None
    try:
        start, end = int(d.get("start_line", 1)), int(d.get("end_line", 1))
    except (TypeError, ValueError):
        return None
    return Citation(n, d["path"], start, end, str(d.get("heading", "")), "")
