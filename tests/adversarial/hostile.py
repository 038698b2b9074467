"""Hostile text for the adversarial tests, and how to tell whether it reached the terminal.

Each attack class is a string an alert poster controls (an alertname, a label, an
annotation). The tests post alerts carrying them to the real Alertmanager from
``tests/harness.py`` and look at what the app would write to the terminal:
``screen_faults`` renders the whole screen the way Textual's driver does
(``render_full_update().render_segments``) and reports any escape sequence, control,
bidi or zero-width character, hyperlink or click action that came from outside text.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote
from datetime import datetime, timedelta, timezone

ATTACKS: dict[str, str] = {
    # markup: Textual's parser crashed on an unbalanced closing tag ...
    "markup-crash": "AABroken[/]",
    # ... styled the screen with a balanced one, and turned text into a link or an action
    "markup-style": "[bold red on white]LOUD[/] [reverse]x[/reverse] [/bold]",
    "markup-click": 'X[link="https://evil.example"]CLICK[/link][@click=app.quit]QUIT[/]',
    # terminal escapes: clear screen + move + colour (CSI), clipboard write (OSC 52),
    # hyperlink (OSC 8), window title, and the 8-bit C1 forms
    "csi": "pay\x1b[2J\x1b[H\x1b[31mRED\x1b[0m",
    "osc52": "clip\x1b]52;c;ZWNobyBwd25lZCA+IH4vLmJhc2hyYw==\x07board",
    "osc8": "lnk\x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\",
    "title": "t\x1b]0;you have been pwned\x07t",
    "c1": "c1\u009b31mred\u009d0;title\u009cend",
    # bidi override: "…gpj.exe" shows as "…exe.jpg"; zero-width joiners hide text
    "bidi": "invoice\u202egpj.exe\u202c \u2066x\u2069 zw\u200b\u200djoin",
    "nul": "nul\x00byte\x00",
    "huge": "A" * 100_000,
}
"""Attack class → the hostile text it puts in labels and annotations."""

CLICK_ACTION = "app.quit"


def hostile_alert(kind: str, text: str, *, extra: dict[str, str] | None = None) -> dict:
    """An Alertmanager v2 alert carrying ``text`` in its name, labels and annotations.

    The alertname starts with a plain marker (``Hostile<Kind>``) so a test can find it.
    """
    now = datetime.now(timezone.utc)
    return {
        "labels": {
            "alertname": f"{marker(kind)}{text}",
            "severity": "critical",
            "namespace": f"payments{text}",
            "pod": f"api-7d9f8-x2kqp{text}",
            "team": text,
            **(extra or {}),
        },
        "annotations": {
            "summary": f"summary {text}",
            "description": f"description {text}\nsecond line {text}",
            "runbook_url": f"https://runbooks.example/{text}",
        },
        "startsAt": (now - timedelta(minutes=3)).isoformat(),
        "endsAt": (now + timedelta(hours=2)).isoformat(),
        # Alertmanager refuses a control character in a URL; markup and bidi get through.
        "generatorURL": "http://prometheus.example/graph?g0.expr=" + quote(text, safe="[]=@\"/:;,\u202e\u202c\u2066\u2069"),
    }


def marker(kind: str) -> str:
    """``HostileMarkupCrash`` for ``markup-crash``: plain text to find the alert by."""
    return "Hostile" + "".join(part.capitalize() for part in kind.split("-"))


def rendered(app) -> tuple[str, list]:
    """(the bytes Textual would write for the whole screen, every segment on it)."""
    update = app.screen._compositor.render_full_update()
    raw = update.render_segments(app.console)
    segments = [segment for line in update.strips for strip in line for segment in strip]
    return raw, segments


def screen_text(app) -> str:
    """Everything drawn on the screen now, as one string (rows run together)."""
    return "".join(segment.text for segment in rendered(app)[1])


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def screen_faults(app) -> list[str]:
    """What outside text did to the screen: [] when nothing."""
    raw, segments = rendered(app)
    faults = []
    for segment in segments:
        bad = sorted({f"U+{ord(ch):04X}" for ch in segment.text if _invisible(ch)})
        if bad:
            faults.append(f"segment {segment.text[:40]!r} carries {', '.join(bad)}")
        style = segment.style
        if style is not None and style.link:
            faults.append(f"segment {segment.text[:40]!r} is a hyperlink to {style.link}")
        if style is not None and style.meta and "@click" in style.meta:
            faults.append(f"segment {segment.text[:40]!r} runs {style.meta['@click']} on a click")
    for needle, what in (("\x1b]", "an OSC sequence (hyperlink, clipboard, title)"), ("\x1bP", "a DCS sequence"), ("\x1b[2J", "a clear-screen"),
                         ("\x00", "a NUL"), ("\u009b", "an 8-bit CSI"), ("\u009d", "an 8-bit OSC"), ("\u202e", "a bidi override"), ("\u200b", "a zero-width space")):
        if needle in raw:
            faults.append(f"the terminal would receive {what}")
    return faults


def toasts(app) -> list[str]:
    """The messages of the toasts on screen now."""
    return [n.message for n in app._notifications]


def toast_ids(app) -> set[str]:
    return {n.identity for n in app._notifications}


def new_toasts(app, before: set[str]) -> list[str]:
    """Messages of toasts that appeared since ``before = toast_ids(app)``."""
    return [n.message for n in app._notifications if n.identity not in before]


async def until(pilot, condition, what: str, tries: int = 400) -> None:
    """Pause the pilot until ``condition()`` holds (about 20 s at most)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def settle(app, pilot) -> None:
    """Let running workers finish (a poll cancelled by the next one is fine)."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(5):
        try:
            await app.workers.wait_for_complete()
            break
        except (WorkerCancelled, WorkerFailed):
            await pilot.pause(0.05)
    await pilot.pause()
