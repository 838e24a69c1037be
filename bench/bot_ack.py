"""Ack latency of the Slack bot under load, while the Web API answers slowly.

100 concurrent `/cert` slash commands and 100 concurrent button clicks go to a running bot (real aiohttp server)
through signed HTTP; the Web API stand-in answers every call after 500 ms. What Slack waits for is the HTTP
response to each request (the ack); the slow follow-up work runs after it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.stand_in.sender import BotReply  # noqa: E402
from tests.e2e.chat import Chat, running_bot, stock  # noqa: E402

CONCURRENT = 100
WEB_API_LATENCY = 0.5


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def burst(make: Callable[[int], Awaitable[tuple[BotReply, str]]]) -> list[float]:
    results = await asyncio.gather(*(make(n) for n in range(CONCURRENT)))
    assert all(reply.status == 200 for reply, _ in results), [r.status for r, _ in results]
    return [reply.elapsed * 1000 for reply, _ in results]


async def measure() -> list[tuple[str, float, float]]:
    work = Path(tempfile.mkdtemp(prefix="certops-bench-"))
    try:
        stock(work / "data")
        async with running_bot(work / "data", latency=WEB_API_LATENCY) as chat:
            await warm_up(chat)
            commands = await burst(lambda n: chat.command("status cas-ov-1001" if n % 2 else "list DigiCert"))
            clicks = await burst(lambda n: chat.click("status_show" if n % 2 else "combine_open", "cas-ov-1001"))
            await asyncio.sleep(WEB_API_LATENCY * 4)  # let follow-up work finish before shutdown
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        ("100 concurrent `/cert` commands", statistics.median(commands), percentile(commands, 0.99)),
        ("100 concurrent button clicks", statistics.median(clicks), percentile(clicks, 0.99)),
    ]


async def warm_up(chat: Chat) -> None:
    """The first request pays for auth.test once per app; Slack sees that only once per process start."""
    await chat.command("help")
    await asyncio.sleep(WEB_API_LATENCY * 3)


def rows() -> list[tuple[str, float, float]]:
    return asyncio.run(measure())


if __name__ == "__main__":
    print(json.dumps(rows(), indent=2))
