"""Authorization for chat users: the policy is core's; this resolves Slack user-group membership."""

from __future__ import annotations

import time

from slack_sdk.web.async_client import AsyncWebClient

from core.rules.access import AccessPolicy, Permission, is_allowed

GROUP_CACHE_SECONDS = 300.0


class GroupDirectory:
    """Members of the user groups the policy names, fetched from Slack and cached for a few minutes."""

    def __init__(self, client: AsyncWebClient, ttl: float = GROUP_CACHE_SECONDS) -> None:
        self._client = client
        self._ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, group_id: str) -> frozenset[str]:
        cached = self._members.get(group_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        response = await self._client.usergroups_users_list(usergroup=group_id)
        users = frozenset(response.get("users") or [])
        self._members[group_id] = (time.monotonic(), users)
        return users

    async def groups_of(self, user_id: str, groups: frozenset[str]) -> set[str]:
        return {group for group in groups if user_id in await self.members(group)}


class Gatekeeper:
    def __init__(self, policy: AccessPolicy, directory: GroupDirectory) -> None:
        self.policy = policy
        self._directory = directory

    async def allows(self, permission: Permission, user_id: str) -> bool:
        if is_allowed(self.policy, permission, user_id):
            return True
        granted_groups = frozenset(g for g in self.policy.grants(permission) if g.startswith("S"))
        if not granted_groups:
            return False
        return is_allowed(self.policy, permission, user_id, await self._directory.groups_of(user_id, granted_groups))
