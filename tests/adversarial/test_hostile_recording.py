"""A recording is a file someone hands you: ``sreconsole replay`` must treat it as outside
text, like an alert. This one is crafted by hand (never through the recorder, which would
clean it): every attack of ``hostile.py`` in labels, annotations, a decision's reason and
its operator; an alert of an unknown state, one with labels of the wrong type, a queue
record missing its fields. The replay shows what it can, drops what it cannot read, and
nothing reaches the terminal as an escape, markup or a click action.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

from adversarial.hostile import ATTACKS, screen_faults, toasts, until
from sreconsole.config import load_settings
from sreconsole.domain.operator import Operator
from sreconsole.services.replay import open_replay
from sreconsole.tui.app import make_app

from conftest import wait_for_polls

START = datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc)


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def _alert(kind: str, text: str) -> dict:
    labels = {"alertname": f"Hostile{kind.title().replace('-', '')}", "severity": "critical", "namespace": text[:300], "pod": text[:300]}
    return {"fingerprint": f"{abs(hash(kind)):016x}"[:16], "labels": labels, "annotations": {"summary": text[:2000], "runbook_url": text[:300]},
            "starts_at": START.isoformat(), "state": "firing"}


async def test_a_hostile_recording_replays_without_reaching_the_terminal(tmp_path) -> None:
    path = tmp_path / "hostile.jsonl.gz"
    alerts = [_alert(k, t) for k, t in ATTACKS.items()]
    broken = [{"fingerprint": "bad1", "labels": {"alertname": "X"}, "state": "exploded"},
              {"fingerprint": "bad2", "labels": ["not", "a", "map"], "state": "firing"}]
    reason = " ".join(ATTACKS.values())[:5000]
    data = b"".join([
        _line({"format": "sreconsole-recording", "version": 1, "started_at": START.isoformat(), "source": ATTACKS["osc52"], "settings": []}),
        _line({"t": (START + timedelta(seconds=1)).isoformat(), "kind": "poll", "alerts": alerts + broken, "gone": [], "source": "demo",
               "health": "ok", "reason": "", "error": ""}),
        _line({"t": (START + timedelta(seconds=2)).isoformat(), "kind": "queue", "records": [{"id": 1, "action": ATTACKS["markup-click"]}]}),
        _line({"t": (START + timedelta(seconds=3)).isoformat(), "kind": "decision", "verdict": ATTACKS["markup-style"], "id": 1,
               "action": ATTACKS["markup-click"], "operator": ATTACKS["csi"], "reason": reason, "fingerprints": [alerts[0]["fingerprint"]]}),
        _line({"t": (START + timedelta(seconds=4)).isoformat(), "kind": "poll", "alerts": "not a list", "gone": 7, "source": "demo"}),
    ])
    path.write_bytes(gzip.compress(data))
    session = open_replay(path, speed=1)
    session.timeline.seek(1.5, pause=True)
    app = make_app(load_settings(overrides={"read_only": True, "data_dir": str(tmp_path / "data")}), replay=session,
                   operator=Operator("alice"))

    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_polls(app, pilot)
        shown = app.alerts_service.source._cache[1]
        assert len(shown) == len(alerts)  # the two broken alerts are left out, the rest shown
        assert screen_faults(app) == []
        await pilot.press("right_square_bracket")  # the decision's toast, all of it hostile
        await until(pilot, lambda: any("decision" in t for t in toasts(app)), "the decision toast")
        assert screen_faults(app) == []
        for message in toasts(app):
            assert "\x1b" not in message and "\u009b" not in message and "\u202e" not in message
        await pilot.press("full_stop")  # onto the poll whose alerts are not a list
        await pilot.pause(0.3)
        assert screen_faults(app) == []
        assert app.is_running  # the click action in the text never ran app.quit
