"""Settings from environment variables (CERTOPS_*), then an optional certops.toml, then defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def config_file() -> Path:
    return Path(os.environ.get("CERTOPS_CONFIG", "certops.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CERTOPS_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("certops-data")
    provider: Literal["sandbox", "alibaba"] = "sandbox"
    cas_endpoint: str = Field(default="cas.aliyuncs.com", description="CAS API host[:port], or a URL")
    cas_region: str = "cn-hangzhou"
    cas_access_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_ID", "cas_access_key_id")
    )
    cas_access_key_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "cas_access_key_secret")
    )
    cas_company_country: str = "CN"
    cas_company_province: str | None = None
    cas_company_city: str | None = None
    cas_company_post_code: str | None = None
    cas_company_type: int = 0
    cas_company_lang: str = "zh"
    timezone: str = "Asia/Shanghai"
    holidays: str = Field(default="CN", description="ISO 3166 country code of the public-holiday calendar")
    support_route: str = "DingTalk group 32435999"
    channel: str | None = Field(default=None, description="chat channel id where applications are posted")
    combiners: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids and user-group ids allowed to combine (irreversible)"
    )
    applicants: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids and user-group ids allowed to apply"
    )

    escalation: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["3:channel", "7:channel"],
        description="escalation levels as BUSINESS_DAYS:TARGET; `channel` means CERTOPS_CHANNEL",
    )
    deploy_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="DOMAIN=HOST:PORT pairs the worker checks over TLS (V6)"
    )
    deploy_check_hours: float = Field(default=24.0, gt=0)
    report_schedules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="NAME=CRON entries separated by ';', e.g. 'backlog=0 9 * * mon-fri;merge-audit=0 8 1 * *'",
    )
    working_hours: str = Field(default="09:00-18:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")

    @field_validator("combiners", "applicants", "escalation", "deploy_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.upper()
        try:
            holidays.country_holidays(code)  # loads only this country's calendar (listing all of them is slow)
        except NotImplementedError:
            raise ValueError(
                f"no public-holiday calendar for country {value!r} (use an ISO code such as CN, DE, US)"
            ) from None
        return code

    @field_validator("escalation")
    @classmethod
    def _escalation_specs(cls, value: list[str]) -> list[str]:
        from core.rules.review import parse_escalations

        parse_escalations(value, default_target="check")
        return value

    @field_validator("report_schedules", mode="before")
    @classmethod
    def _semicolon_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        return value

    @field_validator("report_schedules")
    @classmethod
    def _known_reports_and_crons(cls, value: list[str]) -> list[str]:
        for entry in value:
            name, _, cron = entry.partition("=")
            if name.strip() not in ("backlog", "merge-audit") or len(cron.split()) != 5:
                raise ValueError(f"report schedule {entry!r} is not NAME=CRON with NAME backlog or merge-audit "
                                 "and a five-field cron expression, e.g. backlog=0 9 * * mon-fri")  # fmt: skip
        return value

    @field_validator("deploy_hosts")
    @classmethod
    def _deploy_pairs(cls, value: list[str]) -> list[str]:
        from core.errors import InvalidInput
        from core.rules.deploy import parse_targets

        if value:
            try:
                parse_targets(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from exc
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))
