"""A ``kubernetes`` API client for one cluster, for the remediation executor, the training
Job submitter and ``doctor`` alike. ``kubernetes`` is imported when a client is built,
never at import time (the TUI starts without it).

Every request the client sends has a **total deadline**. urllib3's timeouts are per socket
operation, so an API server (or a proxy in front of it) that answers one byte every two
seconds would hold a call for as long as it liked; the client built here runs each request
in a helper thread and stops waiting once the whole answer has not arrived within the
request's timeout, raising urllib3's ``ReadTimeoutError`` as a per-read timeout would. The
callers already turn that into "no answer within N s; the change may or may not have been
made". (The helper thread is a daemon: it cannot delay the process's exit.)
"""

from __future__ import annotations

import threading
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
    _bound_every_request(api_client, float(timeout_s))
    return api_client


def _total(request_timeout, default_s: float) -> float:
    """A request's whole deadline from its ``_request_timeout`` (seconds, or a
    ``(connect, read)`` pair: their sum), or the client's configured timeout."""
    if isinstance(request_timeout, int | float) and request_timeout > 0:
        return float(request_timeout)
    if isinstance(request_timeout, tuple) and request_timeout:
        parts = [float(t) for t in request_timeout if isinstance(t, int | float) and t > 0]
        if parts:
            return sum(parts)
    return default_s


def _bound_every_request(api_client, default_s: float) -> None:
    """Wrap the client's one way out (``rest_client.request``) in a total deadline."""
    import urllib3

    rest = api_client.rest_client
    send = rest.request

    def request(method, url, *args, _request_timeout=None, _preload_content=True, **kwargs):
        deadline = _total(_request_timeout, default_s)
        outcome: dict = {}

        def run() -> None:
            try:
                response = send(method, url, *args, _request_timeout=_request_timeout, _preload_content=_preload_content, **kwargs)
                if not _preload_content:
                    response.data  # noqa: B018 - read the whole body within the deadline (urllib3 keeps it)
                outcome["response"] = response
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as is
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="kubernetes request", daemon=True)
        worker.start()
        worker.join(deadline)
        if worker.is_alive():
            raise urllib3.exceptions.ReadTimeoutError(None, url, f"no complete answer within {deadline:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]

    rest.request = request
