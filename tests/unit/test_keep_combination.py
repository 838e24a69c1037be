"""Sync keeps the combinations certops recorded when the provider (CAS) does not report them."""

from __future__ import annotations

from core.model import InstanceStatus
from core.services.review import keep_combination
from tests.factories import make_instance


def test_a_consumed_source_stays_combined_whatever_the_provider_says() -> None:
    stored = make_instance(status=InstanceStatus.COMBINED, merged_into="cas-merge-1", refundable=False)
    remote = make_instance(status=InstanceStatus.EXPIRED)
    kept = keep_combination(stored, remote)
    assert (kept.status, kept.merged_into, kept.refundable) == (InstanceStatus.COMBINED, "cas-merge-1", False)


def test_a_combined_instance_keeps_its_sources_and_takes_the_provider_status() -> None:
    stored = make_instance(id="cas-merge-1", merged_from=["a", "b"], refundable=False)
    remote = make_instance(id="cas-merge-1", status=InstanceStatus.REVIEWING)
    kept = keep_combination(stored, remote)
    assert (kept.status, kept.merged_from) == (InstanceStatus.REVIEWING, ["a", "b"])


def test_an_instance_never_combined_is_taken_as_the_provider_reports_it() -> None:
    remote = make_instance(status=InstanceStatus.ISSUED)
    assert keep_combination(make_instance(), remote) == remote
