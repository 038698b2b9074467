"""One readable line for a failed Kubernetes API call, shared by the remediation executor
and the training Job submitter: an operator reads these in a notification or a run's error,
so they name the status, the API server's own message and, for a connection failure, the
host and what went wrong — never a traceback. ``kubernetes`` and ``urllib3`` are imported
only when a failure has to be described."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from sreconsole.domain.text import clean

ERROR_LIMIT = 300


def api_host(api_client: Any) -> str:
    configuration = getattr(api_client, "configuration", None)
    return str(getattr(configuration, "host", "") or "(unknown host)")


def api_error_line(api_client: Any, exc: Any, *, status_reason: bool = False) -> str:
    """``404 Not Found: pods "x" not found`` from an ``ApiException``. With
    ``status_reason`` the Status object's own reason (``AlreadyExists``) is preferred to the
    HTTP reason phrase."""
    if not exc.status:  # the client's own failures (TLS) carry status 0
        lines = str(exc.reason or "").splitlines() or ["no answer"]
        return clean(f"cannot reach the Kubernetes API at {api_host(api_client)}: {lines[-1]}", ERROR_LIMIT)
    reason, message = "", ""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            message = body  # not a Status object: a proxy or load balancer answered; show its text
        else:
            if isinstance(status, dict):
                message = str(status.get("message") or "")
                if status_reason:
                    reason = str(status.get("reason") or "")
    if not reason:
        reason = str(exc.reason or "")
    if not reason:
        try:
            reason = HTTPStatus(exc.status).phrase
        except ValueError:
            reason = "error"
    return clean(f"{exc.status} {reason}" + (f": {message}" if message else ""), ERROR_LIMIT)


def connection_error_line(api_client: Any, exc: BaseException, method: str, timeout: float) -> str:
    """The API could not be reached or did not answer in time; for a change, say that it may
    or may not have been made."""
    import urllib3

    reason: BaseException = getattr(exc, "reason", None) or exc
    # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        why = str(reason).rsplit(": ", 1)[-1]
        if why.startswith("[Errno"):
            why = why.split("] ", 1)[-1]
        why = why.lower()
    elif isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        why = f"no connection within {timeout:g} s"
    elif isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        why = f"no answer within {timeout:g} s"
        if method != "GET":
            why += "; the change may or may not have been made"
    else:
        why = str(reason) or type(reason).__name__
    return clean(f"cannot reach the Kubernetes API at {api_host(api_client)}: {why}", ERROR_LIMIT)
