"""Who runs this process, from the kernel, with what the environment claims beside it
(:class:`~sreconsole.domain.operator.Operator` says what each field is worth)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping

from sreconsole.domain.operator import Operator

_NO_LOGIN_UID = 4294967295
"""``/proc/self/loginuid`` when no login set it ((uid_t)-1)."""


def current_operator(environ: Mapping[str, str] | None = None) -> Operator:
    """The kernel's effective user, the login session's user when it differs (``sudo``),
    and the environment's claims: ``$USER``/``$LOGNAME`` and ``$SSH_CONNECTION``
    (``client_ip client_port server_ip server_port``; ``$SSH_CLIENT`` when it is absent)."""
    env = os.environ if environ is None else environ
    uid = os.geteuid()
    user = _name_of(uid)
    login = _login_uid()
    claimed = env.get("USER") or env.get("LOGNAME") or ""
    conn = env.get("SSH_CONNECTION", "") or env.get("SSH_CLIENT", "")
    return Operator(
        user=user,
        client_address=conn.split()[0] if conn.split() else "",
        uid=uid,
        login_user=_name_of(login) if login is not None and login != uid else "",
        claimed_user=claimed if claimed != user else "",
        ssh_connection=conn,
    )


def _name_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no entry (containers): the number is the identity
        return f"uid:{uid}"


def _login_uid() -> int | None:
    try:
        with open("/proc/self/loginuid", encoding="ascii") as fh:
            value = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return None if value == _NO_LOGIN_UID else value


def unix_groups(user: str) -> frozenset[str]:
    """The Unix groups ``user`` is in (primary and supplementary, from the group database):
    what the approval policy's ``groups`` name. Empty for a user the system does not know."""
    import grp

    try:
        entry = pwd.getpwnam(user)
        ids = os.getgrouplist(user, entry.pw_gid)
    except (KeyError, OSError):
        return frozenset()
    names = set()
    for gid in ids:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return frozenset(names)
