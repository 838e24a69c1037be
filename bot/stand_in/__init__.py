"""A local stand-in for the Slack Web API (real HTTP on aiohttp), plus the Block Kit checks it applies."""

from bot.stand_in.server import RecordedCall, SlackStandIn
from bot.stand_in.validation import message_problems, view_problems

__all__ = ["RecordedCall", "SlackStandIn", "message_problems", "view_problems"]
