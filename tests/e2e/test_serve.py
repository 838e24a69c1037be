"""`certops serve` as the Procfile runs it: a separate process configured only by environment variables."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp

from bot.stand_in.sender import SlackSender
from bot.stand_in.server import SlackStandIn
from tests.e2e.chat import ALICE, CHANNEL, SECRET, stock
from tests.e2e.conftest import CERTOPS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            assert process.poll() is None, process.communicate()
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("certops serve did not become healthy")


async def test_serve_answers_signed_commands_and_stops_on_sigterm(tmp_path: Path) -> None:
    stock(tmp_path / "data")
    port = _free_port()
    async with SlackStandIn(token="xoxb-serve") as slack:
        env = {
            **os.environ,
            "CERTOPS_DATA_DIR": str(tmp_path / "data"),
            "CERTOPS_COMBINERS": ALICE,
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "PORT": str(port),
            "HOST": "127.0.0.1",
        }
        assert CERTOPS
        process = subprocess.Popen([CERTOPS, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        try:
            await _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
            async with SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET) as sender:
                url = slack.response_url()
                reply = await sender.command("help", user=ALICE, channel=CHANNEL,
                                             trigger_id=slack.issue_trigger_id(), response_url=url)  # fmt: skip
                assert reply.status == 200
                for _ in range(100):
                    if slack.responses(url):
                        break
                    await asyncio.sleep(0.05)
                assert "/cert combine" in str(slack.responses(url))
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr


def test_serve_without_slack_credentials_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    assert CERTOPS
    done = subprocess.run([CERTOPS, "--data-dir", str(tmp_path), "serve"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "SLACK_BOT_TOKEN" in done.stderr and "Traceback" not in done.stderr
