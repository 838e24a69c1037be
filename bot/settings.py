"""The Slack side of the configuration: read from the environment, as a Procfile deployment sets it."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import CertopsError


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    bot_token: str = Field(validation_alias="SLACK_BOT_TOKEN", min_length=1)
    signing_secret: str = Field(validation_alias="SLACK_SIGNING_SECRET", min_length=1)
    api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    port: int = Field(default=3000, validation_alias="PORT", ge=1, le=65535)
    host: str = Field(default="0.0.0.0", validation_alias="HOST")


def load_slack_settings() -> SlackSettings:
    try:
        return SlackSettings()
    except ValidationError as exc:
        names = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise CertopsError(
            f"the Slack app is not configured ({names}): set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
            "from the app's settings page (see the README, 'Slack app')"
        ) from exc
