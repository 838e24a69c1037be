"""Slack Block Kit builders: pure functions from core models to `slack_sdk.models` messages and views."""
