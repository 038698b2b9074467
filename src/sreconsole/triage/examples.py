"""One row of the triage dataset, the text the model reads of it, and the JSONL file of rows.

What changes together here is the row contract: the fields of :class:`Example`, the
canonical JSON line (whose SHA-256 is the dataset's version) and :func:`alert_text`, the
one text the model reads in training and at inference alike. How rows are made is
``dataset.py`` and its sources.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sreconsole.triage.catalog import load_catalog

ACTION_IDS = load_catalog().ids
"""The shipped catalog's ids: what the rules and the shipped dataset may label with."""


def alertname_words(alertname: str) -> str:
    """``KubePodCrashLooping`` → ``Kube Pod Crash Looping`` (also ``etcdNoLeader``, ``HTTPErrors``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_:.\-]+", " ", alertname)
    return " ".join(spaced.split())


def alert_family(alertname: str) -> str:
    """The split group of an alertname: lower-case letters only, ``Kubernetes`` read as
    ``Kube``, digits and a trailing severity word dropped. So ``PersistentVolumeFillingUpWarning``
    and ``…Critical``, ``CloudflareArgo10GBConsumed`` and ``…20GB…``, ``KubePodCrashLooping``
    and awesome's ``KubernetesPodCrashLooping`` share a group and never straddle splits."""
    trimmed = re.sub(r"(?<=[a-z0-9])(Warning|Critical|Info|High|Low|Major|Minor)$", "", alertname)  # not "Slow"
    key = re.sub(r"^kubernetes", "kube", re.sub(r"[^a-z]", "", trimmed.lower()))
    return key or alertname.lower()


@dataclass
class Example:
    """One labelled alert. ``provenance`` holds only JSON types so rows round-trip exactly."""

    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    action: str
    source: str
    provenance: dict[str, Any]
    group: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        """Validates as it goes: a hand-edited row with a typo must not train silently."""
        if not isinstance(data, Mapping):
            raise ValueError("row is not a JSON object")
        names = [f for f in cls.__dataclass_fields__]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        for key in ("labels", "annotations"):
            value = data[key]
            if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise ValueError(f"{key} must map strings to strings")
        for key in ("alertname", "action", "source", "group"):
            if not isinstance(data[key], str) or not data[key]:
                raise ValueError(f"{key} must be a non-empty string")
        if data["action"] not in ACTION_IDS:
            raise ValueError(f"unknown action {data['action']!r}")
        if not isinstance(data["provenance"], Mapping):
            raise ValueError("provenance must be an object")
        return cls(**{n: (dict(data[n]) if isinstance(data[n], Mapping) else data[n]) for n in names})

    def text(self) -> str:
        return alert_text(self.alertname, self.labels, self.annotations)


# -- the model's input ----------------------------------------------------------------------

_TEXT_LABEL_ORDER = ("severity", "namespace", "pod", "container", "deployment", "persistentvolumeclaim",
                     "kind", "name", "kustomization", "helmrelease", "gitrepository", "node", "instance", "job", "service")
_TEXT_SKIP_LABELS = frozenset({"alertname", "cluster", "prometheus", "prometheus_replica", "receive", "tenant_id",
                               "uid", "id", "image", "container_id", "pod_template_hash", "endpoint", "fingerprint"})
_POD_HASH = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$|-[a-z0-9]{5}$")
_POD_HASH_IN_TEXT = re.compile(r"(?<=[a-z0-9])-[a-z0-9]{6,10}-[a-z0-9]{5}\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TEXT_FIELD_CHARS = 400


def _clean(text: str, limit: int = _TEXT_FIELD_CHARS) -> str:
    return " ".join(_POD_HASH_IN_TEXT.sub("", _CONTROL.sub(" ", text)).split())[:limit]


def alert_text(alertname: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The one text the model reads for an alert, in training and at inference alike.

    Included: the alertname and its words (so an unseen ``FooPodCrashLooping`` shares
    tokens with a known one), the labels that say what is affected (in the operator's
    order, then the rest sorted), the summary and the description, each whitespace-collapsed
    and cut at 400 characters (the TRM's context is small). Left out: labels that identify
    the Prometheus or cluster rather than the problem (``cluster``, ``prometheus``…), pod
    name hashes in labels and text (``payments-api-7d9f8b6c5d-x2x9q`` → ``payments-api``: a
    hash tells nothing about the action and never repeats), and every other annotation: ``runbook_url`` and
    ``lambda_function`` would hand the model the answer.
    """
    parts = [f"alert: {alertname} ({alertname_words(alertname).lower()})"]
    keys = [k for k in _TEXT_LABEL_ORDER if k in labels] + sorted(k for k in labels if k not in _TEXT_LABEL_ORDER)
    pairs = []
    for key in keys:
        if key in _TEXT_SKIP_LABELS or not labels[key]:
            continue
        value = strip_pod_hash(labels[key]) if key == "pod" else labels[key]
        pairs.append(f"{key}={_clean(value, 120)}")
    parts.append("labels: " + " ".join(pairs))
    parts.append("summary: " + _clean(annotations.get("summary", "")))
    parts.append("description: " + _clean(annotations.get("description", "")))
    return "\n".join(parts)


def strip_pod_hash(pod: str) -> str:
    """``payments-api-7d9f8b6c5d-x2x9q`` → ``payments-api``: the owner's name of a pod."""
    return _POD_HASH.sub("", pod)


# -- files ----------------------------------------------------------------------------------


def _line(ex: Example) -> str:
    return json.dumps(ex.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(examples: Iterable[Example], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_line(ex) + "\n" for ex in examples), encoding="utf-8")
    return path


def read_jsonl(path: Path | str) -> list[Example]:
    """Rows back; a bad row raises ``ValueError`` naming the file, the line and the reason."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(Example.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
                raise ValueError(f"{path}:{number}: bad dataset row: {exc}") from None
    return out


def dataset_hash(examples: Iterable[Example]) -> str:
    """SHA-256 of the canonical JSONL (what ``write_jsonl`` writes): the dataset's version."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update((_line(ex) + "\n").encode("utf-8"))
    return digest.hexdigest()
