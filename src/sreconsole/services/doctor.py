"""``sreconsole doctor``: check every configured source and every local prerequisite."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sreconsole.config import Settings


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's table."""

    name: str
    ok: bool | None  # None: not configured / not applicable
    detail: str
    required: bool = True  # a failed required check makes doctor exit non-zero


def _check_data_dir(settings: Settings) -> list[Check]:
    path = settings.data_path
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return [Check("data dir", False, f"{path}: {exc.strerror or exc}")]
    out = [Check("data dir", True, str(path))]
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Made by an older sreconsole or by hand: queue, knowledge, chat history and models
        # are in there. Not fixed behind the user's back; said, with the fix.
        out.append(Check("data dir access", False, f"{path} is mode {mode:04o}: other users can look inside; chmod 700 {path}", required=False))
    return out


def _check_styles() -> Check:
    from sreconsole.resources import styles_dir

    try:
        where = styles_dir()
    except FileNotFoundError as exc:
        return Check("styles", False, str(exc))
    return Check("styles", True, str(where))


def _check_assets() -> list[Check]:
    from sreconsole.knowledge.offline import MissingAsset, duckdb_extension_path, minilm_files

    out = []
    for ext in ("fts", "vss"):
        try:
            out.append(Check(f"duckdb {ext} extension", True, str(duckdb_extension_path(ext))))
        except MissingAsset as exc:
            out.append(Check(f"duckdb {ext} extension", False, str(exc)))
    try:
        files = minilm_files()
        out.append(Check("embedding model", True, f"all-MiniLM-L6-v2 int8 ({files['model.onnx'].parent})"))
    except MissingAsset as exc:
        out.append(Check("embedding model", False, str(exc)))
    for module, label in (("mlx", "mlx"), ("mlx_lm", "mlx-lm"), ("duckdb", "duckdb"), ("fastembed", "fastembed")):
        found = importlib.util.find_spec(module) is not None
        out.append(Check(label, found, "installed" if found else "not installed"))
    return out


def _check_kubernetes(settings: Settings) -> Check:
    k = settings.kubernetes
    if k.in_cluster:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        return Check("kubernetes", bool(host), f"in-cluster API at {host}" if host else "KUBERNETES_SERVICE_HOST is not set")
    path = Path(k.kubeconfig).expanduser()
    if not path.is_file():
        return Check("kubernetes", False, f"kubeconfig {path} not found")
    try:
        from kubernetes import client  # heavy: only when kubernetes is configured

        from sreconsole.sources.kube_client import make_api_client

        api = make_api_client(str(path), k.context, timeout_s=k.timeout_s)  # the executor's client: same deadline
        version = client.VersionApi(api).get_code(_request_timeout=k.timeout_s)
    except Exception as exc:  # the client raises many types; doctor reports, never crashes
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        return Check("kubernetes", False, f"{path}: {str(reason)[:160]}")
    return Check("kubernetes", True, f"API server {version.git_version}")


def _check_mlflow_local(settings: Settings) -> Check:
    """A file or sqlite tracking URI: its directory must exist or be creatable."""
    uri = settings.mlflow.tracking_uri
    path = Path(uri.split(":///", 1)[-1] if ":///" in uri else uri.removeprefix("file:")).expanduser()
    directory = path if uri.startswith("file:") or "://" not in uri else path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return Check("mlflow", False, f"local store {uri}: {exc.strerror or exc}")
    return Check("mlflow", True, f"local store {uri}")


def _check_triage_model(settings: Settings) -> Check:
    """The active TRM: its version and test metrics, or why there is none (not an error:
    triage then works from annotations and retrieval)."""
    from sreconsole.triage.models import model_dir
    from sreconsole.triage.trm import Checkpoint, CheckpointError

    path = model_dir(settings)
    if not path.exists():
        return Check("triage model", None, "none yet: `sreconsole train trm` (proposals use annotations and retrieval)", required=False)
    try:
        ck = Checkpoint.load(path)
    except CheckpointError as exc:
        return Check("triage model", False, str(exc)[:200])
    test = ck.metadata.get("metrics", {}).get("test", {})
    acc = f", test accuracy {test['accuracy']:.3f}" if isinstance(test.get("accuracy"), float) else ""
    return Check("triage model", True, f"{ck.version}{acc}")


def _check_review_store(settings: Settings) -> Check:
    """The review queue's file: absent is fine (created on first use); present must open and
    its audit chain must verify."""
    from sreconsole.review.paths import review_store_path
    from sreconsole.services.review import verify_store

    path = review_store_path(settings)
    if not path.exists():
        return Check("review store", None, f"{path} (created on first use)", required=False)
    result, _ = verify_store(settings)
    if not result.ok:
        return Check("review store", False, f"{path}: audit chain broken at entry {result.first_bad}: {result.reason}"[:240])
    return Check("review store", True, f"{path}: {result.entries} audit entries, chain intact")


def _check_chat_generator(settings: Settings) -> Check:
    """Which generator Bruno answers with; a setting that cannot work is a failure (Bruno
    would quietly answer extractively), an MLX model directory must hold a config."""
    from sreconsole.chat.generators import choose, describe
    from sreconsole.services.chat import resolve_mlx_model

    try:
        name = describe(settings)
        if choose(settings) == "mlx":
            path, adapters, _ = resolve_mlx_model(settings)
            if not (path / "config.json").is_file():
                return Check("chat generator", False, f"{name}: no config.json in {path}")
            name += f" ({path}" + (f" + adapters {adapters}" if adapters else "") + ")"
    except (ValueError, OSError) as exc:
        return Check("chat generator", False, f"{exc}; Bruno answers extractively")
    return Check("chat generator", True, name)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, each detail without the credentials an address may carry."""
    from dataclasses import replace

    from sreconsole.domain.text import redact_url

    return [replace(c, detail=redact_url(c.detail)) for c in _all_checks(settings)]


def _all_checks(settings: Settings) -> list[Check]:
    from sreconsole.sources.probes import check_all, probes_for

    checks: list[Check] = []
    mode = "demo (embedded simulated cluster)" if settings.is_demo else f"live: {settings.environment_name}"
    checks.append(Check("environment", True, mode))
    sources = settings.configured_sources()
    probes = probes_for(sources, timeout_s=3.0, stale_after_s=settings.stale_after_s)
    now = datetime.now(timezone.utc)
    results = asyncio.run(check_all(probes)) if probes else []
    for probe, health in zip(probes, results):
        ok = health.state.value == "ok"
        detail = f"{probe.endpoint()}" + ("" if ok else f": {health.describe(now)}")
        checks.append(Check(probe.name, ok, detail))
    probed = {p.name for p in probes}
    for name in ("alertmanager", "prometheus", "loki", "tempo", "kubernetes", "mlflow", "s3", "ollama"):
        if name in probed:
            continue
        if name == "kubernetes" and name in sources:
            checks.append(_check_kubernetes(settings))
        elif name == "mlflow" and name in sources:
            checks.append(_check_mlflow_local(settings))
        else:
            default = {
                "alertmanager": "not configured: the demo cluster is used",
                "mlflow": "not configured: local store under the data dir",
                "s3": "not configured: local artifact directory",
            }.get(name, "not configured")
            checks.append(Check(name, None, default, required=False))
    checks.extend(_check_data_dir(settings))
    checks.append(_check_triage_model(settings))
    checks.append(_check_review_store(settings))
    checks.append(_check_chat_generator(settings))
    checks.append(_check_styles())
    checks.extend(_check_assets())
    return checks


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.ok is False and c.required for c in checks) else 0
