"""Several Alertmanagers as one alert source: the members of an HA pair, and the clusters
of a merged list.

**An HA pair** (:class:`AlertmanagerPair`, ``alertmanager.urls``): every member is polled at
once and their answers are merged by fingerprint, keeping the copy with the newer
``updatedAt`` (both members receive every alert from Prometheus, so a member that missed
an update still has the older copy). One member down while another answers is
*degraded*: the list is whole, the redundancy is not. Silences go to the first member that
answered last: Alertmanager's cluster gossips silences to its peers, so posting one to
every member would make one silence per member.

**Several clusters** (:class:`ClusterAlerts`, ``[[clusters]]``): each cluster's source is
polled at once. A cluster that does not answer keeps its last good alerts on screen (its
health says how old they are) while the others stay live; only when none answers does the
poll fail. Silences and acks for an alert go to the alert's cluster, and an existing
silence is changed or expired where it was listed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from collections.abc import Callable, Sequence
from datetime import datetime

from sreconsole.domain.alerts import Alert, parse_time
from sreconsole.domain.health import SourceHealth, combined
from sreconsole.domain.matchers import Matcher
from sreconsole.domain.silences import Silence
from sreconsole.sources.alertmanager import AlertmanagerSource, server_matchers
from sreconsole.sources.base import SourceError


def _fresher(a: Alert, a_updated: str | None, b: Alert, b_updated: str | None) -> bool:
    """Whether copy ``b`` of one alert is newer than copy ``a`` (by ``updatedAt``, then by
    ``endsAt``). Equal strings, the usual case for an HA pair, are settled without parsing."""
    if a_updated == b_updated:
        return (b.ends_at or datetime.min.replace(tzinfo=a.starts_at.tzinfo)) > (a.ends_at or datetime.min.replace(tzinfo=a.starts_at.tzinfo))
    ta, tb = parse_time(a_updated), parse_time(b_updated)
    if ta is None or tb is None:
        return ta is None and tb is not None
    return tb > ta


def merge_by_fingerprint(answers: Sequence[tuple[Sequence[Alert], dict[str, str]]]) -> list[Alert]:
    """The alerts of several members, one per fingerprint, the freshest copy of each, in
    the order the first member that had each alert listed it. ``answers`` are each
    member's alerts and its fingerprint → ``updatedAt`` map."""
    chosen: dict[str, tuple[Alert, str | None]] = {}
    for alerts, updated in answers:
        for alert in alerts:
            fp = alert.fingerprint
            mine = updated.get(fp)
            held = chosen.get(fp)
            if held is None or _fresher(held[0], held[1], alert, mine):
                chosen[fp] = (alert, mine)
    return [alert for alert, _ in chosen.values()]


class AlertmanagerPair:
    """The members of one HA Alertmanager cluster (two or more URLs) as one source."""

    def __init__(self, members: Sequence[AlertmanagerSource], name: str, clock: Callable[[], datetime]) -> None:
        if not members:
            raise ValueError("an Alertmanager pair needs at least one member")
        self.members = list(members)
        self.name = name
        self.clock = clock
        self.updated_at: dict[str, str] = {}
        """The merged alerts' ``updatedAt`` (a pair is itself a member of a merge)."""

    @staticmethod
    def pushable(matchers: Sequence[Matcher]) -> list[Matcher]:
        return server_matchers(matchers)

    async def fetch_alerts(self, matchers: Sequence[Matcher] = ()) -> Sequence[Alert]:
        """Every member's alerts, merged; fails only when no member answered."""
        results = await asyncio.gather(*(m.fetch_alerts(matchers) for m in self.members), return_exceptions=True)
        answers = []
        problems = []
        for member, result in zip(self.members, results):
            if isinstance(result, SourceError):
                problems.append(f"{member.name}: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                answers.append((result, member.updated_at))
        if not answers:
            raise SourceError("; ".join(problems))
        merged = merge_by_fingerprint(answers)
        self.updated_at = {}
        for _, updated in answers:
            self.updated_at.update(updated)
        return merged

    def health(self) -> SourceHealth:
        return combined(self.name, [m.health() for m in self.members], self.clock())

    def health_parts(self) -> list[SourceHealth]:
        """Each member's own health (the header shows them beside the pair's)."""
        return [m.health() for m in self.members]

    def _ordered_members(self) -> list[AlertmanagerSource]:
        """Members that answered last first: a silence goes to one that is up."""
        from sreconsole.domain.health import HealthState

        return sorted(self.members, key=lambda m: m.health().state is not HealthState.OK)

    async def list_silences(self) -> list[Silence]:
        """The silences of the first member that answers (gossip makes them the same)."""
        problems = []
        for member in self._ordered_members():
            try:
                return await member.list_silences()
            except SourceError as exc:
                problems.append(f"{member.name}: {exc}")
        raise SourceError("; ".join(problems))

    async def create_silence(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str,
        silence_id: str = "",
    ) -> str:
        """Post to one member only, the first that answered last; Alertmanager gossips the
        silence to its peers. Not retried on another member: a timeout may have created it."""
        return await self._ordered_members()[0].create_silence(matchers, starts_at, ends_at, created_by, comment, silence_id)

    async def expire_silence(self, silence_id: str) -> None:
        await self._ordered_members()[0].expire_silence(silence_id)

    async def aclose(self) -> None:
        for member in self.members:
            await member.aclose()


class ClusterAlerts:
    """Several clusters' alert sources merged into one list (``[[clusters]]``)."""

    name = "alertmanager"

    def __init__(self, clusters: dict[str, AlertmanagerSource | AlertmanagerPair], clock: Callable[[], datetime]) -> None:
        self.clusters = dict(clusters)
        self.clock = clock
        self._last: dict[str, Sequence[Alert]] = {}
        """Cluster → its last good alerts, shown while that cluster does not answer."""
        self._silence_cluster: dict[str, str] = {}
        """Silence id → the cluster that listed or created it."""

    @staticmethod
    def pushable(matchers: Sequence[Matcher]) -> list[Matcher]:
        return server_matchers(matchers)

    def for_cluster(self, name: str) -> AlertmanagerSource | AlertmanagerPair:
        """The source of cluster ``name``; "" is the first (the default) cluster."""
        if not name:
            return next(iter(self.clusters.values()))
        try:
            return self.clusters[name]
        except KeyError:
            raise SourceError(f"no cluster named {name[:60]!r} is configured") from None

    async def fetch_alerts(self, matchers: Sequence[Matcher] = ()) -> Sequence[Alert]:
        names = list(self.clusters)
        results = await asyncio.gather(*(self.clusters[n].fetch_alerts(matchers) for n in names), return_exceptions=True)
        alerts: list[Alert] = []
        problems = []
        for name, result in zip(names, results):
            if isinstance(result, SourceError):
                problems.append(f"{name}: {result}")
                alerts.extend(self._last.get(name, ()))
            elif isinstance(result, BaseException):
                raise result
            else:
                self._last[name] = result
                alerts.extend(result)
        if len(problems) == len(names):
            raise SourceError("; ".join(problems))
        return alerts

    def health(self) -> SourceHealth:
        return combined(self.name, [s.health() for s in self.clusters.values()], self.clock())

    def health_parts(self) -> list[SourceHealth]:
        """Per cluster, then per member of an HA pair: what the header lists."""
        out: list[SourceHealth] = []
        for source in self.clusters.values():
            out.append(source.health())
            out.extend(getattr(source, "health_parts", list)())
        return out

    async def list_silences(self) -> list[Silence]:
        """Every cluster's silences. A cluster that does not answer is left out (its
        silences are not shown) unless none answers."""
        names = list(self.clusters)
        results = await asyncio.gather(*(self.clusters[n].list_silences() for n in names), return_exceptions=True)
        out: list[Silence] = []
        problems = []
        for name, result in zip(names, results):
            if isinstance(result, SourceError):
                problems.append(f"{name}: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                for silence in result:
                    self._silence_cluster[silence.id] = name
                    out.append(replace(silence, cluster=name))
        if problems and len(problems) == len(names):
            raise SourceError("; ".join(problems))
        return out

    def for_silence(self, silence_id: str) -> AlertmanagerSource | AlertmanagerPair:
        """The cluster that holds silence ``silence_id`` (listed or created by this console)."""
        name = self._silence_cluster.get(silence_id)
        if name is None:
            raise SourceError(f"silence {silence_id[:64]} is in no cluster this console listed: list the silences again")
        return self.clusters[name]

    async def create_silence(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str,
        silence_id: str = "",
    ) -> str:
        """Update ``silence_id`` in its cluster. A new silence needs its cluster: the
        service asks :meth:`for_cluster` with the alert's (never all clusters at once)."""
        if not silence_id:
            raise SourceError("a new silence needs a cluster: silence an alert, or its cluster's Alertmanager")
        name = self._silence_cluster.get(silence_id)
        new_id = await self.for_silence(silence_id).create_silence(matchers, starts_at, ends_at, created_by, comment, silence_id)
        if name is not None:
            self._silence_cluster[new_id] = name
        return new_id

    def created_in(self, cluster: str, silence_id: str) -> None:
        """Remember that ``silence_id`` was made in ``cluster`` (the service calls it)."""
        self._silence_cluster[silence_id] = cluster or next(iter(self.clusters))

    async def expire_silence(self, silence_id: str) -> None:
        await self.for_silence(silence_id).expire_silence(silence_id)

    async def aclose(self) -> None:
        for source in self.clusters.values():
            await source.aclose()
