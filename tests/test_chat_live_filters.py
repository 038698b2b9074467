"""Live answers narrowed the way the question says: label values only when something real
has them, time phrases as a window, and the route (intent, topic, filters) reported by
``ask --json``. The three misroutes of the issue 19 trial are here end to end.

Alerts and review records are built in the test; the history is a real knowledge store
(DuckDB, real MiniLM) with incidents written through the real writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.chat.bruno import Bruno
from sreconsole.chat.filters import NEVER, Known, extract, time_window
from sreconsole.domain.alerts import Alert

NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)  # a Monday


def alert(fp: str, minutes_ago: float, **labels) -> Alert:
    return Alert(fp, labels, {"summary": f"{labels.get('alertname')} summary"}, starts_at=NOW - timedelta(minutes=minutes_ago))


ALERTS = [
    alert("a", 3, alertname="KubePodCrashLooping", namespace="payments", pod="payments-api-1", node="worker-5", severity="warning"),
    alert("b", 45, alertname="HighErrorRate", namespace="checkout", deployment="checkout-api", severity="critical"),
    alert("c", 90, alertname="NodeFilesystemSpaceFillingUp", node="worker-2", instance="10.0.0.2:9100", severity="warning"),
    alert("d", 600, alertname="Watchdog", namespace="monitoring", severity="none"),
]


class Knowledge:
    def __init__(self, kb) -> None:
        self.kb = kb

    def prepare(self) -> None:
        pass

    def knowledge_base(self):
        return self.kb


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder) -> Path:
    from sreconsole.knowledge.store import IncidentRecord, Writer

    root = tmp_path_factory.mktemp("live")
    docs = root / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# Notes\n\n## Payments database\n\nThe payments database is postgres-payments.\n", encoding="utf-8")
    path = root / "kb.duckdb"
    with Writer(path, embedder) as w:
        w.index([docs])
        w.add_incidents([
            IncidentRecord("inc-pay", "TargetDown", {"namespace": "payments", "service": "payments-db"}, NOW - timedelta(days=3),
                           NOW - timedelta(days=3) + timedelta(minutes=20), "pod-restart", "resolved", "bob", "the payments database was down; restarted"),
            IncidentRecord("inc-chk", "HighErrorRate", {"namespace": "checkout", "deployment": "checkout-api"}, NOW - timedelta(days=1, hours=2),
                           NOW - timedelta(days=1), "rollback-deployment", "resolved", "alice", "bad rollout"),
            IncidentRecord("inc-old", "KubeNodeNotReady", {"node": "worker-3"}, NOW - timedelta(days=20), NOW - timedelta(days=20), "escalate", "escalated"),
        ])
    return path


@pytest.fixture
def bruno(store, embedder, settings) -> Bruno:
    from sreconsole.knowledge.search import KnowledgeBase

    return Bruno(settings, Knowledge(KnowledgeBase(store, embedder)), alerts=lambda: ALERTS, clock=lambda: NOW)


# -- the three misroutes of the trial ----------------------------------------------------------


def test_last_is_a_time_window_not_a_label(bruno: Bruno) -> None:
    answer = bruno.ask("did anything new start firing in the last 10 minutes?")
    assert (answer.intent, answer.topic) == ("live", "firing")
    assert "for last" not in answer.text
    assert answer.filters["labels"] == {} and answer.filters["since"] == (NOW - timedelta(minutes=10)).isoformat()
    assert [c.path for c in answer.citations] == ["alert:a"]  # the only one younger than 10 minutes
    assert answer.text.startswith("1 alert firing, started (in the last 10 minutes):")


def test_them_is_not_a_label_and_which_nodes_names_the_nodes(bruno: Bruno) -> None:
    answer = bruno.ask("which nodes have alerts on them at the moment")
    assert (answer.intent, answer.topic) == ("live", "firing")
    assert "for them" not in answer.text and answer.filters["labels"] == {}
    assert answer.text.startswith("2 alerts firing on 2 nodes: worker-2, worker-5:")
    assert sorted(c.path for c in answer.citations) == ["alert:a", "alert:c"]


def test_last_time_the_payments_database_was_down_is_the_history(bruno: Bruno) -> None:
    answer = bruno.ask("what did we do last time the payments database was down?")
    assert (answer.intent, answer.topic) == ("live", "history")
    assert answer.filters["labels"] == {"namespace": "payments"}
    assert [c.path for c in answer.citations] == ["incident:inc-pay"]
    assert "pod-restart → resolved" in answer.text


# -- label values only from what is known ------------------------------------------------------


def test_label_values_come_only_from_the_alerts_queue_and_history(bruno: Bruno) -> None:
    answer = bruno.ask("what's firing in payments right now")
    assert answer.filters["labels"] == {"namespace": "payments"} and [c.path for c in answer.citations] == ["alert:a"]
    crit = bruno.ask("any criticals in checkout?")
    assert crit.filters["labels"] == {"namespace": "checkout", "severity": "critical"} and [c.path for c in crit.citations] == ["alert:b"]
    node = bruno.ask("is worker-2 ok")
    assert node.filters["labels"] == {"node": "worker-2"} and [c.path for c in node.citations] == ["alert:c"]
    # worker-3 is only in the history: a real node, nothing firing on it now
    quiet = bruno.ask("anything firing on worker-3?")
    assert quiet.filters["labels"] == {"node": "worker-3"} and quiet.text == "Nothing is firing for worker-3."
    # a scope nothing knows is said so, and narrows nothing
    nowhere = bruno.ask("what is firing in frobnitz?")
    assert nowhere.filters["unknown"] == ["frobnitz"] and nowhere.text.startswith("Nothing is firing for frobnitz; 4 alerts are firing elsewhere")


@pytest.mark.parametrize("word", ["last", "them", "now", "it", "this", "today", "none", "alerts"])
def test_words_that_are_never_label_values(word: str) -> None:
    known = Known({"namespace": {word: word}, "severity": {"none": "none"}})
    assert word in NEVER
    assert extract(f"what is firing for {word} in {word}", known, NOW).labels == {}


def test_known_values_from_records_of_every_kind() -> None:
    class Record:
        labels, namespace, alertname = {"team": "core"}, "billing", "KubeJobFailed"

    known = Known.from_records(ALERTS, [Record()], [{"alertname": "TargetDown", "labels": {"service": "payments-db"}}])
    assert known.lookup("billing") == ("namespace", "billing")
    assert known.lookup("kubejobfailed") == ("alertname", "KubeJobFailed")
    assert known.lookup("payments-db") == ("service", "payments-db")
    assert known.lookup("warnings") == ("severity", "warning")
    assert known.lookup("frobnitz") is None


@pytest.mark.parametrize(("phrase", "since", "until"), [
    ("in the last 10 minutes", NOW - timedelta(minutes=10), None),
    ("past hour", NOW - timedelta(hours=1), None),
    ("last 30m", NOW - timedelta(minutes=30), None),
    ("in the past 24h", NOW - timedelta(hours=24), None),
    ("an hour ago", NOW - timedelta(hours=1), None),
    ("since yesterday", datetime(2026, 11, 22, tzinfo=timezone.utc), None),
    ("yesterday", datetime(2026, 11, 22, tzinfo=timezone.utc), datetime(2026, 11, 23, tzinfo=timezone.utc)),
    ("today", datetime(2026, 11, 23, tzinfo=timezone.utc), None),
    ("this morning", datetime(2026, 11, 23, 6, tzinfo=timezone.utc), None),
    ("last night", datetime(2026, 11, 22, 18, tzinfo=timezone.utc), datetime(2026, 11, 23, 6, tzinfo=timezone.utc)),
    ("since last night", datetime(2026, 11, 22, 18, tzinfo=timezone.utc), None),
    ("over the weekend", datetime(2026, 11, 21, tzinfo=timezone.utc), datetime(2026, 11, 23, tzinfo=timezone.utc)),
    ("this week", datetime(2026, 11, 23, tzinfo=timezone.utc), None),
    ("this month", datetime(2026, 11, 1, tzinfo=timezone.utc), None),
    ("since 9am", datetime(2026, 11, 23, 9, tzinfo=timezone.utc), None),
    ("since 7pm", datetime(2026, 11, 22, 19, tzinfo=timezone.utc), None),  # 7 pm today is still to come
    ("since friday", datetime(2026, 11, 20, tzinfo=timezone.utc), None),
])
def test_time_phrases_become_windows(phrase: str, since, until) -> None:
    got_since, got_until, said, rest = time_window(f"what fired {phrase}?", NOW)
    assert (got_since, got_until) == (since, until)
    assert said.lower() == phrase and phrase not in rest


@pytest.mark.parametrize("question", ["what did we do last time KubePodCrashLooping fired", "show the previous time", "what is firing now"])
def test_last_time_and_now_are_not_windows(question: str) -> None:
    assert time_window(question, NOW)[:2] == (None, None)


def test_history_without_a_subject_lists_the_window(bruno: Bruno) -> None:
    answer = bruno.ask("what incidents did we have in the past 2 days")
    assert (answer.intent, answer.topic) == ("live", "history")
    assert [c.path for c in answer.citations] == ["incident:inc-chk"]
    assert answer.text.startswith("Past incidents for in the past 2 days, newest first:")


def test_review_answers_narrow_by_queue_labels_and_time(bruno: Bruno) -> None:
    class Record:
        def __init__(self, id, namespace, hours_ago):
            self.id, self.alertname, self.namespace, self.action = id, "KubePodCrashLooping", namespace, "pod-restart"
            self.labels, self.risk, self.confidence, self.method, self.command = {}, "low", 0.4, "trm", "kubectl x"
            self.review_reasons, self.created_at = (), NOW - timedelta(hours=hours_ago)

    class Queue:
        def list(self):
            return [Record(1, "payments", 1), Record(2, "billing", 30)]

    bruno.review_queue = Queue()
    billing = bruno.ask("anything waiting on me in billing?")
    assert (billing.topic, billing.filters["labels"]) == ("review", {"namespace": "billing"})
    assert [c.path for c in billing.citations] == ["review:2"]
    recent = bruno.ask("what got proposed in the last 2 hours")
    assert recent.filters["labels"] == {} and [c.path for c in recent.citations] == ["review:1"]


# -- the route in ask --json -------------------------------------------------------------------


def test_ask_json_reports_the_route(store, tmp_path) -> None:
    env = {**os.environ, "SRECONSOLE_KNOWLEDGE_STORE": str(store), "SRECONSOLE_KNOWLEDGE_PATHS": str(tmp_path / "none")}
    out = {}
    for q in ("how do I fix a crash looping pod", "which nodes have alerts on them at the moment",
              "did anything new start firing in the last 10 minutes?", "what did we do last time the payments database was down?",
              "what can you do", "you there?"):
        proc = subprocess.run([sys.executable, "-m", "sreconsole", "ask", "--json", q], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[q] = json.loads(proc.stdout)
    assert out["how do I fix a crash looping pod"]["intent"] == "knowledge" and "topic" not in out["how do I fix a crash looping pod"]
    nodes = out["which nodes have alerts on them at the moment"]
    assert (nodes["intent"], nodes["topic"], nodes["filters"]["labels"]) == ("live", "firing", {})
    new = out["did anything new start firing in the last 10 minutes?"]
    assert new["topic"] == "firing" and new["filters"]["time"] == "in the last 10 minutes"
    since = datetime.fromisoformat(new["filters"]["since"])
    assert timedelta(minutes=9) < datetime.now(timezone.utc) - since < timedelta(minutes=12)
    history = out["what did we do last time the payments database was down?"]
    assert (history["topic"], history["filters"]["labels"]) == ("history", {"namespace": "payments"})
    assert history["citations"][0]["path"] == "incident:inc-pay"
    assert out["what can you do"]["intent"] == "capability"
    assert out["you there?"]["intent"] == "smalltalk" and out["you there?"]["answer"].startswith("I'm here")
