"""The console's own metrics for Prometheus, with ``prometheus_client``, on an opt-in port
(``metrics.listen = "127.0.0.1:9464"``), so the team's Prometheus can scrape the console and
alert on it.

Loopback only unless ``metrics.allow_remote``: the metrics name operators (decisions per
operator) and actions, which a console on a bastion host should not hand to its whole
network by accident. The numbers are computed at scrape time by the same
:func:`~sreconsole.services.console_metrics.collect` the Stats view uses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from sreconsole.services.console_metrics import CONFIDENCE_BUCKETS, ConsoleStats


class MetricsRefused(ValueError):
    """``metrics.listen`` cannot be served as set (one line that says why)."""


def parse_listen(listen: str, allow_remote: bool = False) -> tuple[str, int]:
    """``host:port`` → (host, port); refuses a non-loopback host unless ``allow_remote``."""
    host, sep, port_text = listen.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MetricsRefused(f"metrics.listen {listen!r}: expected host:port, e.g. 127.0.0.1:9464")
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            raise MetricsRefused(f"metrics.listen {listen!r}: the host must be an IP address or localhost") from None
    if not loopback and not allow_remote:
        raise MetricsRefused(f"metrics.listen {listen!r} is not a loopback address: set metrics.allow_remote = true to serve it")
    return host, int(port_text)


class ConsoleCollector:
    """A ``prometheus_client`` collector that reads the numbers at each scrape."""

    def __init__(self, source: Callable[[], ConsoleStats]) -> None:
        self.source = source

    def describe(self) -> list:
        return []  # no scrape at registration: the numbers read the review store

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        s = self.source()
        proposals = GaugeMetricFamily("sreconsole_proposals", "Proposals in the review queue, by method.", labels=["method"])
        for method, n in sorted(s.by_method.items()):
            proposals.add_metric([method], n)
        yield proposals
        for name, value, doc in (
            ("sreconsole_trm_share", s.trm_share, "Share of proposals the TRM made (alone or with retrieval)."),
            ("sreconsole_rag_enhancement_rate", s.rag_rate, "Share of the model's proposals that retrieval enhanced."),
            ("sreconsole_human_review_share", s.human_review_share, "Share of proposals that require human review."),
        ):
            g = GaugeMetricFamily(name, doc)
            if value is not None:
                g.add_metric([], value)
            yield g
        latency = GaugeMetricFamily("sreconsole_triage_latency_seconds", "Triage latency per proposal, recent percentiles.",
                                    labels=["rag", "quantile"])
        for key, rag in (("with_rag", "true"), ("without_rag", "false")):
            for q in ("p50", "p95", "p99"):
                if key in s.latency:
                    latency.add_metric([rag, f"0.{q[1:]}"], s.latency[key][q])
        yield latency
        for cache, (hits, misses) in (("embedding", s.embed_cache), ("query", s.query_cache)):
            yield CounterMetricFamily(f"sreconsole_{cache}_cache_hits", f"{cache.title()} cache hits.", value=hits)
            yield CounterMetricFamily(f"sreconsole_{cache}_cache_misses", f"{cache.title()} cache misses.", value=misses)
            ratio = GaugeMetricFamily(f"sreconsole_{cache}_cache_hit_ratio", f"{cache.title()} cache hits / lookups.")
            if hits + misses:
                ratio.add_metric([], hits / (hits + misses))
            yield ratio
        buckets, running = [], 0
        for bound, n in zip(CONFIDENCE_BUCKETS, s.confidence):
            running += n
            buckets.append((str(bound), running))
        buckets.append(("+Inf", running))
        yield HistogramMetricFamily("sreconsole_proposal_confidence", "Confidence of the proposals in the queue.",
                                    buckets=buckets, sum_value=None)
        decisions = GaugeMetricFamily("sreconsole_decisions", "Decisions per operator.", labels=["operator"])
        for who, n in sorted(s.decisions_by_operator.items()):
            decisions.add_metric([who], n)
        yield decisions
        outcomes = GaugeMetricFamily("sreconsole_action_outcomes", "Executed actions by effect.", labels=["action", "outcome"])
        rate = GaugeMetricFamily("sreconsole_action_effectiveness_rate", "Share of executed actions that fixed their alert.",
                                 labels=["action"])
        for action, counts in sorted(s.outcomes.items()):
            for outcome, n in sorted(counts.items()):
                outcomes.add_metric([action, outcome], n)
            if s.effectiveness(action) is not None:
                rate.add_metric([action], s.effectiveness(action))
        yield outcomes
        yield rate


def serve(listen: str, source: Callable[[], ConsoleStats], *, allow_remote: bool = False):
    """Start the exporter's HTTP server (a daemon thread); returns it (``.shutdown()``).
    :class:`MetricsRefused` for a setting it will not serve, OSError for a port in use."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_listen(listen, allow_remote)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector(source))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
