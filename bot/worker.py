"""The review worker: ticks on a schedule (poll the provider, queue findings, deliver notices).

It is a separate, synchronous process (the Procfile's `worker`): blocking calls are fine here, and no event loop
is shared with the bot. Two workers on one data directory never notify twice (the store's dedupe keys and claims).
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import cast

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.notifier import SlackNotifier, sync_web_client
from bot.settings import SlackSettings
from bot.wiring import build_ports, review_policy
from core.config import Settings
from core.model import Application, ChatThread, Instance, Notice
from core.ports import Clock, Notifier
from core.services.tracking import TickResult, tick
from notebooks.run import ReportName

log = logging.getLogger(__name__)
MAX_POLL_BACKOFF = timedelta(minutes=30)


class QueueOnly:
    """Without Slack credentials notices stay queued; `certops tick` still shows what would be posted."""

    def send(self, notice: Notice, application: Application, instance: Instance) -> ChatThread | None:
        from core.errors import NotifierError

        raise NotifierError("no Slack credentials (SLACK_BOT_TOKEN): the notice stays queued")


def notifier_for(settings: Settings, slack: SlackSettings | None) -> Notifier:
    if slack is None:
        return QueueOnly()
    return SlackNotifier(sync_web_client(slack), settings.channel)


def run_deploy_checks(settings: Settings, slack: SlackSettings | None, clock: Clock | None = None) -> TickResult:
    """Handshake with the configured hosts (CERTOPS_DEPLOY_HOSTS), queue what changed, deliver it."""
    from core.adapters.tls_probe import SocketTlsProber
    from core.rules.deploy import parse_targets
    from core.services.tracking import check_deployments, deliver

    ports = build_ports(settings, clock)
    result = TickResult()
    hosts = parse_targets(settings.deploy_hosts) if settings.deploy_hosts else {}
    if hosts:
        result.queued = check_deployments(ports, SocketTlsProber(), hosts)
    deliver(ports, notifier_for(settings, slack), result)
    return result


def scheduled_report(settings: Settings, slack: SlackSettings, name: ReportName, clock: Clock | None = None) -> bool:
    """Run and post a scheduled report once per firing, however many workers fire it; False if another did."""
    from bot.reports_chat import run_and_post

    ports = build_ports(settings, clock)
    now = ports.clock.now()
    if not settings.channel:
        log.warning("report %s is scheduled but CERTOPS_CHANNEL is not set: nowhere to post it", name)
        return False
    with ports.unit_of_work() as uow:
        key = f"report:{name}:{now:%Y-%m-%dT%H:%M}"
        if uow.seen(key):
            return False
        uow.remember(key, now)
        uow.commit()
    run_and_post(settings, sync_web_client(slack), name, settings.channel, now)
    return True


def run_tick(
    settings: Settings, slack: SlackSettings | None, clock: Clock | None = None, *, poll: bool = True
) -> TickResult:
    ports = build_ports(settings, clock)
    deliver_to = notifier_for(settings, slack)
    return tick(ports, deliver_to, review_policy(settings), poll=poll)


@dataclass
class PollBackoff:
    """After provider errors, poll less often (doubling, capped); findings and deliveries keep their pace."""

    interval: timedelta
    failures: int = 0
    skip: int = 0

    def should_poll(self) -> bool:
        if self.skip > 0:
            self.skip -= 1
            return False
        return True

    def record(self, result: TickResult) -> None:
        if result.provider_error is None:
            self.failures = 0
            return
        self.failures += 1
        wait = min(self.interval * 2**self.failures, MAX_POLL_BACKOFF)
        self.skip = max(0, int(wait / self.interval) - 1)
        log.warning("provider unavailable (%s); next poll in %s", result.provider_error, wait)


def run_worker(settings: Settings, slack: SlackSettings, interval_seconds: float) -> None:
    backoff = PollBackoff(timedelta(seconds=interval_seconds))

    def one_pass() -> None:
        result = run_tick(settings, slack, poll=backoff.should_poll())
        backoff.record(result)
        for key, error in result.failed:
            log.warning("notice %s not delivered, will retry: %s", key, error)
        if result.sent:
            log.info("delivered %d notice(s)", len(result.sent))

    scheduler = BlockingScheduler(timezone=settings.timezone)
    scheduler.add_job(one_pass, IntervalTrigger(seconds=interval_seconds), id="tick", max_instances=1, coalesce=True)
    scheduler.add_job(one_pass, id="first-tick")
    for entry in settings.report_schedules:
        name, _, cron = entry.partition("=")
        report = cast(ReportName, name.strip())
        scheduler.add_job(
            scheduled_report,
            CronTrigger.from_crontab(cron.strip(), timezone=settings.timezone),
            args=(settings, slack, report),
            id=f"report-{report}",
            max_instances=1,
            coalesce=True,
        )
    if settings.deploy_hosts:
        scheduler.add_job(
            lambda: run_deploy_checks(settings, slack),
            IntervalTrigger(hours=settings.deploy_check_hours),
            id="deploy-checks",
            max_instances=1,
            coalesce=True,
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"certops worker: ticking every {interval_seconds:g} s (Ctrl-C stops)", flush=True)
    scheduler.start()
