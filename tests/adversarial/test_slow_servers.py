"""Issue 15, hole 11 (and the "garbage, slow and dead servers" class): a server that trickles
one byte at a time must not hold any call, the CLI or the header.

Every read of a trickling answer returns in time, so only a *total* deadline ends the call.
The slow and garbage servers are :class:`faultserver.FaultServer`, a fault injector on
loopback (no real server can be made to trickle on demand); the dead server is the real
Alertmanager killed with SIGKILL in ``tests/test_live_alertmanager.py::
test_killed_alertmanager_goes_stale_then_down_and_recovers``.

``HANG`` bounds how long a test waits for a call that, before the fix, never ended: it
turns a hang into a failure. It is not a measure of speed (the calls end in about their
configured one or two seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from faultserver import FaultServer
from sreconsole.domain.alerts import Alert
from sreconsole.domain.health import HealthState
from sreconsole.sources.alertmanager import AlertmanagerSource
from sreconsole.sources.base import SourceError

HANG = 60.0
TIMEOUT_S = 1.5
"""Longer than the trickle's 0.3 s between bytes, so no per-read timeout can fire."""
GOOD = json.dumps([{"labels": {"alertname": "Trickled", "severity": "critical"}, "annotations": {},
                    "startsAt": "2026-11-23T10:00:00Z", "fingerprint": "00000000000000aa",
                    "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}]).encode()


async def _bounded(awaitable):
    try:
        return await asyncio.wait_for(awaitable, HANG)
    except asyncio.TimeoutError:
        pytest.fail(f"the call was still running after {HANG:g} s: no total deadline")


async def test_alertmanager_call_ends_at_its_deadline_and_health_goes_stale_then_down() -> None:
    now = [0.0]

    def clock():
        return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=now[0])

    with FaultServer("trickle", good=1, body=GOOD) as server:
        source = AlertmanagerSource(server.url, timeout_s=TIMEOUT_S, retries=0, stale_after_s=10, clock=clock)
        try:
            assert [a.alertname for a in await _bounded(source.fetch_alerts())] == ["Trickled"]
            assert source.health().state is HealthState.OK
            # While the next call is out, the header reads the health as it ages.
            assert source.health().at(clock() + timedelta(seconds=11)).state is HealthState.STALE
            now[0] = 3
            with pytest.raises(SourceError, match="timed out"):
                await _bounded(source.fetch_alerts())
            assert source.health().state is HealthState.STALE  # the last answer is recent
            assert source.health().at(clock() + timedelta(seconds=8)).state is HealthState.DOWN
            now[0] = 12
            with pytest.raises(SourceError, match="timed out"):
                await _bounded(source.fetch_alerts())
            assert source.health().state is HealthState.DOWN and source.health().describe(clock()) == "down: timed out"
            # Silences too: a trickled answer to a POST is "not confirmed", in time.
            from sreconsole.domain.matchers import parse_matchers

            with pytest.raises(SourceError, match="silence not confirmed: timed out"):
                await _bounded(source.create_silence(parse_matchers('alertname="Trickled"'), clock(), clock() + timedelta(hours=1), "alice", "test"))
        finally:
            await source.aclose()


async def test_prometheus_loki_and_probe_calls_end_at_their_deadline() -> None:
    from sreconsole.sources.loki import LokiSource
    from sreconsole.sources.probes import HttpProbe
    from sreconsole.sources.prometheus import PrometheusSource

    with FaultServer("trickle") as server:
        prom = PrometheusSource(server.url, timeout_s=TIMEOUT_S, retries=0)
        loki = LokiSource(server.url, timeout_s=TIMEOUT_S, retries=0)
        try:
            with pytest.raises(SourceError, match="timed out"):
                await _bounded(prom.range("up", datetime.now(timezone.utc) - timedelta(hours=1), datetime.now(timezone.utc), 60))
            assert prom.health().state is HealthState.DOWN
            alert = Alert("f", {"alertname": "X", "namespace": "shop", "pod": "web-1"})
            with pytest.raises(SourceError, match="timed out"):
                await _bounded(loki.logs_for(alert))
            health = await _bounded(HttpProbe("alertmanager", server.url, timeout_s=TIMEOUT_S).check(lambda: datetime.now(timezone.utc)))
            assert health.state is HealthState.DOWN and health.reason == "timed out"
        finally:
            await prom.aclose()
            await loki.aclose()


def _kubeconfig(tmp_path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "slow", "cluster": {"server": server}}],
        "users": [{"name": "ops", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "slow", "context": {"cluster": "slow", "user": "ops"}}],
        "current-context": "slow",
    }))
    return str(path)


async def test_kubernetes_and_ollama_calls_end_at_their_deadline(tmp_path) -> None:
    """The sync clients: the Kubernetes client (urllib3, per-recv timeouts) as the executor
    and the Job submitter build it, and the Ollama client (httpx, streaming)."""
    from sreconsole.chat.generators import GeneratorUnavailable, OllamaGenerator
    from sreconsole.pipeline.kube import JobError, job_status
    from sreconsole.sources.kube_client import make_api_client

    with FaultServer("trickle") as server:
        api = make_api_client(_kubeconfig(tmp_path, server.url), timeout_s=TIMEOUT_S)

        def kube_call():
            with pytest.raises(JobError, match=r"no answer within 1\.5 s"):
                job_status(api, "sreconsole", "train-1", timeout_s=TIMEOUT_S)

        await _bounded(asyncio.to_thread(kube_call))

        def ollama_call():
            generator = OllamaGenerator(server.url, "llama-test", TIMEOUT_S, 0, ())
            with pytest.raises(GeneratorUnavailable, match=r"no complete answer within 1\.5 s"):
                list(generator.generate("why?", []))

        await _bounded(asyncio.to_thread(ollama_call))


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "SRECONSOLE_ALERTMANAGER_TIMEOUT_S": str(TIMEOUT_S), "SRECONSOLE_ALERTMANAGER_RETRIES": "0", **env}
    try:
        return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, timeout=HANG, env=full)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sreconsole {' '.join(args)} was still running after {HANG:g} s")


def test_the_cli_ends_within_its_timeout_with_one_line() -> None:
    with FaultServer("trickle") as server:
        result = _cli("--alertmanager", server.url, "alerts", "list")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert lines == ["sreconsole: alertmanager: timed out"], result.stderr
        doctor = _cli("--alertmanager", server.url, "doctor", "--json")
        assert doctor.returncode == 1, doctor.stderr
        rows = {row["check"]: row for row in json.loads(doctor.stdout)}
        assert rows["alertmanager"]["ok"] is False and "timed out" in rows["alertmanager"]["detail"]


@pytest.mark.parametrize("mode", ["garbage", "close"])
def test_garbage_and_hang_ups_are_one_line_each(mode) -> None:
    with FaultServer(mode) as server:
        result = _cli("--alertmanager", server.url, "alerts", "list", "--json")
        assert result.returncode == 1 and result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sreconsole: alertmanager: ") and "Traceback" not in result.stderr, result.stderr


async def test_the_header_stops_saying_ok_while_the_table_waits(make_demo_app, settings) -> None:
    """The TUI on a server that answers once and then trickles: the header goes from ok to
    stale to down by itself (the issue saw "alertmanager ok 0s" for over 90 s). The call's
    deadline (3 s) is longer than stale_after_s (1 s), so "stale" can only come from the
    header ageing the health while the call is out, and "down" from the deadline."""
    from dataclasses import replace

    from sreconsole.tui.app import make_app
    from sreconsole.tui.header import StatusHeader

    with FaultServer("trickle", good=1, body=GOOD) as server:
        live = replace(
            settings,
            alertmanager=replace(settings.alertmanager, url=server.url, timeout_s=3.0, retries=0),
            poll_interval_s=0.5,
            stale_after_s=1.0,
        )
        from sreconsole.domain.operator import Operator

        app = make_app(live, operator=Operator("alice"))
        seen: list[str] = []
        async with app.run_test(size=(120, 30)) as pilot:
            for _ in range(int(HANG / 0.25)):
                await pilot.pause(0.25)
                text = app.query_one(StatusHeader).render_sources().plain
                if not seen or seen[-1] != text:
                    seen.append(text)
                if "down" in text:
                    break
        states = [next((s for s in ("ok", "stale", "down") if f"alertmanager {s}" in t), "") for t in seen]
        assert "ok" in states and "down" in states, seen
        assert states.index("ok") < states.index("down")
        assert "stale" in states[states.index("ok"):states.index("down")], seen  # stale comes between
