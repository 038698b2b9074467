"""Alertmanager API v2: the live alerts behind the Alerts pane.

Reads ``GET /api/v2/alerts`` (active, silenced and inhibited together, so the pane can
show every state) with a timeout and retries. Values are kept exactly as received; the
TUI makes them safe to display.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from sreconsole.domain.alerts import Alert, AlertGroup, AlertState, fingerprint, parse_time
from sreconsole.domain.matchers import Matcher, MatchType
from sreconsole.domain.silences import Silence, parse_silence
from sreconsole.domain.text import to_str
from sreconsole.sources.base import SourceError
from sreconsole.sources.http import JsonApiSource, describe_error, get_json, within


_SILENCE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {to_str(k): to_str(v) for k, v in value.items()}


def parse_alert(raw: Any, cluster: str = "", prefix: str = "") -> Alert | None:
    """One element of ``/api/v2/alerts``; None when it is not an alert at all. ``cluster``
    becomes :attr:`Alert.cluster`; ``prefix`` (``"prod-eu/"`` when several clusters are
    merged) goes before the fingerprint, so two clusters' equal label sets stay two rows."""
    if not isinstance(raw, dict):
        return None
    labels = _str_map(raw.get("labels"))
    if not labels:
        return None
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    silenced_by = tuple(to_str(x) for x in status.get("silencedBy") or () if x)
    inhibited_by = tuple(to_str(x) for x in status.get("inhibitedBy") or () if x)
    state_name = status.get("state")
    if silenced_by:
        state = AlertState.SILENCED
    elif inhibited_by:
        state = AlertState.INHIBITED
    elif state_name == "unprocessed" or state_name == "active" or state_name is None:
        state = AlertState.FIRING
    else:
        state = AlertState.FIRING
    fp = raw.get("fingerprint")
    return Alert(
        fingerprint=prefix + (to_str(fp) if isinstance(fp, str) and fp else fingerprint(labels)),
        labels=labels,
        annotations=_str_map(raw.get("annotations")),
        starts_at=parse_time(raw.get("startsAt")) or datetime.now(timezone.utc),
        ends_at=parse_time(raw.get("endsAt")),
        state=state,
        generator_url=to_str(raw.get("generatorURL") or ""),
        silenced_by=silenced_by,
        inhibited_by=inhibited_by,
        cluster=cluster,
    )


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]{0,200}")
"""Values sent to Alertmanager's ``filter=`` as they are: no quotes, backslashes, commas,
braces or spaces, whose escaping differs between its matcher parsers."""


def server_matchers(matchers: Sequence[Matcher]) -> list[Matcher]:
    """The matchers Alertmanager evaluates exactly as the pane does: ``=`` and ``!=`` on a
    plain value (a missing label is the empty string on both sides). Regex matchers stay
    on our side (RE2 here, Go's regexp there: close, not the same guarantees), and so does
    ``cluster``: it may be the pseudo-label of the configured cluster, which Alertmanager
    has never heard of (:meth:`~sreconsole.domain.matchers.Matcher.matches_alert`)."""
    return [
        m for m in matchers
        if m.type in (MatchType.EQUAL, MatchType.NOT_EQUAL) and m.name != "cluster" and _PLAIN_VALUE.fullmatch(m.value)
    ]


class AlertmanagerSource(JsonApiSource):
    """Alerts, groups and silences from a real Alertmanager. The connection options
    (timeout, retries, basic or bearer auth, tenant, transport) are :class:`JsonApiSource`'s."""

    name = "alertmanager"

    def __init__(self, url: str, *, cluster: str = "", prefix: str = "", name: str = "alertmanager", **options: Any) -> None:
        super().__init__(url, **options)
        self.name = name
        """What the header calls it: ``alertmanager``, or with the cluster and member."""
        self.cluster = cluster
        self.prefix = prefix
        """Put before every fingerprint (see :func:`parse_alert`)."""
        self.updated_at: dict[str, str] = {}
        """Fingerprint (with prefix) → ``updatedAt`` as the last poll received it: an HA
        pair's merge keeps the fresher of two copies (:mod:`sreconsole.sources.clusters`)."""
        self._cache: dict[str, tuple[tuple, Alert]] = {}

    @staticmethod
    def pushable(matchers: Sequence[Matcher]) -> list[Matcher]:
        """Those of ``matchers`` that ``fetch_alerts`` can have Alertmanager apply."""
        return server_matchers(matchers)

    async def fetch_alerts(self, matchers: Sequence[Matcher] = ()) -> Sequence[Alert]:
        """Every alert, or only those ``matchers`` select: the ones :func:`server_matchers`
        keeps go to Alertmanager as ``filter=`` (it then serialises only what matches,
        the cost that dominates a poll of 10,000 alerts); the caller still filters what
        comes back with all its matchers."""
        params: list[tuple[str, str]] = [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
        params += [("filter", f'{m.name}{m.type.value}"{m.value}"') for m in server_matchers(matchers)]
        return await self._fetch("/api/v2/alerts", params, lambda data: self._parse_all(_a_list(data, "alerts")))

    async def fetch_groups(self) -> list[AlertGroup]:
        """Alertmanager's own grouping (``/api/v2/alerts/groups``): its route's ``group_by``
        and receivers, i.e. how notifications were batched — what an operator compares with
        the pane's grouping when asking "why did I get one page for all of these?"."""
        return await self._fetch("/api/v2/alerts/groups", {"active": "true", "silenced": "true", "inhibited": "true"}, self._parse_groups)

    def _parse_groups(self, data: Any) -> list[AlertGroup]:
        groups = []
        for item in _a_list(data, "groups"):
            if not isinstance(item, dict):
                continue
            receiver = item.get("receiver") if isinstance(item.get("receiver"), dict) else {}
            alerts = [a for a in (parse_alert(x, self.cluster, self.prefix) for x in item.get("alerts") or () if isinstance(item.get("alerts"), list)) if a is not None]
            groups.append(AlertGroup(to_str(receiver.get("name") or ""), _str_map(item.get("labels")), tuple(alerts)))
        return groups

    def _parse_all(self, data: list) -> list[Alert]:
        """Parse, reusing the previous poll's Alert when Alertmanager reports it unchanged
        (same fingerprint, ``updatedAt``, state and silences): at 10,000 alerts most of a
        poll is alerts that did not change."""
        previous = self._cache
        current: dict[str, tuple[tuple, Alert]] = {}
        updated: dict[str, str] = {}
        alerts = []
        for item in data:
            if not isinstance(item, dict):
                continue
            fp = item.get("fingerprint")
            status = item.get("status")
            signature = (item.get("updatedAt"), item.get("endsAt"), repr(status)) if isinstance(fp, str) else None
            cached = previous.get(fp) if signature is not None else None
            if cached is not None and cached[0] == signature:
                alert = cached[1]
            else:
                alert = parse_alert(item, self.cluster, self.prefix)
                if alert is None:
                    continue
            if signature is not None:
                current[fp] = (signature, alert)
                if isinstance(signature[0], str):
                    updated[alert.fingerprint] = signature[0]
            alerts.append(alert)
        self._cache = current
        self.updated_at = updated
        return alerts

    # -- silences -----------------------------------------------------------------

    async def list_silences(self) -> list[Silence]:
        data = await get_json(self._client, f"{self.url}/api/v2/silences", retries=self.retries, deadline_s=self.timeout_s)
        if not isinstance(data, list):
            raise SourceError("unexpected answer to /api/v2/silences")
        return [s for s in (parse_silence(item) for item in data) if s is not None]

    async def create_silence(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str,
        silence_id: str = "",
    ) -> str:
        """Create a silence; returns its id. Not retried after the request was sent:
        a timeout may still have created it, and a second one would be a duplicate.

        With ``silence_id`` it updates that silence: Alertmanager changes an active one in
        place when only its end moved, and otherwise expires it and answers a new id."""
        if silence_id and not _SILENCE_ID.fullmatch(silence_id):
            raise SourceError(f"not a silence id: {silence_id[:60]!r}")
        body = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": starts_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "endsAt": ends_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "createdBy": created_by,
            "comment": comment,
        }
        if silence_id:
            body["id"] = silence_id
        try:
            response = await within(self._client.post(f"{self.url}/api/v2/silences", json=body), self.timeout_s)
        except httpx.HTTPError as exc:
            raise SourceError(f"silence not confirmed: {describe_error(exc)}") from None
        if response.status_code != 200:
            raise SourceError(f"Alertmanager refused the silence: HTTP {response.status_code}: {response.text[:200]}")
        try:
            silence_id = response.json()["silenceID"]
        except (ValueError, KeyError, TypeError):
            raise SourceError("Alertmanager answered without a silence id") from None
        return to_str(silence_id)

    async def expire_silence(self, silence_id: str) -> None:
        if not _SILENCE_ID.fullmatch(silence_id):
            raise SourceError(f"not a silence id: {silence_id[:60]!r}")
        try:
            response = await within(self._client.delete(f"{self.url}/api/v2/silence/{silence_id}"), self.timeout_s)
        except httpx.HTTPError as exc:
            raise SourceError(f"expire not confirmed: {describe_error(exc)}") from None
        if response.status_code != 200:
            raise SourceError(f"Alertmanager refused to expire {silence_id}: HTTP {response.status_code}: {response.text[:200]}")


def _a_list(data: Any, what: str) -> list:
    if not isinstance(data, list):
        raise SourceError(f"unexpected answer: a JSON {type(data).__name__}, not a list of {what}")
    return data
