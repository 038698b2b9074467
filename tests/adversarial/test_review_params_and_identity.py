"""Holes 10 and 8 of the hostile-input issue: a mistyped ``--param`` and a forged identity.

10: ``review approve ID --param nmae=x`` dropped the unknown name silently and deleted the
original pod. Now it is an error naming the parameters the action takes, exit 2, nothing
stored and nothing sent.

8: ``USER=alice SSH_CONNECTION="10.1.1.1 …" sreconsole review approve`` was recorded as
alice@10.1.1.1. Now the decider is the kernel's user (``os.geteuid()``); ``$USER`` and
``SSH_CONNECTION`` are recorded beside it as claims. The second test runs the CLI as the
``nobody`` account (tests run as root here) claiming to be root.

Real CLI processes, real SQLite files, the Kubernetes API stand-in of ``reviewhelp``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from adversarial.reviewhelp import CRASHLOOP, cli, cluster, enqueue, environment, exported, kubeconfig  # noqa: F401

ME = pwd.getpwuid(os.geteuid()).pw_name


def test_an_unknown_parameter_is_an_error_naming_the_valid_ones(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    out = cli("review", "approve", str(rec["id"]), "--reason", "typo", "--param", "nmae=web-2", env=env, rc=2)
    assert "'nmae'" in out.stderr and "name" in out.stderr.split("its parameters are")[1] and "namespace" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert cluster.sent() == []  # the original pod was not acted on
    (still,) = json.loads(cli("review", "list", "--json", env=env).stdout)
    assert still["state"] == "pending" and still["parameters"]["name"] == "web-1"
    assert [e["event"] for e in exported(env)] == ["enqueue"]
    # The right spelling works, and acts on the pod named.
    cli("review", "approve", str(rec["id"]), "--reason", "the other one", "--param", "name=web-2", env=env)
    assert cluster.sent("DELETE") == [("DELETE", "/api/v1/namespaces/shop/pods/web-2", None)]


def test_the_environment_cannot_name_the_decider(tmp_path):
    env = environment(tmp_path)
    env.update(USER="alice", LOGNAME="alice", SSH_CONNECTION="10.1.1.1 50000 10.0.0.1 22")
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    done = json.loads(cli("review", "approve", str(rec["id"]), "--reason", "as alice?", "--json", env=env).stdout)["proposal"]
    assert done["decided_by"] == ME
    if ME != "alice":
        assert done["decided_claim"] == "alice"
    approve = next(e for e in exported(env) if e["event"] == "approve")
    assert approve["user"] == ME and approve["identity"]["uid"] == os.geteuid()
    assert approve["identity"]["ssh_connection"] == "10.1.1.1 50000 10.0.0.1 22" and approve["client"] == "10.1.1.1"
    if ME != "alice":
        assert approve["identity"]["claimed_user"] == "alice"


AS_NOBODY = r"""
import os, pwd, sys
# The interpreter and the project live where only root can go on this machine (/root), so
# the process starts as root, imports what the command needs, then takes nobody's
# effective uid: what the kernel reports from then on is nobody.
import asyncio, sqlite3, json, locale, gettext, argparse, uuid, encodings.ascii, encodings.latin_1, encodings.idna, importlib.readers, importlib.resources, rich.console, rich.table, rich.text
import importlib, pkgutil, sreconsole
# Everything the command could reach (not the TUI), imported while the files can be read.
for info in pkgutil.walk_packages(sreconsole.__path__, "sreconsole."):
    if not info.name.startswith(("sreconsole.tui", "sreconsole.__main__")):
        importlib.import_module(info.name)
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setegid(nobody.pw_gid)
os.seteuid(nobody.pw_uid)
from sreconsole.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_user_claiming_to_be_root_is_recorded_as_who_they_are():
    if os.geteuid() != 0:
        pytest.skip("needs root to give a process another user's uid")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no nobody account on this host")
    # Outside pytest's tmp dir, which only root may enter.
    base = Path(tempfile.mkdtemp(prefix="sreconsole-identity-"))
    try:
        os.chmod(base, 0o755)
        env = environment(base)
        (rec,) = enqueue(base, env, CRASHLOOP)  # queued by root
        for f in [base, *base.rglob("*")]:
            os.chown(f, nobody.pw_uid, nobody.pw_gid)
        env.update(USER="root", LOGNAME="root")
        out = subprocess.run([sys.executable, "-c", AS_NOBODY, "review", "approve", str(rec["id"]), "--reason", "I am root", "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        done = json.loads(out.stdout)["proposal"]
        assert (done["decided_by"], done["decided_claim"]) == ("nobody", "root")
        approve = next(e for e in exported(env) if e["event"] == "approve")
        assert approve["user"] == "nobody" and approve["identity"] == {"uid": nobody.pw_uid, "user": "nobody", "claimed_user": "root"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_the_header_shows_the_real_user_and_marks_the_claim(monkeypatch):
    from textual.widgets import Static

    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app

    monkeypatch.setenv("USER", "alice" if ME != "alice" else "mallory")
    monkeypatch.setenv("SSH_CONNECTION", "10.1.1.1 50000 10.0.0.1 22")
    app = make_app(load_settings())
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        shown = str(app.query_one("#header-operator", Static).render())
    claimed = os.environ["USER"]
    assert shown.startswith(f"{ME}@10.1.1.1") and f"(claims {claimed})" in shown
