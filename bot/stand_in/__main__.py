"""`python -m bot.stand_in`: serve the Slack Web API stand-in until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bot.stand_in.server import SlackStandIn, is_loopback


def _non_negative(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.stand_in", description="Local stand-in for the Slack Web API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback unless --allow-remote)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    parser.add_argument("--token", default="xoxb-stand-in", help="the bot token clients must send")
    parser.add_argument("--latency", type=_non_negative, default=0.0, help="seconds to wait before every answer")
    parser.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    slack = SlackStandIn(token=args.token, latency=args.latency)
    await slack.start(host=args.host, port=args.port, allow_remote=args.allow_remote)
    print(f"Slack stand-in API at {slack.api_url} (token {args.token}); Ctrl-C stops it", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await slack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.allow_remote and not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; add --allow-remote to listen on it")
    if args.allow_remote and not is_loopback(args.host):
        print("warning: the stand-in has no real security; anyone who can reach it can use it", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
