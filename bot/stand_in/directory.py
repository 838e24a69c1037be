"""Who's who in the stand-in workspace: its team and bot ids, and auth.test, users.info, conversations.info and
usergroups.users.list."""

from __future__ import annotations

import re

from bot.stand_in.answers import Answer, JsonDict, error, ok

TEAM_ID = "T0CERTOPS"
TEAM_NAME = "certops"
TEAM_URL = "https://certops-stand-in.slack.com/"
BOT_USER_ID = "U0CERTBOT"
BOT_USER_NAME = "certbot"
BOT_ID = "B0CERTBOT"
APP_ID = "A0CERTOPS"
USER_TZ = "Asia/Shanghai"
SCOPES = "chat:write,commands,users:read,usergroups:read,channels:read,groups:read,im:write"

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class Directory:
    """Any well-formed user or channel id exists; user groups exist once added."""

    def __init__(self) -> None:
        self._usergroups: dict[str, list[str]] = {}

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        self._usergroups[group_id] = list(user_ids)

    def auth_test(self, params: JsonDict) -> Answer:
        answer = ok(
            url=TEAM_URL,
            team=TEAM_NAME,
            user=BOT_USER_NAME,
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )
        answer.headers["x-oauth-scopes"] = SCOPES
        return answer

    def users_info(self, params: JsonDict) -> Answer:
        user_id = params.get("user")
        if not isinstance(user_id, str) or not USER_ID.match(user_id):
            return error("user_not_found")
        return ok(user=_user(user_id))

    def conversations_info(self, params: JsonDict) -> Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or not CHANNEL_ID.match(channel):
            return error("channel_not_found")
        return ok(channel=_channel(channel))

    def usergroups_users_list(self, params: JsonDict) -> Answer:
        users = self._usergroups.get(str(params.get("usergroup")))
        if users is None:
            return error("no_such_subteam")
        return ok(users=list(users))


def _user(user_id: str) -> JsonDict:
    name = BOT_USER_NAME if user_id == BOT_USER_ID else user_id.lower()
    real_name = "certops bot" if user_id == BOT_USER_ID else f"Stand-in user {user_id}"
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "real_name": real_name,
        "deleted": False,
        "is_bot": user_id == BOT_USER_ID,
        "tz": USER_TZ,
        "tz_label": "China Standard Time",
        "tz_offset": 8 * 3600,
        "profile": {"real_name": real_name, "display_name": name},
    }


def _channel(channel_id: str) -> JsonDict:
    return {
        "id": channel_id,
        "name": channel_id.lower(),
        "is_channel": channel_id.startswith("C"),
        "is_group": channel_id.startswith("G"),
        "is_im": channel_id.startswith("D"),
        "is_private": not channel_id.startswith("C"),
        "is_archived": False,
        "is_member": True,
        "created": 1700000000,
        "context_team_id": TEAM_ID,
    }
