"""Who is at the keyboard: the identity written on silences and decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operator:
    user: str
    client_address: str = ""

    def __str__(self) -> str:
        return f"{self.user}@{self.client_address}" if self.client_address else self.user

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], fallback_user: str = "unknown") -> Operator:
        """``$USER`` (or ``$LOGNAME``) and, over SSH, the client address from ``SSH_CONNECTION``.

        ``SSH_CONNECTION`` is ``client_ip client_port server_ip server_port``.
        """
        user = environ.get("USER") or environ.get("LOGNAME") or fallback_user
        client = ""
        conn = environ.get("SSH_CONNECTION", "").split()
        if conn:
            client = conn[0]
        elif environ.get("SSH_CLIENT"):
            client = environ["SSH_CLIENT"].split()[0]
        return cls(user=user, client_address=client)
