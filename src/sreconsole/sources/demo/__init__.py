"""The embedded demo environment: a simulated cluster with alerts, metrics and logs."""

from sreconsole.sources.demo.simulator import DemoCluster, DemoAlertSource, load_scenario

__all__ = ["DemoCluster", "DemoAlertSource", "load_scenario"]
