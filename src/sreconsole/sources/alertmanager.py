"""Alertmanager API v2: the live alerts behind the Alerts pane.

Reads ``GET /api/v2/alerts`` (active, silenced and inhibited together, so the pane can
show every state) with a timeout and retries. Values are kept exactly as received; the
TUI makes them safe to display.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from sreconsole.domain.alerts import Alert, AlertState, fingerprint
from sreconsole.domain.health import SourceHealth, HealthState, after_failure, after_success
from sreconsole.domain.text import to_str
from sreconsole.sources.base import SourceError
from sreconsole.sources.http import auth_headers, get_json


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {to_str(k): to_str(v) for k, v in value.items()}


def parse_alert(raw: Any) -> Alert | None:
    """One element of ``/api/v2/alerts``; None when it is not an alert at all."""
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
        fingerprint=to_str(fp) if isinstance(fp, str) and fp else fingerprint(labels),
        labels=labels,
        annotations=_str_map(raw.get("annotations")),
        starts_at=parse_time(raw.get("startsAt")) or datetime.now(timezone.utc),
        ends_at=parse_time(raw.get("endsAt")),
        state=state,
        generator_url=to_str(raw.get("generatorURL") or ""),
        silenced_by=silenced_by,
        inhibited_by=inhibited_by,
    )


class AlertmanagerSource:
    """Alerts from a real Alertmanager."""

    name = "alertmanager"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        username: str = "",
        password: str = "",
        bearer_token: str = "",
        stale_after_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.stale_after_s = stale_after_s
        self.clock = clock
        auth = httpx.BasicAuth(username, password) if username else None
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            headers=auth_headers(bearer_token),
            auth=auth,
            transport=transport,
        )
        self._health = SourceHealth(self.name, HealthState.DOWN, reason="not asked yet")

    async def fetch_alerts(self) -> Sequence[Alert]:
        try:
            data = await get_json(
                self._client,
                f"{self.url}/api/v2/alerts",
                params={"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"},
                retries=self.retries,
            )
            if not isinstance(data, list):
                raise SourceError(f"unexpected answer: a JSON {type(data).__name__}, not a list of alerts")
        except SourceError as exc:
            self._health = after_failure(self._health, self.name, self.clock(), str(exc), self.stale_after_s)
            raise
        alerts = [a for a in (parse_alert(item) for item in data) if a is not None]
        self._health = after_success(self.name, self.clock())
        return alerts

    def health(self) -> SourceHealth:
        return self._health

    async def aclose(self) -> None:
        await self._client.aclose()
