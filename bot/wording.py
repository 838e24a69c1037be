"""Words the terminal and chat views share, so both say the same thing."""

from __future__ import annotations

from core.model import Quota, Stage

STAGE_TEXT = {
    Stage.DOMAIN_VERIFICATION: "Domain verification: place the records below so the CA can check each domain",
    Stage.ORGANISATION_VERIFICATION: "Organisation verification: the CA emails and phones the contact",
    Stage.CA_REVIEW: "CA review",
    Stage.ISSUED: "Issued",
    Stage.REJECTED: "Rejected",
}


def quota_text(quota: Quota) -> str:
    return f"{quota.exact} exact + {quota.wildcard} wildcard"
