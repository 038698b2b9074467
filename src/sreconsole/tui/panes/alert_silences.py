"""Silencing from the Alerts pane: silence, acknowledge (a short silence marked as an ack)
and expire, each an Alertmanager write that reports its id or its reason and refreshes the
table at once. Read-only consoles refuse all three.

A silence or an ack matches every label of the selected alert (as Alertmanager's UI and
karma do). That can still mute others, alerts with the same labels and more: the silence
dialog says how many firing alerts it mutes, and above one a confirmation names them.

A mixin of :class:`~sreconsole.tui.panes.alerts.AlertsPane`, which holds the bindings
(``s``, ``a``, ``x``, and ``S`` for the Silences view), the service, the operator and the selection (``_need_alert``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work

from sreconsole.domain.alerts import Alert, format_age
from sreconsole.domain.silences import matchers_for, muted_alerts
from sreconsole.sources.base import SourceError
from sreconsole.tui.modals import MuteConfirmScreen, SilenceRequest, SilenceScreen
from sreconsole.tui.render import notify_plain

if TYPE_CHECKING:
    from sreconsole.domain.operator import Operator
    from sreconsole.services.alerts import AlertsService


class SilenceActions:
    """``action_silence``, ``action_acknowledge`` and ``action_expire`` for the Alerts pane."""

    service: AlertsService
    operator: Operator

    def _read_only(self) -> bool:
        if getattr(self.app, "settings", None) is not None and self.app.settings.read_only:
            why = "replay is read-only" if getattr(self.app, "replay", None) is not None else "read-only mode"
            notify_plain(self, f"{why}: silences are disabled", severity="warning")
            return True
        return False

    def action_silence(self) -> None:
        alert = self._need_alert()
        if alert is None or self._read_only():
            return

        muted = self._muted(alert)

        def done(request: SilenceRequest | None) -> None:
            if request is not None:
                self._confirm_wide("silence", alert, muted, lambda: self._create_silence(alert, request))

        self.app.push_screen(SilenceScreen(alert, str(self.operator), muted=muted), done)

    def _muted(self, alert: Alert) -> list[Alert]:
        """The firing alerts a silence of ``alert`` would mute, from the last poll."""
        snapshot = getattr(self, "snapshot", None)
        return muted_alerts(matchers_for(alert), snapshot.alerts if snapshot is not None else (alert,))

    def _confirm_wide(self, what: str, alert: Alert, muted: list[Alert], go: Callable[[], object]) -> None:
        """``go`` at once when only this alert is muted; after a confirmation otherwise."""
        if len(muted) <= 1:
            go()
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                go()
            else:
                notify_plain(self, f"{what} cancelled: nothing was created", severity="warning")

        self.app.push_screen(MuteConfirmScreen(what, alert, matchers_for(alert), muted), answered)

    async def _make_silence(self, what: str, call, done: Callable[[str], str]) -> None:
        """Run one silence call; report the id (or the reason) and refresh at once."""
        try:
            silence_id = await call
        except SourceError as exc:
            notify_plain(self, f"{what} failed: {exc}", severity="error", timeout=10)
            return
        notify_plain(self, done(silence_id), timeout=8)
        self.app.action_alerts_refresh()

    @work(group="alerts-silence", exit_on_error=False, description="create silence")
    async def _create_silence(self, alert: Alert, request: SilenceRequest) -> None:
        length = format_age(request.duration.total_seconds())
        await self._make_silence(
            "silence",
            self.service.silence(alert, request.duration, request.comment, self.operator),
            lambda sid: f"silence {sid} created for {alert.alertname} ({length})",
        )

    def action_acknowledge(self) -> None:
        alert = self._need_alert()
        if alert is None or self._read_only():
            return
        self._confirm_wide("ack", alert, self._muted(alert), lambda: self._ack(alert))

    @work(group="alerts-silence", exit_on_error=False, description="acknowledge")
    async def _ack(self, alert: Alert) -> None:
        await self._make_silence(
            "ack", self.service.acknowledge(alert, self.operator), lambda sid: f"acknowledged {alert.alertname} (silence {sid}, 15m)"
        )

    def action_silences(self) -> None:
        """Every silence, also those that mute nothing (:mod:`sreconsole.tui.panes.silences`)."""
        from sreconsole.tui.panes.silences import SilencesScreen

        def alerts() -> tuple[Alert, ...]:
            snapshot = getattr(self, "snapshot", None)
            return snapshot.alerts if snapshot is not None else ()

        settings = getattr(self.app, "settings", None)
        read_only = bool(settings is not None and settings.read_only)
        self.app.push_screen(SilencesScreen(self.service, self.operator, alerts, read_only=read_only))

    def action_expire(self) -> None:
        alert = self._need_alert()
        if alert is None or self._read_only():
            return
        if not alert.silenced_by:
            notify_plain(self, f"{alert.alertname} is not silenced", severity="warning")
            return
        self._expire(alert)

    @work(group="alerts-silence", exit_on_error=False, description="expire silence")
    async def _expire(self, alert: Alert) -> None:
        done = []
        for silence_id in alert.silenced_by:
            try:
                await self.service.expire(silence_id)
                done.append(silence_id)
            except SourceError as exc:
                notify_plain(self, f"expire {silence_id} failed: {exc}", severity="error", timeout=10)
        if done:
            notify_plain(self, f"expired {', '.join(done)}", timeout=8)
            self.app.action_alerts_refresh()
