"""Settings: one typed object built from defaults, a TOML file, ``SRECONSOLE_*`` and flags.

Precedence, lowest first: defaults → config file → environment → command-line flags.
Every value remembers where it came from, so ``sreconsole config show`` can say why a
setting has the value it has. Secrets are stored like any other value but never printed.

The file lives at ``$XDG_CONFIG_HOME/sreconsole/config.toml`` (``--config PATH`` or
``$SRECONSOLE_CONFIG`` override it). ``SRECONSOLE_DATA_DIR`` relocates all state.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sreconsole.domain.text import REDACTED, redact_url, url_host

ENV_PREFIX = "SRECONSOLE_"


class ConfigError(Exception):
    """A configuration problem worth stopping for. ``str()`` is the one line to print."""


# -- what each setting may hold ---------------------------------------------------------------
#
# Every number and every choice names its rule beside its default; ``load_settings`` checks
# them all once the file, the environment and the flags have been applied, so a bad value is
# refused whichever of the three it came from, in one line naming where it came from, the
# key, the value and what is allowed (README, "Configuration": "What a value may be").


@dataclass(frozen=True)
class Number:
    """A finite number within bounds. ``above`` is an exclusive lower bound (``> 0``),
    ``least`` an inclusive one (``>= 0``); ``most`` the inclusive upper bound."""

    least: float | None = None
    above: float | None = None
    most: float | None = None

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.above is not None and not value > self.above:
            return False
        if self.least is not None and not value >= self.least:
            return False
        return self.most is None or value <= self.most

    def allowed(self, integer: bool) -> str:
        kind = "a whole number" if integer else "a finite number"
        parts = []
        if self.above is not None:
            parts.append(f"> {_num(self.above)}")
        if self.least is not None:
            parts.append(f">= {_num(self.least)}")
        if self.most is not None:
            parts.append(f"<= {_num(self.most)}")
        return f"{kind} {' and '.join(parts)}".strip()


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (``many``: a list of them). Matched ignoring case and stored
    lower-case, so ``LOW`` means ``low``; anything else is refused, never dropped."""

    values: tuple[str, ...]
    many: bool = False

    def allowed(self) -> str:
        one = ", ".join(self.values)
        return f"a list of: {one} (any case)" if self.many else f"one of: {one} (any case)"


@dataclass(frozen=True)
class Address:
    """Empty (not configured) or an ``http://`` / ``https://`` URL with a host and, if
    given, a port from 1 to 65535. ``many``: a list of such URLs, none of them empty (an
    empty entry in ``urls`` is a typo, not "one member fewer")."""

    many: bool = False

    def allowed(self) -> str:
        if self.many:
            return "a list of http:// or https:// URLs with a host (port 1-65535), none empty"
        return "empty or an http:// or https:// URL with a host (port 1-65535)"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


SECONDS = Number(above=0, most=86400 * 366)
"""An interval: positive and at most a year (longer is a typo, and overflows timers)."""
TIMEOUT = Number(above=0, most=3600)
"""A deadline for one outside call: positive (0 would fail every call) and at most an hour."""
RETRIES = Number(least=0, most=10)
FRACTION = Number(least=0, most=1)


def secret(default: str = "", doc: str = "") -> Any:
    return field(default=default, metadata={"secret": True, "doc": doc})


def setting(default: Any, doc: str, rule: Number | Choice | Address | None = None) -> Any:
    meta = {"doc": doc, "rule": rule}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


CHAT_GENERATORS = ("auto", "extractive", "ollama", "mlx")
RISKS = ("low", "medium", "high")
PIPELINE_EXECUTORS = ("local", "kubernetes")
THEMES = ("dark", "light")


@dataclass
class AlertmanagerSettings:
    url: str = setting("", "Alertmanager base URL, e.g. http://alertmanager:9093. Empty: use the demo.", Address())
    urls: list[str] = setting([], "Several Alertmanager base URLs of one HA cluster (instead of url): each is polled, alerts are merged by fingerprint, one member down shows as degraded (env: comma-separated).", Address(many=True))
    timeout_s: float = setting(5.0, "Timeout of one HTTP call, seconds.", TIMEOUT)
    retries: int = setting(2, "Retries after a failed call, with exponential backoff.", RETRIES)
    username: str = setting("", "HTTP basic-auth user, if Alertmanager sits behind one.")
    password: str = secret(doc="HTTP basic-auth password.")
    bearer_token: str = secret(doc="Bearer token sent as Authorization header.")

    def all_urls(self) -> list[str]:
        """The members to poll: ``urls``, or ``url`` alone, or none (the demo)."""
        return list(self.urls) if self.urls else ([self.url] if self.url else [])


@dataclass
class PrometheusSettings:
    url: str = setting("", "Prometheus base URL, e.g. http://prometheus:9090.", Address())
    timeout_s: float = setting(5.0, "Timeout of one HTTP call, seconds.", TIMEOUT)
    retries: int = setting(2, "Retries after a failed call, with exponential backoff.", RETRIES)
    bearer_token: str = secret(doc="Bearer token sent as Authorization header.")


@dataclass
class LokiSettings:
    url: str = setting("", "Loki base URL, e.g. http://loki:3100.", Address())
    timeout_s: float = setting(5.0, "Timeout of one HTTP call, seconds.", TIMEOUT)
    retries: int = setting(2, "Retries after a failed call, with exponential backoff.", RETRIES)
    tenant: str = setting("", "X-Scope-OrgID for multi-tenant Loki.")
    bearer_token: str = secret(doc="Bearer token sent as Authorization header.")


@dataclass
class TempoSettings:
    """Traces beside the metric and the logs: kept key for key parallel to LokiSettings
    (same timeout, retries, tenant and token), so one cluster's table can hold both."""

    url: str = setting("", "Tempo base URL (its query frontend), e.g. http://tempo:3200. Empty: no traces in the evidence.", Address())
    timeout_s: float = setting(5.0, "Timeout of one HTTP call, seconds.", TIMEOUT)
    retries: int = setting(2, "Retries after a failed call, with exponential backoff.", RETRIES)
    tenant: str = setting("", "X-Scope-OrgID for multi-tenant Tempo.")
    bearer_token: str = secret(doc="Bearer token sent as Authorization header.")
    slow_ms: int = setting(500, "A trace counts as slow when a span of the alert's service took longer than this, milliseconds (failed spans are shown whatever their duration).", Number(least=1, most=3_600_000))
    limit: int = setting(10, "Most traces shown per alert.", Number(least=1, most=100))


@dataclass
class KubernetesSettings:
    kubeconfig: str = setting("", "Path to a kubeconfig file. Empty: not configured.")
    context: str = setting("", "Context in the kubeconfig; empty means its current-context.")
    in_cluster: bool = setting(False, "Use the pod's service account instead of a kubeconfig.")
    timeout_s: float = setting(5.0, "Timeout of one API call, seconds.", TIMEOUT)


CLUSTER_NAME = re.compile(r"[a-z0-9][a-z0-9\-_.]*")
"""A cluster's name: it is shown in a column, matched by ``cluster="…"`` and recorded with
each proposal, so lower-case letters, digits and ``-_.`` only (no spaces, no markup)."""

CLUSTER_SECTIONS = ("alertmanager", "prometheus", "loki", "kubernetes")
"""The sub-tables of a ``[[clusters]]`` table: the per-cluster sources."""


@dataclass(frozen=True)
class ClusterSettings:
    """One cluster the console watches: its name and its own sources, with the same keys
    as the top-level tables. Built by :meth:`Settings.cluster_list`, never by hand in the
    settings file's absence, so one code path serves one cluster and many."""

    name: str
    alertmanager: AlertmanagerSettings
    prometheus: PrometheusSettings
    loki: LokiSettings
    kubernetes: KubernetesSettings


@dataclass
class MlflowSettings:
    tracking_uri: str = setting("", "MLflow tracking URI. Empty: a local store under the data dir.")


@dataclass
class S3Settings:
    endpoint: str = setting("", "S3/MinIO endpoint as host:port. Empty: a local artifact directory.")
    access_key: str = setting("", "Access key id.")
    secret_key: str = secret(doc="Secret access key.")
    bucket: str = setting("ml-models", "Bucket for model artifacts.")
    secure: bool = setting(True, "Use HTTPS.")


@dataclass
class OllamaSettings:
    url: str = setting("", "Ollama base URL, e.g. http://localhost:11434. Empty: not used.", Address())
    model: str = setting("llama3.2:3b", "Model Bruno asks.")
    timeout_s: float = setting(60.0, "Timeout of one generation request, seconds.", TIMEOUT)


@dataclass
class KnowledgeSettings:
    enabled: bool = setting(True, "Show runbook passages and similar past incidents beside alerts.")
    store: str = setting("", "DuckDB file of the knowledge base. Empty: knowledge.duckdb under the data dir. Several operators may share one file.")
    paths: list[str] = setting([], "Files and directories `sreconsole kb index` reads when given no PATH (env: comma-separated).")
    trusted_paths: list[str] = setting([], "Roots whose runbooks may name a remediation (an `**Action:**` line) or vote on one. Documents anywhere else are shown as evidence and never change a proposal. The shipped demo runbook is always trusted (env: comma-separated).")
    follow_external_links: bool = setting(False, "Index files that symlinks in an indexed folder lead to outside it. Off: such links are skipped with the reason (a link to ~/.kube/config must not become searchable).")
    model: str = setting("sentence-transformers/all-MiniLM-L6-v2", "fastembed model id. The default ships with sreconsole; any other needs model_path.")
    model_path: str = setting("", "Local directory with the model's files (never downloaded).")
    chunk_words: int = setting(160, "Largest chunk, in words (chosen by measurement; see bench/README.md).", Number(least=16, most=4096))


@dataclass
class TriageSettings:
    enabled: bool = setting(True, "Propose a remediation for each alert.")
    model_dir: str = setting("", "Directory of the active TRM checkpoint. Empty: models/trm/active under the data dir.")
    catalog: str = setting("", "A TOML file of extra actions added to the shipped catalog.")
    model: str = setting("logreg", "Which classifier of the trained model proposes: logreg or trm (both are trained together; bench/README.md says why logreg is the default).", Choice(("logreg", "trm")))
    high_threshold: float = setting(0.8, "At or above this confidence the TRM's answer stands alone; below it evidence is retrieved.", FRACTION)
    low_threshold: float = setting(0.5, "Below this confidence a proposal requires human review.", FRACTION)
    one_proposal_per_incident: bool = setting(True, "Queue one proposal per incident (the most likely cause's), not one per correlated alert (triage/incident_rules.toml).")


@dataclass
class ReviewSettings:
    store: str = setting("", "The review queue: an SQLite file (empty: review.sqlite under the data dir; point every operator on one host at one shared file), or a PostgreSQL database for a team on several hosts (postgresql://…, made by `review init-db`; the audit names the database user).")
    apply_risks: list[str] = setting([], "Risk levels (low, medium, high) executed for real on approval. Empty: every approval is a dry run (env: comma-separated).", Choice(RISKS, many=True))
    expire_after_s: float = setting(86400.0, "Pending proposals older than this expire.", SECONDS)
    share_group: str = setting("", "Unix group the queue is shared with (e.g. oncall): its directory must be that group's and setgid, files are 0660. Empty: private files (0600) in a 0700 directory.")
    audit_witness: str = setting("", "Append-only file that also gets each audit entry's `seq hash` (opened O_APPEND, fsynced; make it `chattr +a`), one per store. `audit verify` checks the trail against it. Empty: none.")
    audit_syslog: str = setting("/dev/log", "Syslog socket each audit entry's `seq hash store` goes to (tag sreconsole-audit, facility authpriv), when it exists. Empty: off.")
    policy_file: str = setting("", "Approval policy (TOML): which Unix groups or database roles may approve which risks and actions, silence, promote; which risks need two people (see README, A team set-up). Empty: everyone may do everything, one approval each.")
    audit_key_file: str = setting("", "File holding the HMAC-SHA256 key of the audit chain (mode 0600 or 0400, at least 16 bytes): every entry then carries a MAC that nobody without the key can forge. Empty: unkeyed.")


@dataclass
class PipelineSettings:
    retrain_every_days: float = setting(0.0, "Start a TRM retraining when the last successful run is this many days old (0: off).", Number(least=0, most=3660))
    retrain_after_decisions: int = setting(0, "Start a TRM retraining after this many new operator decisions (0: off).", Number(least=0, most=10**9))
    executor: str = setting("local", "Where training runs: 'local' (a worker process) or 'kubernetes' (a Job).", Choice(PIPELINE_EXECUTORS))
    job_image: str = setting("", "Image with sreconsole installed, for executor = kubernetes.")
    job_namespace: str = setting("sreconsole", "Namespace of training Jobs.")
    job_cpu: str = setting("2", "CPU request and limit of a training Job.")
    job_memory: str = setting("4Gi", "Memory request and limit of a training Job.")
    job_node_selector: dict[str, str] = setting({}, "Node labels a training Job must run on.")
    job_service_account: str = setting("", "ServiceAccount of training Jobs; empty: the namespace default.")
    job_data_pvc: str = setting("", "PersistentVolumeClaim holding the data dir, mounted at /data in the Job.")
    job_secret: str = setting("", "Secret holding secret settings under their SRECONSOLE_* names.")




@dataclass
class ChatSettings:
    generator: str = setting("auto", "Who writes Bruno's answers: 'auto' (Ollama when ollama.url is set, else the local MLX model when chat.mlx_model is set, else extractive), 'ollama', 'mlx' or 'extractive'.", Choice(CHAT_GENERATORS))
    mlx_model: str = setting("", "Local MLX / Hugging Face model directory for the 'mlx' generator, the name of a model prepared with 'sreconsole models prepare' (gemma3-270m), or run:<RUN_ID> for the model a LoRA pipeline run fused. Never downloaded.")
    max_tokens: int = setting(400, "Most tokens the MLX generator writes per answer.", Number(least=16, most=32768))
    context_messages: int = setting(6, "How many past chat messages Bruno sends to the generator with a question.", Number(least=0, most=100))
    history: bool = setting(True, "Keep the chat history in the data dir (chat/history.jsonl) across restarts.")


@dataclass
class MetricsSettings:
    listen: str = setting("", "host:port where the console serves its own metrics for Prometheus (e.g. 127.0.0.1:9464). Empty: off. Loopback only unless allow_remote.")
    allow_remote: bool = setting(False, "Let metrics.listen name an address other than loopback (the metrics name operators and actions).")


@dataclass
class DemoSettings:
    seed: int = setting(7, "Seed of the simulated cluster: same seed, same alerts.", Number(least=0, most=2**63 - 1))
    poll_interval_s: float = setting(1.0, "How often the Alerts pane polls the demo, seconds.", SECONDS)
    scenario: str = setting("", "A scenario TOML file. Empty: the shipped scenario.")


@dataclass
class Settings:
    """Everything sreconsole can be told. Sections map to TOML tables of the same name."""

    environment: str = setting("", "Name shown in the header (cluster name). Empty: 'demo' or the Alertmanager host.")
    theme: str = setting("dark", "'dark' or 'light'.", Choice(THEMES))
    poll_interval_s: float = setting(5.0, "How often live sources are polled, seconds.", SECONDS)
    stale_after_s: float = setting(30.0, "A source that last answered longer ago than this is shown as down.", SECONDS)
    data_dir: str = setting("", "Where all state lives (databases, models, runs, caches). Env: SRECONSOLE_DATA_DIR.")
    read_only: bool = setting(False, "Disable every action that changes the cluster or the queue.")
    demo_mode: bool = setting(False, "Force the embedded demo even when sources are configured (--demo).")
    keymap: dict[str, str] = setting({}, "Binding id → keys, e.g. 'alerts.filter' = 'f'.")
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    loki: LokiSettings = field(default_factory=LokiSettings)
    tempo: TempoSettings = field(default_factory=TempoSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    ollama: OllamaSettings = field(default_factory=OllamaSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Dotted key → where its value came from (``default``, ``file``, ``env NAME``, ``flag``)."""
    warnings: list[str] = field(default_factory=list, repr=False, compare=False)
    """Problems worth telling the operator about that do not stop start-up (unknown keys)."""
    config_path: Path | None = field(default=None, repr=False, compare=False)
    clusters: list[ClusterSettings] = field(default_factory=list, repr=False, compare=False)
    """The file's ``[[clusters]]`` tables, in order; empty: one cluster from the flat keys."""

    # -- derived values -------------------------------------------------------------

    @property
    def is_demo(self) -> bool:
        """The demo runs when forced or when no alert source is configured."""
        if self.demo_mode:
            return True
        if self.clusters:
            return False  # each [[clusters]] table must name an Alertmanager (checked on load)
        return not self.alertmanager.all_urls()

    @property
    def environment_name(self) -> str:
        if self.environment:
            return self.environment
        if self.is_demo:
            return "demo"
        if self.clusters:
            return ", ".join(c.name for c in self.clusters)
        return url_host(self.alertmanager.all_urls()[0]) or "cluster"  # never the userinfo: it may hold a password

    def cluster_list(self) -> list[ClusterSettings]:
        """The clusters to watch, in the file's order. Without ``[[clusters]]`` tables it is
        one cluster made of the flat top-level tables, named after :attr:`environment_name`
        when that is a valid cluster name (``demo``, an Alertmanager host) and ``default``
        otherwise, so a set-up from before clusters existed keeps working unchanged."""
        if self.clusters and not self.demo_mode:
            return list(self.clusters)
        name = self.environment_name.strip().lower()
        return [
            ClusterSettings(
                name if CLUSTER_NAME.fullmatch(name) else "default",
                self.alertmanager, self.prometheus, self.loki, self.kubernetes,
            )
        ]

    @property
    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "sreconsole"

    def configured_sources(self) -> dict[str, str]:
        """Outside sources that have an address, by name (the header and doctor list these).
        With several clusters a cluster's sources are named ``kind cluster``
        (``prometheus prod-eu``) and each member of an HA Alertmanager ``alertmanager
        cluster url``; the first word is always the kind the probe asks."""
        out = {}
        if not self.demo_mode:
            clusters = self.cluster_list()
            for c in clusters:
                suffix = f" {c.name}" if len(clusters) > 1 else ""
                urls = c.alertmanager.all_urls()
                for u in urls:
                    out[f"alertmanager{suffix}" + (f" {url_host(u)}" if len(urls) > 1 else "")] = u
                if c.prometheus.url:
                    out[f"prometheus{suffix}"] = c.prometheus.url
                if c.loki.url:
                    out[f"loki{suffix}"] = c.loki.url
                if c.kubernetes.kubeconfig or c.kubernetes.in_cluster:
                    out[f"kubernetes{suffix}"] = c.kubernetes.kubeconfig or "in-cluster"
            if self.tempo.url:  # one Tempo for all clusters until [[clusters]] takes a tempo table
                out["tempo"] = self.tempo.url
        if self.mlflow.tracking_uri:
            out["mlflow"] = self.mlflow.tracking_uri
        if self.s3.endpoint:
            out["s3"] = self.s3.endpoint
        if self.ollama.url:
            out["ollama"] = self.ollama.url
        return out

    # -- introspection for ``config show`` ----------------------------------------

    def items(self) -> list[tuple[str, Any, str, bool, str]]:
        """``(dotted key, value, origin, is_secret, doc)`` for every setting."""
        rows: list[tuple[str, Any, str, bool, str]] = []
        for f in _public_fields(type(self)):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                for sub in fields(value):
                    key = f"{f.name}.{sub.name}"
                    rows.append(
                        (
                            key,
                            getattr(value, sub.name),
                            self.origins.get(key, "default"),
                            bool(sub.metadata.get("secret")),
                            sub.metadata.get("doc", ""),
                        )
                    )
            else:
                rows.append(
                    (f.name, value, self.origins.get(f.name, "default"), False, f.metadata.get("doc", ""))
                )
        for i, cluster in enumerate(self.clusters):
            head = f"clusters[{i}]"
            rows.append((f"{head}.name", cluster.name, self.origins.get(f"{head}.name", "default"), False, "The cluster's name (column, matcher cluster=\"…\")."))
            for section in CLUSTER_SECTIONS:
                holder = getattr(cluster, section)
                for sub in fields(holder):
                    key = f"{head}.{section}.{sub.name}"
                    rows.append((key, getattr(holder, sub.name), self.origins.get(key, "default"), bool(sub.metadata.get("secret")), sub.metadata.get("doc", "")))
        return rows


_SECTIONS = {
    "alertmanager",
    "prometheus",
    "loki",
    "tempo",
    "kubernetes",
    "mlflow",
    "s3",
    "ollama",
    "knowledge",
    "triage",
    "review",
    "pipeline",
    "chat",
    "demo",
    "metrics",
}


def _public_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in fields(cls) if f.name not in ("origins", "warnings", "config_path", "clusters")]


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sreconsole" / "config.toml"


def _coerce(value: Any, target: Any, where: str, key: str, is_secret: bool = False) -> Any:
    """Convert a file or env value to the field's type, or say clearly why not. The value is
    quoted in the message, except a secret's (a password typed as a number is still a
    password) and the credentials in an address."""
    kind = target if isinstance(target, type) else type(target)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                pass
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    elif kind is dict:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return {str(k): v for k, v in value.items()}
    if is_secret:
        raise ConfigError(f"{where}: {key}: expected {kind.__name__}, got {type(value).__name__} (a secret: its value is not shown)")
    shown = redact_url(repr(value))
    raise ConfigError(f"{where}: {key}: expected {kind.__name__}, got {type(value).__name__} {shown[:60]}")


def _decode_error_line(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """``path:line:col: problem`` from tomllib's message ``problem (at line L, column C)``."""
    msg = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", msg)
    if m:
        return f"{path}:{m.group(1)}:{m.group(2)}: invalid TOML: {msg[: m.start()]}"
    m = re.search(r"\s*\(at end of document\)\s*$", msg)
    if m:
        lines = path.read_text(encoding="utf-8", errors="replace").count("\n") + 1
        return f"{path}:{lines}: invalid TOML: {msg[: m.start()]} (at end of file)"
    return f"{path}: invalid TOML: {msg}"


def _apply(settings: Settings, key: str, raw: Any, origin: str, where: str) -> bool:
    """Set one dotted key; returns False when the key is unknown."""
    parts = key.split(".")
    target: Any = settings
    if len(parts) == 2 and parts[0] in _SECTIONS:
        target = getattr(settings, parts[0])
        name = parts[1]
    elif len(parts) == 1:
        name = parts[0]
    else:
        return False
    known = {f.name: f for f in (_public_fields(type(target)) if target is settings else fields(target))}
    if name not in known or (target is settings and name in _SECTIONS):
        return False
    current = getattr(target, name)
    kind = dict if isinstance(current, dict) else list if isinstance(current, list) else current
    setattr(target, name, _coerce(raw, kind, where, key, bool(known[name].metadata.get("secret"))))
    settings.origins[key] = origin
    return True


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the effective settings. Raises :class:`ConfigError` for anything fatal.

    ``path`` None means the default location, which may be absent; an explicit path
    must exist. ``overrides`` are dotted keys from command-line flags.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    explicit = path is not None or bool(env.get(ENV_PREFIX + "CONFIG"))
    cfg_path = path or default_config_path(env)
    settings.config_path = cfg_path
    cluster_tables = None

    if cfg_path.exists() or explicit:
        try:
            raw_bytes = cfg_path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{cfg_path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{cfg_path}: cannot read config file: {exc.strerror}") from None
        try:
            doc = tomllib.loads(raw_bytes.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = raw_bytes[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{cfg_path}:{line}: config file is not valid UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_decode_error_line(cfg_path, exc)) from None
        cluster_tables = doc.pop("clusters", None)
        for key, value in _flatten(doc):
            if not _apply(settings, key, value, f"file {cfg_path}", str(cfg_path)):
                settings.warnings.append(f"{cfg_path}: unknown setting '{key}' ignored")

    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = _env_key(name[len(ENV_PREFIX) :].lower())
        if key is None or not _apply(settings, key, value, f"env {name}", f"environment {name}"):
            settings.warnings.append(f"environment: unknown variable {name} ignored")

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if not _apply(settings, key, value, "flag", "command line"):
            raise ConfigError(f"command line: unknown setting {key}")

    if cluster_tables is not None:
        settings.clusters = _load_clusters(settings, cluster_tables, cfg_path)
    _validate(settings)
    return settings


def _load_clusters(settings: Settings, tables: Any, path: Path) -> list[ClusterSettings]:
    """The ``[[clusters]]`` tables as :class:`ClusterSettings`. Each sub-table starts from
    the defaults, not from the top-level table: a cluster that inherited another's
    Alertmanager or Prometheus would show one cluster's alerts under two names. Clusters
    come from the file only (an environment variable per cluster and key would be noise).
    The first problem raises one line naming the file, the key and what is wrong."""
    where, origin = str(path), f"file {path}"
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: clusters must be [[clusters]] tables, got {type(tables).__name__}")
    top_level = settings.alertmanager.all_urls()
    if tables and top_level:
        key = "alertmanager.urls" if settings.alertmanager.urls else "alertmanager.url"
        raise ConfigError(
            f"{settings.origins.get(key, origin)}: {key} is set beside [[clusters]] tables: "
            "give each cluster its own alertmanager sub-table instead"
        )
    clusters: list[ClusterSettings] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(tables):
        head = f"clusters[{i}]"
        name = table.get("name")
        if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name):
            shown = redact_url(repr(name))[:60] if name is not None else "nothing"
            raise ConfigError(f"{where}: {head}.name must be lower-case letters, digits and -_. (starting with a letter or digit), got {shown}")
        if name in seen:
            raise ConfigError(f"{where}: {head}.name {name!r} is already the name of clusters[{seen[name]}]: cluster names must differ")
        seen[name] = i
        settings.origins[f"{head}.name"] = origin
        parts = {}
        for section in CLUSTER_SECTIONS:
            holder = type(getattr(settings, section))()
            raw = table.get(section, {})
            if not isinstance(raw, dict):
                raise ConfigError(f"{where}: {head}.{section} must be a table, got {type(raw).__name__}")
            known = {f.name: f for f in fields(holder)}
            for sub, value in raw.items():
                key = f"{head}.{section}.{sub}"
                if sub not in known:
                    settings.warnings.append(f"{where}: unknown setting '{key}' ignored")
                    continue
                current = getattr(holder, sub)
                kind = list if isinstance(current, list) else current
                setattr(holder, sub, _coerce(value, kind, where, key, bool(known[sub].metadata.get("secret"))))
                settings.origins[key] = origin
            parts[section] = holder
        for sub in table:
            if sub != "name" and sub not in CLUSTER_SECTIONS:
                settings.warnings.append(f"{where}: unknown setting '{head}.{sub}' ignored")
        am = parts["alertmanager"]
        if am.url and am.urls:
            raise ConfigError(f"{where}: {head}.alertmanager: give url or urls, not both")
        if not am.all_urls():
            raise ConfigError(f"{where}: {head}.alertmanager.urls must name at least one Alertmanager (cluster {name!r} has none)")
        clusters.append(ClusterSettings(name, **parts))
    return clusters


def _validate(settings: Settings) -> None:
    """Check every value that has a rule (see :class:`Number`, :class:`Choice`,
    :class:`Address`), the top-level ones and each cluster's; choices are stored
    lower-case. The first bad value raises."""
    for section, f in _ruled_fields(settings):
        key = f"{section}.{f.name}" if section else f.name
        holder = getattr(settings, section) if section else settings
        _check_rule(holder, f, key, settings.origins.get(key, "default"))
    for i, cluster in enumerate(settings.clusters):
        for section in CLUSTER_SECTIONS:
            holder = getattr(cluster, section)
            for f in fields(holder):
                if f.metadata.get("rule") is not None:
                    key = f"clusters[{i}].{section}.{f.name}"
                    _check_rule(holder, f, key, settings.origins.get(key, "default"))
    am = settings.alertmanager
    if am.url and am.urls:
        origin = settings.origins.get("alertmanager.urls", "default")
        raise ConfigError(f"{origin}: alertmanager.urls is set beside alertmanager.url: give one of them")
    t = settings.triage
    if t.low_threshold > t.high_threshold:
        origin = settings.origins.get("triage.low_threshold", "default")
        raise ConfigError(
            f"{origin}: triage.low_threshold must be <= triage.high_threshold ({_num(t.high_threshold)}), got {_num(t.low_threshold)}"
        )


def _check_rule(holder: Any, f: dataclasses.Field, key: str, origin: str) -> None:
    """Check one field's value against its rule; a choice is stored lower-case."""
    rule = f.metadata["rule"]
    value = getattr(holder, f.name)
    if isinstance(rule, Number):
        integer = f.type in (int, "int")
        try:
            fine = rule.admits(float(value))
        except OverflowError:
            fine = False
        if not fine:
            raise ConfigError(f"{origin}: {key} must be {rule.allowed(integer)}, got {_shown(value)}")
    elif isinstance(rule, Choice):
        values = value if rule.many else [value]
        lowered = [v.strip().lower() for v in values]
        bad = [v for v, low in zip(values, lowered) if low not in rule.values]
        if bad:
            what = f"a list of {', '.join(rule.values)}" if rule.many else f"one of {', '.join(rule.values)}"
            got = ", ".join(repr(b) for b in bad) if rule.many else repr(value)
            raise ConfigError(f"{origin}: {key} must be {what}, got {got} (case does not matter)")
        setattr(holder, f.name, list(dict.fromkeys(lowered)) if rule.many else lowered[0])
    elif isinstance(rule, Address) and value:
        for one in value if rule.many else [value]:
            problem = _address_problem(one) if one else "an empty URL"
            if problem:
                raise ConfigError(f"{origin}: {key} must be {rule.allowed()}, got {redact_url(one)!r:.120} ({problem})")


def _ruled_fields(settings: Settings):
    for f in _public_fields(type(settings)):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            yield from ((f.name, sub) for sub in fields(value) if sub.metadata.get("rule") is not None)
        elif f.metadata.get("rule") is not None:
            yield "", f


def _shown(value: Any) -> str:
    """A number as the operator wrote it (``nan``, ``-3``, ``1e+400``), never a traceback."""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    return text if len(text) <= 40 else text[:20] + "…" + text[-6:]


def _address_problem(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not 1-65535 digits
    except ValueError as exc:
        return str(exc).split(",")[0]
    if parts.scheme.lower() not in ("http", "https"):
        return "no http:// or https:// scheme" if not parts.scheme or "://" not in value else f"scheme {parts.scheme!r}"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return ""


def _flatten(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key in _SECTIONS and isinstance(value, dict):
            out.extend((f"{key}.{sub}", v) for sub, v in value.items())
        else:
            out.append((key, value))
    return out


def _env_key(name: str) -> str | None:
    """``alertmanager_url`` → ``alertmanager.url``; ``data_dir`` → ``data_dir``."""
    for section in _SECTIONS:
        if name.startswith(section + "_"):
            return f"{section}.{name[len(section) + 1 :]}"
    if name.startswith("keymap"):
        return None  # keymaps belong in the file; an env var per binding would be noise
    return name


def shown_value(value: Any, is_secret: bool) -> Any:
    """A setting's value as ``config show --json`` prints it: a secret only as whether it
    is set, and every address without its credentials (``http://********@host:9093``)."""
    if is_secret:
        return "<redacted>" if value else ""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, list):
        return [redact_url(v) if isinstance(v, str) else v for v in value]
    if isinstance(value, dict):
        return {k: redact_url(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


def display_value(value: Any, is_secret: bool) -> str:
    """A setting's value as the ``config show`` table prints it (see :func:`shown_value`)."""
    if is_secret:
        return REDACTED if value else "(unset)"
    value = shown_value(value, False)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    if isinstance(value, list):
        return ", ".join(value) or "[]"
    if value == "":
        return "(unset)"
    return str(value)


# -- writing settings back -----------------------------------------------------------------


def save_settings(path: Path, updates: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set dotted keys (``triage.low_threshold``) in the TOML file at ``path`` and return
    ``{key: (old, new)}``. The file keeps its comments, order and every other value
    (tomlkit edits the document in place); it is created when missing, written to a
    temporary file in the same directory and renamed over the old one, so a reader never
    sees half a file. Only known keys with values of the field's type are accepted."""
    import tomlkit

    known = {key: value for key, value, *_ in Settings().items()}
    for key, value in updates.items():
        if key not in known:
            raise ConfigError(f"{key}: not a setting")
        if type(known[key]) is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if type(value) is not type(known[key]):
            raise ConfigError(f"{key}: expected a {type(known[key]).__name__}, got a {type(value).__name__}")
    trial = Settings()  # the same rules as load_settings: a value it would refuse is never written
    for key, value in updates.items():
        section, _, name = key.rpartition(".")
        setattr(getattr(trial, section) if section else trial, name, value)
        trial.origins[key] = "save"
    _validate(trial)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        doc = tomlkit.parse(text)
    except Exception as exc:  # tomlkit's ParseError and friends
        raise ConfigError(f"{path}: not valid TOML ({exc}); not changed") from None
    changes: dict[str, tuple[Any, Any]] = {}
    for key, value in updates.items():
        section, _, name = key.rpartition(".")
        table = doc
        if section:
            if section not in doc:
                doc[section] = tomlkit.table()
            table = doc[section]
        old = table.get(name)
        changes[key] = (old.unwrap() if hasattr(old, "unwrap") else old, value)
        table[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return changes
