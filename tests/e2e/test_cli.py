"""The `certops` command as a user runs it: exit codes, messages, JSON, and the state it leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import COMBINE_THREE, CONTACT, SAMPLE, Cli, domains_args

LIST_FIELDS = {
    "id", "name", "brand", "cert_type", "status", "validity_years",
    "exact_quota", "wildcard_quota", "refundable", "merged_into",
}  # fmt: skip

COMMANDS = [
    [], ["init"], ["instances"], ["instances", "import"], ["instances", "list"], ["instances", "activate"],
    ["candidates"], ["combine"], ["apply"], ["status"], ["sync"], ["sandbox", "verify"],
    ["sandbox", "reject"], ["export"], ["audit", "verify"], ["demo"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "certops")
def test_every_command_has_help(cli: Cli, command: list[str]) -> None:
    done = cli(*command, "--help")
    assert "usage: certops" in done.stdout


def test_commands_before_init_say_how_to_start(cli: Cli) -> None:
    done = cli("instances", "list", check=False)
    assert done.returncode == 1
    assert "certops init" in done.stderr
    assert "Traceback" not in done.stderr


def test_list_json_has_the_documented_fields_and_filters(stocked: Cli) -> None:
    everything = stocked.json("instances", "list")
    assert len(everything) == len(json.loads(SAMPLE.read_text()))
    assert set(everything[0]) >= LIST_FIELDS
    pending_ov = stocked.json(
        "instances", "list", "--status", "pending_application", "--brand", "digicert", "--type", "OV"
    )
    assert {i["id"] for i in pending_ov} == {
        "cas-ov-1001",
        "cas-ov-1002",
        "cas-ov-1003",
        "cas-ov-1005",
        "cas-ov-1007",
    }


def test_exported_list_imports_again_unchanged(stocked: Cli, tmp_path: Path) -> None:
    stocked("combine", "cas-ov-1001", "--with", "cas-ov-1002", "--actor", "U0ALICE", "--accept-no-refund")
    exported = tmp_path / "export.json"
    exported.write_text(stocked("instances", "list", "--json").stdout)
    again = json.loads(stocked("instances", "import", str(exported), "--json").stdout)
    assert again["added"] == []
    assert len(again["unchanged"]) == len(json.loads(exported.read_text()))


def test_one_invalid_record_rejects_the_whole_file(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    records = json.loads(SAMPLE.read_text())
    records[4]["cert_type"] = "XV"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    done = cli("instances", "import", str(bad), check=False)
    assert done.returncode == 1
    assert "record 5" in done.stderr and "cas-ov-1005" in done.stderr
    assert "nothing was imported" in done.stderr
    assert cli.json("instances", "list") == []


def test_candidates_lists_eligible_and_excluded_with_rule_ids(stocked: Cli) -> None:
    found = stocked.json("candidates", "cas-ov-1001")
    assert [i["id"] for i in found["eligible"]] == ["cas-ov-1002", "cas-ov-1003", "cas-ov-1004"]
    rules = {row["instance"]["id"]: {r["rule"] for r in row["reasons"]} for row in found["ineligible"]}
    assert rules["cas-ov-1005"] == {"C4"}
    assert rules["cas-ov-1006"] == {"C3"}
    assert "C8" in rules["cas-ov-1007"]


def test_combine_without_waiver_changes_nothing(stocked: Cli) -> None:
    before = stocked.json("instances", "list")
    done = stocked("combine", "cas-ov-1001", "--with", "cas-ov-1002", "--actor", "U0ALICE", check=False)
    assert done.returncode == 1
    assert "--accept-no-refund" in done.stderr and "nothing was combined" in done.stderr
    assert stocked.json("instances", "list") == before


def test_dry_run_prints_the_plan_and_changes_nothing(stocked: Cli) -> None:
    before = stocked.json("instances", "list")
    plan = stocked.json(
        "combine",
        "cas-ov-1001",
        "--with",
        "cas-ov-1002",
        "--with",
        "cas-ov-1003",
        "--actor",
        "U0ALICE",
        "--dry-run",
    )["plan"]
    assert plan["quota"] == {"exact": 5, "wildcard": 2}
    assert plan["name"].startswith("cas-merge")
    assert stocked.json("instances", "list") == before


def test_dry_run_lists_every_violated_rule(stocked: Cli) -> None:
    done = stocked(
        "combine",
        "cas-ov-1001",
        "--with",
        "cas-ov-1005",
        "--with",
        "cas-ov-1006",
        "--with",
        "cas-dv-1008",
        "--actor",
        "U0ALICE",
        "--dry-run",
        check=False,
    )
    assert done.returncode == 1
    for rule, instance in [("C4", "cas-ov-1005"), ("C3", "cas-ov-1006"), ("C1", "cas-dv-1008")]:
        assert any(rule in line and instance in line for line in done.stderr.splitlines()), (
            rule,
            done.stderr,
        )
    assert "Traceback" not in done.stderr


def test_combine_consumes_sources_and_repeats_change_nothing(stocked: Cli) -> None:
    args = COMBINE_THREE
    first = stocked.json(*args)
    new = first["instance"]
    assert new["name"].startswith("cas-merge")
    assert (new["exact_quota"], new["wildcard_quota"]) == (5, 2)
    assert sorted(new["merged_from"]) == ["cas-ov-1001", "cas-ov-1002", "cas-ov-1003"]
    assert new["refundable"] is False
    again = stocked.json(*args)
    assert again["replayed"] is True and again["instance"]["id"] == new["id"]
    listed = {i["id"]: i for i in stocked.json("instances", "list")}
    for source in ("cas-ov-1001", "cas-ov-1002", "cas-ov-1003"):
        assert listed[source]["status"] == "combined"
        assert listed[source]["merged_into"] == new["id"]
    assert sum(1 for i in listed.values() if i["name"].startswith("cas-merge")) == 1
    overlapping = stocked(
        "combine",
        "cas-ov-1002",
        "--with",
        "cas-ov-1004",
        "--actor",
        "U0BOB",
        "--accept-no-refund",
        check=False,
    )
    assert overlapping.returncode == 1 and "C8" in overlapping.stderr


def test_overlapping_combines_from_two_processes_make_one_combination(stocked: Cli) -> None:
    a = stocked.popen("combine", "cas-ov-1001", "--with", "cas-ov-1002", "--actor", "U0ALICE", "--accept-no-refund")
    b = stocked.popen("combine", "cas-ov-1002", "--with", "cas-ov-1003", "--actor", "U0BOB", "--accept-no-refund")
    codes = sorted([a.wait(timeout=60), b.wait(timeout=60)])
    assert codes == [0, 1]
    listed = stocked.json("instances", "list")
    merged = [i for i in listed if i["name"].startswith("cas-merge")]
    assert len(merged) == 1
    assert sum(1 for i in listed if i["merged_into"] == merged[0]["id"]) == 2
    assert "intact" in stocked("audit", "verify").stdout


def test_apply_reports_every_bad_domain_with_its_rule(stocked: Cli) -> None:
    merged = stocked.json(
        "combine", "cas-ov-1001", "--with", "cas-ov-1002", "--actor", "U0ALICE", "--accept-no-refund"
    )["instance"]["id"]
    done = stocked(
        "apply",
        merged,
        *domains_args("*.*.example.com", "a.example.com", "A.EXAMPLE.COM", "-bad-.example.com"),
        *CONTACT,
        "--actor",
        "U0ALICE",
        check=False,
    )
    assert done.returncode == 1
    for rule in ("A3", "A5"):
        assert rule in done.stderr
    assert "*.*.example.com" in done.stderr and "a.example.com" in done.stderr
    assert stocked.json("status", merged)["application"] is None


def test_corrupt_store_stops_with_the_file_named(stocked: Cli) -> None:
    store = stocked.data_dir / "certops.json"
    store.write_text('{"instances": {')
    done = stocked("instances", "list", check=False)
    assert done.returncode == 1
    assert str(store) in done.stderr
    assert "Traceback" not in done.stderr
    assert store.read_text() == '{"instances": {'


def test_unknown_instance_is_a_clear_error(stocked: Cli) -> None:
    done = stocked("status", "cas-nope", check=False)
    assert done.returncode == 1 and "no instance cas-nope" in done.stderr


def test_activating_an_instance_already_in_review_is_refused(stocked: Cli) -> None:
    done = stocked("instances", "activate", "cas-ov-1006", check=False)
    assert done.returncode == 1 and "cas-ov-1006 is reviewing" in done.stderr
    again = stocked("instances", "activate", "cas-ov-1003")
    assert "pending_application" in again.stdout


def test_an_unusable_data_directory_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = Cli(blocker / "data")("init", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert str(blocker / "data") in done.stderr


def test_sandbox_staff_commands_refuse_a_real_provider(stocked: Cli) -> None:
    stocked.env["CERTOPS_PROVIDER"] = "alibaba"
    done = stocked("sandbox", "verify", "cas-ov-1001", check=False)
    assert done.returncode == 1 and "CERTOPS_PROVIDER is alibaba" in done.stderr
