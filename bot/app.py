"""The Slack bot: a slack-bolt AsyncApp served by aiohttp at /slack/events."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Gatekeeper, GroupDirectory
from bot.context import BotContext
from bot.listeners import register_all
from bot.notifier import sync_web_client
from bot.offload import Offloader
from bot.settings import SlackSettings
from core.config import Settings
from core.rules.access import AccessPolicy
from core.services.context import Ports

EVENTS_PATH = "/slack/events"
log = logging.getLogger(__name__)


def web_client(slack: SlackSettings) -> AsyncWebClient:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(settings: Settings, slack: SlackSettings, ports: Ports) -> tuple[AsyncApp, BotContext]:
    client = web_client(slack)
    app = AsyncApp(client=client, signing_secret=slack.signing_secret, process_before_response=False)
    ctx = BotContext(
        ports=ports,
        settings=settings,
        client=client,
        sync_client=sync_web_client(slack),
        gatekeeper=Gatekeeper(AccessPolicy.of(settings.combiners, settings.applicants), GroupDirectory(client)),
        offload=Offloader(),
        reports=Offloader(workers=1),
    )
    register_all(app, ctx)
    return app, ctx


def web_application(app: AsyncApp) -> web.Application:
    application = app.web_app(path=EVENTS_PATH)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    application.router.add_get("/healthz", health)
    return application


async def serve(settings: Settings, slack: SlackSettings, ports: Ports) -> None:
    """Run until SIGTERM or SIGINT; in-flight requests finish before the process exits."""
    app, ctx = build_app(settings, slack, ports)
    runner = web.AppRunner(web_application(app))
    await runner.setup()
    site = web.TCPSite(runner, slack.host, slack.port)
    await site.start()
    log.info("certops bot listening on http://%s:%s%s", slack.host, slack.port, EVENTS_PATH)
    print(f"certops bot: listening on http://{slack.host}:{slack.port}{EVENTS_PATH} (Ctrl-C stops)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        ctx.offload.shutdown()
        ctx.reports.shutdown()
