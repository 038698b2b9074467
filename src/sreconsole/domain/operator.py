"""Who is at the keyboard: the identity written on silences, decisions and audit entries.

What the kernel vouches for and what the environment only claims are kept apart:

* ``user`` and ``uid`` are the process's effective user, read from the kernel
  (``os.geteuid()`` → the password database). Nobody can set them from the environment.
* ``login_user`` is the user the session logged in as, from ``/proc/self/loginuid`` (set by
  PAM at login, inherited across ``sudo`` and ``su``, and not changeable by the user): who
  ran ``sudo -u sreconsole …``. Empty where the kernel keeps no login uid (containers,
  cron) or when it is the same user.
* ``claimed_user`` (``$USER``/``$LOGNAME``) and ``ssh_connection`` (``$SSH_CONNECTION``)
  are whatever the environment says. They are recorded *beside* the verified user, never
  instead of it: ``USER=alice sreconsole …`` run by bob is recorded as bob, claiming alice.
  ``client_address`` is the first field of ``SSH_CONNECTION``: a claim too (sshd sets it,
  but the user can change it before starting sreconsole).

Reading them from the process is :func:`sreconsole.services.identity.current_operator`;
this module is the value and how it is shown and recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operator:
    user: str
    """The verified user (the kernel's effective uid) for an operator built by
    :func:`sreconsole.services.identity.current_operator`; tests build others directly."""
    client_address: str = ""
    """Claimed: the client address from ``SSH_CONNECTION``."""
    uid: int | None = None
    login_user: str = ""
    """Verified by the kernel: the login session's user, when it differs from ``user``."""
    claimed_user: str = ""
    """Claimed: ``$USER`` (or ``$LOGNAME``) when it differs from ``user``."""
    ssh_connection: str = ""
    """Claimed: ``$SSH_CONNECTION`` as given."""

    def __str__(self) -> str:
        return f"{self.user}@{self.client_address}" if self.client_address else self.user

    def display(self) -> str:
        """For the header: the verified user, the claimed address, and a claimed name only
        when it differs, marked as a claim."""
        text = str(self)
        if self.login_user:
            text += f" (login {self.login_user})"
        if self.claimed_user:
            text += f" (claims {self.claimed_user})"
        return text

    def identity(self) -> dict:
        """What the audit entry records beside ``user``/``client``: the uid, and each claim
        or login user that is present. Empty for an operator built without the kernel."""
        out: dict = {}
        if self.uid is not None:
            out["uid"] = self.uid
            out["user"] = self.user
        if self.login_user:
            out["login_user"] = self.login_user
        if self.claimed_user:
            out["claimed_user"] = self.claimed_user
        if self.ssh_connection:
            out["ssh_connection"] = self.ssh_connection
        return out
