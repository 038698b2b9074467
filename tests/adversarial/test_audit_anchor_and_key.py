"""Hole 4 of the hostile-input issue: cutting off the end of the trail went unnoticed when the
attacker also moved ``audit_head`` back and recreated the triggers; and someone who knows the
algorithm could rewrite the chain.

Now each committed entry's ``seq hash`` also goes to a witness file (``review.audit_witness``)
and the system log, and ``audit verify --anchor FILE`` checks the trail against them; a keyed
chain (``review.audit_key_file``) carries an HMAC nobody without the key can compute.

The attacker writes the real SQLite file with the ``sqlite3`` command line; where a
rewrite needs new hashes, the test computes them with the published algorithm (the
attacker knows it — it is in the README). The system log is a real Unix datagram socket the
test listens on, in the syslog wire format.
"""

from __future__ import annotations

import json
import os
import socket
import stat

import pytest

from adversarial.reviewhelp import CRASHLOOP, SCALE, cli, cluster, enqueue, environment, exported, kubeconfig, sqlite3_cli, store_path  # noqa: F401
from sreconsole.review import chain


def _trail(tmp_path, env) -> list[dict]:
    """Two proposals, one approved (a dry run), one rejected: six entries."""
    restart, scale = enqueue(tmp_path, env, CRASHLOOP, SCALE)
    cli("review", "approve", str(restart["id"]), "--reason", "go", env=env)
    cli("review", "reject", str(scale["id"]), "--reason", "not needed", env=env)
    return exported(env)


def _triggers(db) -> list[str]:
    return [s for s in sqlite3_cli(db, "SELECT sql || ';;' FROM sqlite_master WHERE type = 'trigger'").split(";;\n") if s.strip()]


def _cut_the_end(env, keep: int, reset_id: int) -> None:
    """The attack: entries after ``keep`` deleted, the head moved back, the rejected row put
    back to pending, and the triggers recreated exactly as they were."""
    db = store_path(env)
    triggers = _triggers(db)
    sqlite3_cli(
        db,
        *(f"DROP TRIGGER {name}" for name in chain.TRIGGERS),
        f"DELETE FROM audit WHERE seq > {keep}",
        f"UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit WHERE seq = {keep})",
        f"UPDATE proposals SET state = 'pending', decided_by = '', decided_from = '', decided_claim = '', decided_at = NULL,"
        f" reason = '', corrected_action = '' WHERE id = {reset_id}",
        *triggers,
    )
    assert len(_triggers(db)) == len(chain.TRIGGERS)


def test_cutting_off_the_end_is_caught_by_the_witness(tmp_path):
    witness = tmp_path / "witness.log"
    env = environment(tmp_path, review_audit_witness=str(witness))
    entries = _trail(tmp_path, env)
    lines = witness.read_text().splitlines()
    assert lines == [f"{e['seq']} {e['hash']}" for e in entries]  # one line per committed entry
    assert stat.S_IMODE(witness.stat().st_mode) == 0o600
    rejected = next(e for e in entries if e["event"] == "reject")

    _cut_the_end(env, rejected["seq"] - 1, rejected["proposal_id"])

    no_anchor = {k: v for k, v in env.items() if k != "SRECONSOLE_REVIEW_AUDIT_WITNESS"}
    assert "hash chain intact" in cli("audit", "verify", env=no_anchor).stdout  # the hole, without an anchor
    out = cli("audit", "verify", "--anchor", str(witness), env=no_anchor, rc=1)
    assert f"the trail ends at entry {rejected['seq'] - 1} but the anchor names entry {rejected['seq']}" in out.stderr
    assert "cut off the end" in out.stderr
    assert "cut off the end" in cli("audit", "verify", env=env, rc=1).stderr  # the configured witness is the default anchor


def test_a_chain_rewritten_with_new_hashes_is_caught_by_the_anchor(tmp_path):
    witness = tmp_path / "witness.log"
    env = environment(tmp_path, review_audit_witness=str(witness))
    entries = _trail(tmp_path, env)
    target = next(e for e in entries if e["event"] == "reject")
    rewritten = []
    prev = None
    for e in entries:  # the reason of the rejection changed, every hash after it recomputed
        e = dict(e)
        if prev is not None:
            e["prev_hash"] = prev
        if e["seq"] == target["seq"]:
            e["reason"] = "approved by the change board"
        e["hash"] = chain.entry_hash(e)
        prev = e["hash"]
        rewritten.append(e)
    db = store_path(env)
    triggers = _triggers(db)
    sqlite3_cli(
        db,
        *(f"DROP TRIGGER {name}" for name in chain.TRIGGERS),
        *(f"UPDATE audit SET reason = '{e['reason']}', prev_hash = '{e['prev_hash']}', hash = '{e['hash']}' WHERE seq = {e['seq']}"
          for e in rewritten if e["seq"] >= target["seq"]),
        f"UPDATE audit_head SET hash = '{rewritten[-1]['hash']}'",
        f"UPDATE proposals SET reason = 'approved by the change board' WHERE id = {target['proposal_id']}",
        *triggers,
    )
    no_anchor = {k: v for k, v in env.items() if k != "SRECONSOLE_REVIEW_AUDIT_WITNESS"}
    assert "hash chain intact" in cli("audit", "verify", env=no_anchor).stdout
    out = cli("audit", "verify", "--anchor", str(witness), env=no_anchor, rc=1)
    assert f"audit entry {target['seq']} is not the one the anchor recorded" in out.stderr and "rewritten" in out.stderr


def test_lines_added_to_the_witness_are_caught(tmp_path):
    witness = tmp_path / "witness.log"
    env = environment(tmp_path, review_audit_witness=str(witness))
    entries = _trail(tmp_path, env)
    with open(witness, "a") as fh:  # the operator may append to it (chattr +a allows that much)
        fh.write(f"{entries[2]['seq']} {'f' * 64}\n")
    out = cli("audit", "verify", env=env, rc=1)
    assert f"the anchor names two hashes for entry {entries[2]['seq']}" in out.stderr


def test_every_entry_goes_to_the_system_log(tmp_path):
    sock_path = tmp_path / "log"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(10)
    try:
        env = environment(tmp_path, review_audit_syslog=str(sock_path))
        entries = _trail(tmp_path, env)
        messages = [server.recv(4096).decode() for _ in entries]
    finally:
        server.close()
    store = str(store_path(env).resolve())
    for e, message in zip(entries, messages):
        assert message.startswith("<86>sreconsole-audit[")  # facility authpriv, severity info
        assert message.rstrip("\x00").endswith(f"]: {e['seq']} {e['hash']} {store}")
    # Lines taken from the log are an anchor too (journalctl -t sreconsole-audit -o cat > FILE).
    anchor = tmp_path / "from-the-journal.txt"
    anchor.write_text("".join(m.rstrip("\x00") + "\n" for m in messages))
    rejected = next(e for e in entries if e["event"] == "reject")
    _cut_the_end(env, rejected["seq"] - 1, rejected["proposal_id"])
    assert "cut off the end" in cli("audit", "verify", "--anchor", str(anchor), env=env, rc=1).stderr


def _key(tmp_path, mode: int):
    key = tmp_path / "audit.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, mode)
    return key


def test_a_key_others_can_read_is_refused(tmp_path):
    key = _key(tmp_path, 0o644)
    env = environment(tmp_path, review_audit_key_file=str(key))
    batch = tmp_path / "one.jsonl"
    batch.write_text(json.dumps({"alert": CRASHLOOP}) + "\n")
    out = cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env, rc=1)
    assert "mode 0644" in out.stderr and f"chmod 600 {key}" in out.stderr
    assert not store_path(env).exists() or json.loads(cli("review", "list", "--json", env=env).stdout) == []


def test_a_forged_seal_without_the_key_is_caught_and_refused(tmp_path, cluster):
    key = _key(tmp_path, 0o600)
    env = environment(tmp_path, review_audit_key_file=str(key), review_apply_risks="low",
                      kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    (entry,) = exported(env)
    assert entry["mac"] and "hash chain intact" in cli("audit", "verify", env=env).stdout

    # The attacker points the row at another pod and re-seals the entry with a fresh hash:
    # everything but the MAC, which needs the key.
    db = store_path(env)
    sqlite3_cli(db, f"""UPDATE proposals SET parameters = '{{"name":"db-0","namespace":"shop"}}' WHERE id = {rec['id']}""")
    row = {"action": "pod-restart", "fingerprint": CRASHLOOP["fingerprint"], "parameters": json.dumps({"name": "db-0", "namespace": "shop"}), "result": None}
    from sreconsole.review.seal import digest

    forged = {**entry, "seal": digest(row), "parameters": {"name": "db-0", "namespace": "shop"}}
    forged["hash"] = chain.entry_hash(forged)
    triggers = _triggers(db)
    sqlite3_cli(
        db,
        *(f"DROP TRIGGER {name}" for name in chain.TRIGGERS),
        f"""UPDATE audit SET seal = '{forged["seal"]}', parameters = '{chain.canonical(forged["parameters"])}', hash = '{forged["hash"]}' WHERE seq = 1""",
        f"UPDATE audit_head SET hash = '{forged['hash']}'",
        *triggers,
    )
    out = cli("audit", "verify", env=env, rc=1)
    assert "audit entry 1 has a wrong MAC" in out.stderr
    refused = cli("review", "approve", str(rec["id"]), "--reason", "go", env=env, rc=1)
    assert "audit entry 1" in refused.stderr and "wrong MAC" in refused.stderr and "nothing sent" in refused.stderr
    assert cluster.sent() == []


def test_a_key_set_on_an_unkeyed_trail_needs_adopting_once(tmp_path):
    env = environment(tmp_path)
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    key = _key(tmp_path, 0o400)
    keyed = {**env, "SRECONSOLE_REVIEW_AUDIT_KEY_FILE": str(key)}
    refused = cli("review", "reject", str(rec["id"]), "--reason", "no", env=keyed, rc=1)
    assert "not keyed" in refused.stderr and "audit adopt-key" in refused.stderr
    assert "keyed chain started at entry 2" in cli("audit", "adopt-key", env=keyed).stdout
    cli("review", "reject", str(rec["id"]), "--reason", "no", env=keyed)
    assert [(e["event"], bool(e["mac"])) for e in exported(keyed)] == [("enqueue", False), ("keyed", True), ("reject", True)]
    assert "hash chain intact" in cli("audit", "verify", env=keyed).stdout
    # Cutting the keyed part off leaves a trail with no MAC: refused with the key.
    _cut_the_end(keyed, 1, rec["id"])
    assert "no audit entry carries a MAC" in cli("audit", "verify", env=keyed, rc=1).stderr


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_group_or_world_readable_keys_are_named(tmp_path, mode):
    from sreconsole.review.errors import ReviewError
    from sreconsole.review.files import load_key

    key = _key(tmp_path, mode)
    with pytest.raises(ReviewError, match=f"mode {mode:04o}"):
        load_key(str(key))


def test_a_witness_that_cannot_be_written_is_reported_and_the_decision_stands(tmp_path):
    witness = tmp_path / "gone" / "witness.log"  # its directory does not exist
    env = environment(tmp_path, review_audit_witness=str(witness))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    out = cli("review", "reject", str(rec["id"]), "--reason", "no", env=env)
    assert f"warning: the audit witness {witness} could not be written" in out.stderr
    assert [e["event"] for e in exported(env)] == ["enqueue", "reject"]  # committed all the same
    (witness.parent).mkdir()
    cli("review", "list", env=env)
    enqueue(tmp_path, env, SCALE)  # the next writer catches the witness up
    assert [int(line.split()[0]) for line in witness.read_text().splitlines()] == [1, 2, 3]
