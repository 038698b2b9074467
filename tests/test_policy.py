"""The approval policy (review/policy.py): rules by group, refusals that name the rule,
read-only operators, four eyes — the pure checks, then the store's four-eyes and
no-self-approval on both backends (SQLite and a real PostgreSQL), the console's queue with
a policy on PostgreSQL (database roles as groups), and the CLI's refusals (exit 6)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from sreconsole.domain.operator import Operator
from sreconsole.review import audit, pg_backend
from sreconsole.review.errors import PolicyRefused
from sreconsole.review.policy import Policy, PolicyError
from test_review_backends import Backend, backend, pg  # noqa: F401 - fixtures
from test_review_store import T0, make

TEAM = """
[rules.oncall]
groups = ["oncall", "sreconsole_operator"]
approve_risks = ["low", "medium"]
silence = true

[rules.leads]
groups = ["sre_leads"]
approve_risks = ["low", "medium", "high"]
approve_actions = ["*"]
silence = true
promote = true

[four_eyes]
risks = ["high"]
"""

ALICE, BOB, CAROL = Operator("alice", "10.0.0.5"), Operator("bob", "10.0.0.6"), Operator("carol", "10.0.0.7")


def test_rules_allow_by_group_and_every_refusal_names_the_rule():
    policy = Policy.parse(__import__("tomllib").loads(TEAM), "team.toml")
    assert policy.may_decide("ann", {"oncall"}, "medium", "scale-deployment")
    refused = policy.may_decide("ann", {"oncall"}, "high", "rollback-deployment")
    assert not refused and refused.rule == "rules.oncall"
    assert "rules.oncall does not let ann approve high-risk rollback-deployment" in refused.reason and "rules.leads does" in refused.reason
    assert policy.may_decide("lee", {"sre_leads"}, "high", "rollback-deployment").rule == "rules.leads"
    nobody = policy.may_decide("rita", {"auditors"}, "low", "pod-restart")
    assert not nobody and nobody.rule == "no rule" and "read-only" in nobody.reason
    assert policy.read_only({"auditors"}) and not policy.read_only({"oncall"})
    assert policy.may("ann", {"oncall"}, "silence") and not policy.may("ann", {"oncall"}, "promote")
    assert "rules.leads" in policy.may("ann", {"oncall"}, "promote").reason
    assert policy.approvals_needed("high") == 2 and policy.approvals_needed("medium") == 1
    assert Policy.open().may_decide("x", set(), "high", "anything") and Policy.open().approvals_needed("high") == 1


def test_actions_can_be_limited():
    policy = Policy.parse({"rules": {"restarts": {"groups": ["oncall"], "approve_risks": ["low", "medium"],
                                                  "approve_actions": ["pod-restart", "rollout-restart"]}}})
    assert policy.may_decide("ann", {"oncall"}, "low", "pod-restart")
    assert not policy.may_decide("ann", {"oncall"}, "medium", "scale-deployment")


@pytest.mark.parametrize("text, words", [
    ("[rules.x]\ngroups = 'oncall'\n", "rules.x.groups must be a list"),
    ("[rules.x]\ngroups = ['a']\napprove_risks = ['severe']\n", "'severe' is not one of low, medium, high"),
    ("[rules.x]\ngroups = ['a']\nsudo = true\n", "unknown key 'sudo'"),
    ("[four_eyes]\nrisks = ['extreme']\n", "four_eyes.risks"),
    ("[who]\n", "unknown section 'who'"),
    ("[rules.x\n", "policy.toml"),
])
def test_a_policy_file_that_cannot_be_used_is_one_line(tmp_path: Path, text: str, words: str):
    f = tmp_path / "policy.toml"
    f.write_text(text)
    with pytest.raises(PolicyError) as err:
        Policy.load(f)
    assert words in str(err.value) and "\n" not in str(err.value)


# -- the store: four eyes and no self-approval, on both backends -------------------------------------

def test_four_eyes_needs_two_different_people_and_both_are_in_the_audit(backend: Backend):
    with backend.open("alice") as mine, backend.open("bob") as theirs:
        rec = mine.enqueue(*make(), now=T0, operator=ALICE)
        first = mine.decide(rec.id, "approved", ALICE, "looks right", now=T0, approvals_needed=2)
        assert first.state == "pending" and [a["user"] for a in first.approvals] == ["alice"]
        with pytest.raises(PolicyRefused, match=r"alice approved it already \(1 of 2\); four eyes") as again:
            mine.decide(rec.id, "approved", ALICE, "really", now=T0, approvals_needed=2)
        assert again.value.rule == "four eyes"
        with pytest.raises(PolicyRefused, match="cannot change the parameters"):
            theirs.decide(rec.id, "approved", BOB, "", parameters={"namespace": "payments", "pod": "other"}, now=T0, approvals_needed=2)
        second = theirs.decide(rec.id, "approved", BOB, "agreed", now=T0, approvals_needed=2)
        assert second.state == "approved" and second.decided_by == "bob"
    entries = [e for e in audit.export(backend.location()) if e["proposal_id"] == rec.id]
    assert [(e["event"], e["user"]) for e in entries] == [("enqueue", "alice"), ("endorse", "alice"), ("approve", "bob")]
    assert entries[1]["snapshot"]["approval"] == "1 of 2" and entries[2]["snapshot"]["approvals"] == ["alice", "bob"]
    assert audit.verify(backend.location()).ok


def test_an_approval_written_into_the_row_by_hand_does_not_count(backend: Backend):
    with backend.open("bob") as theirs:
        rec = theirs.enqueue(*make(), now=T0, operator=BOB)
        forged = json.dumps([{"user": "alice", "client": "", "at": T0.isoformat(), "reason": "trust me"}])
        backend.tamper("UPDATE proposals SET approvals = ? WHERE id = ?", (forged, rec.id))
        after = theirs.decide(rec.id, "approved", BOB, "", now=T0, approvals_needed=2)
        assert after.state == "pending" and [a["user"] for a in after.approvals] == ["bob"]  # still 1 of 2


def test_nobody_approves_a_proposal_they_created_from_bruno(backend: Backend):
    proposal, alert = make()
    proposal = dataclasses.replace(proposal, method="chat", confidence=None)
    with backend.open("alice") as mine, backend.open("bob") as theirs:
        rec = mine.enqueue(proposal, alert, now=T0, operator=ALICE)
        with pytest.raises(PolicyRefused, match="alice created this proposal from Bruno.*no self-approval") as refused:
            mine.decide(rec.id, "approved", ALICE, "mine", now=T0)
        assert refused.value.rule == "no self-approval" and mine.get(rec.id).state == "pending"
        assert mine.decide(rec.id, "rejected", ALICE, "changed my mind", now=T0).state == "rejected"  # rejecting is fine
        rec2 = mine.enqueue(*[dataclasses.replace(make("fp-2")[0], method="chat")], make("fp-2")[1], now=T0, operator=ALICE)
        assert theirs.decide(rec2.id, "approved", BOB, "", now=T0).state == "approved"


# -- the console's queue with the team policy on PostgreSQL ---------------------------------------

def _high_risk(store, operator):
    proposal, alert = make("fp-high", action="rollback-deployment")
    proposal = dataclasses.replace(proposal, risk="high", parameters={"name": "api", "namespace": "payments"},
                                   command="kubectl rollout undo deployment/api -n payments", api=None)
    return store.enqueue(proposal, alert, now=T0, operator=operator)


def test_the_team_policy_on_postgresql_from_the_consoles_queue(pg: Backend, settings, tmp_path: Path):
    """Groups are database roles: alice and bob are members of sre_leads, carol only an
    operator, rita a reader. High risk needs two of the leads; carol is refused by her rule."""
    from sreconsole.services.review import ReviewQueue

    with pg.pg.admin(pg.database) as admin:
        admin.execute("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sre_leads') THEN"
                      " CREATE ROLE sre_leads NOLOGIN; END IF; END$$")
        admin.execute("GRANT sre_leads TO alice, bob")
    policy = tmp_path / "policy.toml"
    policy.write_text(TEAM)

    def queue(role: str, operator: Operator) -> ReviewQueue:
        s = replace(settings, review=replace(settings.review, store=str(pg.location(role)), policy_file=str(policy)))
        return ReviewQueue(s, operator)

    alice, bob, carol, rita = queue("alice", ALICE), queue("bob", BOB), queue("carol", CAROL), queue("rita", Operator("rita"))
    try:
        rec = _high_risk(alice.store, ALICE)
        assert "sre_leads" in alice.groups and "sre_leads" not in carol.groups
        with pytest.raises(PolicyRefused, match="rules.oncall does not let carol approve high-risk rollback-deployment"):
            carol.approve(rec.id, "I think so", execute=False)
        assert not rita.may_decide(rec) and "read-only" in rita.may_decide(rec).reason
        first = alice.approve(rec.id, "the rollout broke checkout", execute=False)
        assert first.record.state == "pending" and "approval 1 of 2" in first.message
        with pytest.raises(PolicyRefused, match="four eyes"):
            alice.approve(rec.id, "again", execute=False)
        done = bob.approve(rec.id, "agreed", execute=False)
        assert done.record.state == "approved" and done.record.decided_by == "bob"
        with pytest.raises(PolicyRefused, match="read-only"):
            rita.reject(rec.id, "no")
    finally:
        for q in (alice, bob, carol, rita):
            q.close()
    events = [(e["event"], e["user"]) for e in audit.export(pg.location()) if e["proposal_id"] == rec.id]
    assert events == [("enqueue", "alice"), ("endorse", "alice"), ("approve", "bob")]


def test_the_cli_refuses_with_the_rule_and_exit_6(tmp_path: Path):
    """SQLite, Unix groups: the user running the tests is in its own primary group; a policy
    that lets that group approve low risk only refuses the medium-risk cordon (exit 6)."""
    import grp

    from test_review_flow import ALERTS, cli

    group = grp.getgrgid(os.getegid()).gr_name
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[rules.oncall]\ngroups = ["{group}"]\napprove_risks = ["low"]\n')
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env |= {"SRECONSOLE_DATA_DIR": str(tmp_path / "data"), "SRECONSOLE_KNOWLEDGE_ENABLED": "0", "COLUMNS": "200",
            "SRECONSOLE_REVIEW_POLICY_FILE": str(policy), "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    batch = tmp_path / "alerts.jsonl"
    batch.write_text("".join(json.dumps({"alert": a}) + "\n" for a in ALERTS))
    cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)
    listed = {r["action"]: r for r in json.loads(cli("review", "list", "--json", env=env).stdout)}
    refused = cli("review", "approve", str(listed["cordon-node"]["id"]), "--reason", "drain it", env=env, check_rc=6)
    assert "refused: " in refused.stderr and "rules.oncall does not let" in refused.stderr and "medium-risk cordon-node" in refused.stderr
    cli("review", "reject", str(listed["pod-restart"]["id"]), "--reason", "not needed", env=env)
    nobody = tmp_path / "nobody.toml"
    nobody.write_text('[rules.leads]\ngroups = ["sre-leads-only"]\napprove_risks = ["low", "medium", "high"]\n')
    env["SRECONSOLE_REVIEW_POLICY_FILE"] = str(nobody)
    read_only = cli("review", "reject", str(listed["cordon-node"]["id"]), "--reason", "x", env=env, check_rc=6)
    assert "is in no rule of the policy" in read_only.stderr and "read-only" in read_only.stderr
    assert json.loads(cli("review", "list", "--json", env=env).stdout)  # still sees everything


async def test_the_review_pane_greys_out_what_the_policy_refuses_and_says_why(make_demo_app, tmp_path: Path):
    """A policy in which the operator is in no rule: the Review pane shows the queue, greys
    out approve and reject (Textual's check_action → None: the footer shows them disabled),
    names the rule in the detail, and pressing a opens no dialog."""
    from sreconsole.config import load_settings
    from sreconsole.tui.panes.review import ApproveScreen, ReviewPane
    from test_review_flow import ALERTS, _queue_with, open_review

    policy = tmp_path / "policy.toml"
    policy.write_text('[rules.leads]\ngroups = ["sre-leads-only"]\napprove_risks = ["low", "medium", "high"]\n')
    settings = load_settings()
    settings = replace(settings, review=replace(settings.review, policy_file=str(policy)))
    queue, _ = _queue_with(settings, ALERTS)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_review(app, pilot, 2)
        assert isinstance(pane, ReviewPane) and pane.selected() is not None
        assert pane.check_action("approve", ()) is None and pane.check_action("reject", ()) is None
        assert pane.check_action("dry_run", ()) is True and pane.check_action("history", ()) is True
        from rich.console import Console

        console = Console(width=200, record=True, file=open(os.devnull, "w"))
        console.print(pane.query_one("#review-detail").content)
        detail = console.export_text()
        assert "a greyed:" in detail and "is in no rule of the policy" in detail and "rules.leads" in detail
        await pilot.press("a")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ApproveScreen)
        assert all(r.state == "pending" for r in pane.records.values())


async def test_silence_and_promote_follow_the_policy(settings, tmp_path: Path):
    """The alerts service and the training board ask the policy before acting: an operator
    whose rule does not say ``silence``/``promote`` is refused, naming the rule, and nothing
    reaches the alert source or the model registry (a recorder stands in for the source: the
    refusal must come before any call, so no server is involved)."""
    import grp

    from sreconsole.services.alerts import AlertsService
    from sreconsole.services.review import ReviewQueue
    from sreconsole.services.training import TrainingBoard
    from sreconsole.sources.base import SourceError
    from test_review_flow import cli

    group = grp.getgrgid(os.getegid()).gr_name
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[rules.oncall]\ngroups = ["{group}"]\napprove_risks = ["low"]\n'
                      '[rules.leads]\ngroups = ["sre-leads-only"]\nsilence = true\npromote = true\n')
    team = replace(settings, review=replace(settings.review, policy_file=str(policy)))
    me = Operator(__import__("pwd").getpwuid(os.geteuid()).pw_name)
    queue = ReviewQueue(team, me)

    class Recording:
        made: list = []

        async def create_silence(self, *args):
            self.made.append(args)
            return "s-1"

    service = AlertsService(Recording(), lambda: T0)
    service.allow = queue.refusal
    _, alert = make()
    with pytest.raises(SourceError, match=r"refused: rule rules.oncall does not let .* silence .*rules.leads does"):
        await service.silence(alert, __import__("datetime").timedelta(hours=1), "maintenance", me)
    with pytest.raises(SourceError, match="refused"):
        await service.acknowledge(alert, me)
    assert Recording.made == []
    board = TrainingBoard(team)
    board.allow = queue.refusal
    with pytest.raises(ValueError, match="refused: rule rules.oncall does not let .* promote"):
        board.promote("run-1")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env |= {"SRECONSOLE_DATA_DIR": str(tmp_path / "data"), "SRECONSOLE_REVIEW_POLICY_FILE": str(policy),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = cli("pipeline", "promote", "run-1", env=env, check_rc=6)
    assert "refused: rule rules.oncall does not let" in out.stderr
