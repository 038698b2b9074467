"""A ``kubernetes`` API client for one cluster, for the remediation executor and the
training Job submitter alike. ``kubernetes`` is imported when a client is built, never at
import time (the TUI starts without it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sreconsole.domain.text import clean

if TYPE_CHECKING:
    import kubernetes


class KubeClientError(Exception):
    """No client can be built from the settings; the message is one line for the operator."""


def make_api_client(
    kubeconfig: str = "", context: str = "", in_cluster: bool = False, timeout_s: float = 5.0
) -> kubernetes.client.ApiClient:
    """A client for one cluster, from a kubeconfig file or the pod's service account.

    Nothing is requested from the API server here; the first request is the first
    execution. (A kubeconfig whose user runs an ``exec`` credential plugin does run that
    plugin now — that is how the client loads it.) Any problem raises
    :class:`KubeClientError` naming the file or the context.
    """
    if not timeout_s or timeout_s <= 0:
        raise KubeClientError(f"kubernetes timeout must be positive, got {timeout_s!r}")
    if not in_cluster and not kubeconfig:
        raise KubeClientError(
            "no Kubernetes API configured: set kubernetes.kubeconfig or kubernetes.in_cluster"
        )
    try:
        from kubernetes import client as k8s
        from kubernetes import config as k8s_config
    except ImportError as exc:
        raise KubeClientError(f"the kubernetes Python package cannot be imported ({exc})") from None

    configuration = k8s.Configuration()
    if in_cluster:
        source = "in-cluster service account"
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except Exception as exc:  # ConfigException, OSError: all become one line
            raise KubeClientError(f"cannot use the {source}: {clean(str(exc), 200)}") from None
    else:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise KubeClientError(f"kubeconfig {path} does not exist or is not a file")
        where = f"kubeconfig {path}" + (f" (context {context!r})" if context else "")
        try:
            k8s_config.load_kube_config(
                config_file=str(path),
                context=context or None,
                client_configuration=configuration,
                persist_config=False,  # never write back to the operator's file
            )
        except Exception as exc:  # the loader raises ConfigException, YAML, Type, Key errors
            detail = clean(str(exc) or type(exc).__name__, 200)
            raise KubeClientError(f"cannot use {where}: {detail}") from None
    # urllib3 retries a failed connection three times by default; with a per-request
    # timeout that is four times the wait for an operator at the keyboard.
    configuration.retries = 1
    api_client = k8s.ApiClient(configuration)
    api_client.sreconsole_timeout_s = float(timeout_s)  # read by Executor
    return api_client
