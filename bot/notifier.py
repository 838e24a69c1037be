"""The chat side of core's Notifier port: posts notices in each application's Slack thread (worker process)."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.blocks.apply import application_submitted_message
from bot.blocks.review import escalation_copy, notice_message
from bot.settings import SlackSettings
from core.errors import NotifierError
from core.model import Application, ChatThread, Instance, Notice


def sync_web_client(slack: SlackSettings) -> WebClient:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=30)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


class SlackNotifier:
    def __init__(self, client: WebClient, channel: str | None) -> None:
        self._client = client
        self._channel = channel

    def send(self, notice: Notice, application: Application, instance: Instance) -> ChatThread | None:
        try:
            created = None
            thread = application.thread
            if thread is None:
                thread = created = self._open_thread(application, instance)
            text, blocks = notice_message(notice, application)
            self._client.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, text=text, blocks=blocks)
            if notice.audience and notice.audience[:1] in "CG" and notice.audience != thread.channel:
                copy_text, copy_blocks = escalation_copy(notice, application, f"<#{thread.channel}>")
                self._client.chat_postMessage(channel=notice.audience, text=copy_text, blocks=copy_blocks)
        except (SlackApiError, SlackClientError) as error:
            raise NotifierError(f"Slack refused {notice.key}: {_describe(error)}") from error
        return created

    def _open_thread(self, application: Application, instance: Instance) -> ChatThread:
        """An application submitted outside chat (the CLI) gets its thread on its first notice."""
        if not self._channel:
            raise NotifierError("no CERTOPS_CHANNEL is configured to post application threads in")
        text, blocks = application_submitted_message(instance, application)
        response = self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks)
        return ChatThread(channel=self._channel, ts=str(response["ts"]))


def _describe(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", error.response.status_code))
    return str(error)
