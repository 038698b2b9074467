"""The exit codes every ``sreconsole`` command uses (README, "Exit codes").

Scripts and on-call bots branch on these numbers, so they are part of the interface: one
place defines them and every command module imports them from here.
"""

EXIT_OK = 0
"""Done; for ``doctor``, every configured check passed."""
EXIT_FAILED = 1
"""A check failed, or the job could not be done (the reason is one line on stderr)."""
EXIT_CONFIG = 2
"""Bad configuration or arguments (stderr names the file, the line or the flag)."""
EXIT_BUSY = 3
"""Another process holds the store (the knowledge store's writer, an active pipeline run)."""
EXIT_LOST_RACE = 4
"""A review decision lost the race: another operator decided first."""
EXIT_READ_ONLY = 5
EXIT_REFUSED = 6
"""The approval policy refused it (four eyes, self-approval, a rule): the message names the rule."""
"""Refused because sreconsole runs read-only."""
EXIT_BAD_RECORDING = 7
"""A session recording that cannot be used: damaged before its first event, not a
recording, of a format version this sreconsole does not read, or (``--record``) a file
that exists already."""
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (``sreconsole ask --json | head -1``): the command stops
quietly, with the status a shell reports for a Unix tool killed by SIGPIPE (128 + 13), so
``set -o pipefail`` treats it exactly as it treats ``yes | head``."""
