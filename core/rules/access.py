"""Who may do what: combining is irreversible, applying starts a CA review, viewing is open to everyone.

Grants name Slack user ids (U…/W…) or user-group ids (S…); a user is granted through a group they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.model import Reason


class Permission(StrEnum):
    VIEW = "view"
    COMBINE = "combine"
    APPLY = "apply"


@dataclass(frozen=True)
class AccessPolicy:
    combiners: frozenset[str]
    applicants: frozenset[str]

    @classmethod
    def of(cls, combiners: Iterable[str], applicants: Iterable[str]) -> AccessPolicy:
        return cls(combiners=frozenset(combiners), applicants=frozenset(applicants))

    def grants(self, permission: Permission) -> frozenset[str]:
        if permission is Permission.COMBINE:
            return self.combiners
        if permission is Permission.APPLY:
            return self.applicants
        return frozenset()


def is_allowed(policy: AccessPolicy, permission: Permission, user_id: str, groups: Iterable[str] = ()) -> bool:
    if permission is Permission.VIEW:
        return True
    granted = policy.grants(permission)
    return user_id in granted or any(group in granted for group in groups)


def denial(permission: Permission, user_id: str) -> Reason:
    setting = {"combine": "CERTOPS_COMBINERS", "apply": "CERTOPS_APPLICANTS"}.get(permission.value, "")
    return Reason(
        rule="AUTH",
        subject=user_id,
        message=(
            f"<@{user_id}> may not {permission.value}: ask an admin to add your user id or one of your user groups "
            f"to {setting}. Nothing was changed."
        ),
    )
