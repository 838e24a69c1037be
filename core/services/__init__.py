"""Service functions: every entry point (CLI, Slack bot, worker, notebooks) goes through these."""
