"""Report time for 1k and 10k instances: the whole `certops report` command (process, papermill, kernel start,
HTML export) beside the same figures computed by calling core directly (store load included). Medians of 3.

The stores hold a realistic mix: every status, service starts over the past year, applications in each review
stage (some past the window, some escalated), rejected and issued ones, and ~6% of instances combined three at a
time with their audit entries. `rows()` gives (measurement, command ms, core ms); `render(rows)` a Markdown section.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.wiring import build_ports  # noqa: E402
from core.adapters.audit_log import AUDIT_FILE  # noqa: E402
from core.adapters.clock import FixedClock  # noqa: E402
from core.adapters.tinydb_store import init_store  # noqa: E402
from core.audit import canonical_json, next_entry  # noqa: E402
from core.config import Settings  # noqa: E402
from core.model import (  # noqa: E402
    WAIVER_TEXT,
    Acknowledgement,
    Application,
    CertType,
    CheckStatus,
    Combination,
    CompanyProfile,
    Contact,
    DomainCheck,
    DomainName,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    OrgChecks,
    Quota,
    SourceSnapshot,
    Stage,
    StageChange,
    ValidationMethod,
)
from core.reports import backlog_summary, load_backlog, load_merge_audit, merge_audit_summary  # noqa: E402
from core.services.context import Ports  # noqa: E402

WORK = ROOT / "bench" / ".work-reports"
SIZES = (1_000, 10_000)
REPORTS = ("backlog", "merge-audit")
REPEATS = 3
AS_OF = datetime(2026, 12, 17, 2, 0, tzinfo=UTC)
BRANDS = ["DigiCert", "GeoTrust", "GlobalSign", "CFCA", "vTrus"]
STATUSES = [
    InstanceStatus.PENDING_APPLICATION,
    InstanceStatus.PENDING_APPLICATION,
    InstanceStatus.REVIEWING,
    InstanceStatus.VALIDATION_FAILED,
    InstanceStatus.ISSUED,
    InstanceStatus.NOT_ACTIVATED,
    InstanceStatus.REFUNDED,
]
COMBINED_EVERY = 31  # 3 of every 31 instances (OV and EV) are combined into one cas-merge instance
TARGET_10K_BACKLOG_MS = 15_000


def _instance(n: int) -> Instance:
    cert_type = [CertType.OV, CertType.EV, CertType.DV][n % 3]
    return Instance(
        id=f"cas-{n:06d}",
        name=f"inventory-{n}",
        brand=BRANDS[(n // 3) % len(BRANDS)],
        cert_type=cert_type,
        status=STATUSES[(n // 3) % len(STATUSES)],
        validity_years=1 if n % 11 else 2,
        exact_quota=1 + n % 5,
        wildcard_quota=n % 2 if cert_type is not CertType.EV else 0,
        service_start=None if n % 3 == 2 else date(2026, 1, 1) + timedelta(days=n % 340),
    )


def _application(instance: Instance, n: int) -> Application | None:
    submitted = AS_OF - timedelta(days=1 + n % 20, hours=n % 7)
    stage = {
        InstanceStatus.REVIEWING: [Stage.DOMAIN_VERIFICATION, Stage.ORGANISATION_VERIFICATION, Stage.CA_REVIEW][n % 3],
        InstanceStatus.VALIDATION_FAILED: Stage.REJECTED,
        InstanceStatus.ISSUED: Stage.ISSUED,
    }.get(instance.status)
    if stage is None:
        return None
    domain = f"site{n}.example.com"
    history = [StageChange(stage=Stage.DOMAIN_VERIFICATION, at=submitted)]
    if stage is not Stage.DOMAIN_VERIFICATION:
        history.append(StageChange(stage=stage, at=submitted + timedelta(days=2)))
    passed = stage is not Stage.DOMAIN_VERIFICATION
    return Application(
        id=f"{instance.id}-a1",
        instance_id=instance.id,
        domains=[DomainName(ascii=domain, unicode=domain)],
        company=CompanyProfile(name="Example Ltd", phone="+86 571 0000", address="1 Road", registration_number="9"),
        contact=Contact(name=f"Owner {n % 40}", email="ops@example.com", phone="+86 138 0000 0000"),
        validation_method=ValidationMethod.DNS,
        key_algorithm=KeyAlgorithm.ECC_256,
        csr_pem="-----BEGIN CERTIFICATE REQUEST-----",
        key_generated=True,
        actor=f"U0OWNER{n % 40:02d}",
        submitted_at=submitted,
        stage=stage,
        stage_history=history,
        domain_checks=[
            DomainCheck(
                domain=domain,
                method=ValidationMethod.DNS,
                record_type="TXT",
                location=f"_dnsauth.{domain}",
                value="token",
                status=CheckStatus.PASSED if passed else CheckStatus.PENDING,
            )
        ],
        org_checks=OrgChecks(email=CheckStatus.PASSED if passed else CheckStatus.PENDING),
        rejection_reason="Company name does not match the licence" if stage is Stage.REJECTED else None,
        escalation_level=(n % 3) if stage in (Stage.DOMAIN_VERIFICATION, Stage.ORGANISATION_VERIFICATION) else 0,
        acknowledged=Acknowledgement(by="U0LEAD", at=AS_OF) if n % 4 == 0 else None,
    )


def _combine(sources: list[Instance], n: int) -> tuple[Combination, Instance, list[Instance]]:
    result_id = f"cas-merge-{n:06d}"
    quota = sum((s.quota for s in sources), start=Quota(exact=0, wildcard=0))
    at = AS_OF - timedelta(days=n % 60, hours=3)
    result = Instance(
        id=result_id,
        name=f"cas-merge-{sources[0].brand.lower()}-{n:06d}",
        brand=sources[0].brand,
        cert_type=sources[0].cert_type,
        status=InstanceStatus.PENDING_APPLICATION,
        validity_years=1,
        exact_quota=quota.exact,
        wildcard_quota=quota.wildcard,
        refundable=False,
        merged_from=[s.id for s in sources],
    )
    combination = Combination(
        id=result_id,
        request_key=f"combine:{result_id}",
        result_id=result_id,
        result_name=result.name,
        source_ids=[s.id for s in sources],
        sources=[SourceSnapshot.model_validate(s.model_dump()) for s in sources],
        brand=result.brand,
        cert_type=result.cert_type,
        quota=quota,
        actor=f"U0OWNER{n % 40:02d}",
        at=at,
        waiver_text=WAIVER_TEXT,
    )
    consumed = [
        s.model_copy(update={"status": InstanceStatus.COMBINED, "merged_into": result_id, "refundable": False})
        for s in sources
    ]
    return combination, result, consumed


def build_store(count: int) -> Path:
    data_dir = WORK / f"store-{count}"
    shutil.rmtree(data_dir, ignore_errors=True)
    init_store(data_dir)
    instances = [_instance(n) for n in range(count)]
    combinations = []
    for n in range(0, count - 30, COMBINED_EVERY):
        # n, n + 15 and n + 30 share brand and type in _instance's cycle
        eligible = {"status": InstanceStatus.PENDING_APPLICATION, "validity_years": 1}
        group = [instances[n + k].model_copy(update=eligible) for k in (0, 15, 30)]
        if group[0].cert_type is CertType.DV:
            continue
        combination, result, consumed = _combine(group, n)
        combinations.append(combination)
        instances.append(result)
        for source in consumed:
            instances[int(source.id.removeprefix("cas-"))] = source
    ports = build_ports(Settings(data_dir=data_dir), FixedClock(AS_OF))
    with ports.unit_of_work() as uow:
        for n, instance in enumerate(instances):
            uow.instances.put(instance)
            application = _application(instance, n)
            if application is not None:
                uow.applications.put(application)
        for combination in combinations:
            uow.combinations.add(combination)
        uow.commit()
    _write_audit_log(data_dir, combinations)
    return data_dir


def _write_audit_log(data_dir: Path, combinations: list[Combination]) -> None:
    """The combine entries, chained as the log adapter chains them, written in one go (no fsync per entry)."""
    lines, previous = [], None
    for combination in sorted(combinations, key=lambda c: c.at):
        details: dict[str, object] = {"sources": combination.source_ids, "waiver_text": WAIVER_TEXT}
        previous = next_entry(
            previous,
            at=combination.at,
            actor=combination.actor,
            action="combine",
            subject=combination.result_id,
            details=details,
        )
        lines.append(canonical_json(previous.model_dump(mode="json")) + "\n")
    (data_dir / AUDIT_FILE).write_text("".join(lines), encoding="utf-8")


def median_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _command(report: str, out: Path) -> list[str]:
    """`certops report …` once bot/cli.py registers it; until then the same handler on the same parser."""
    args = ["report", report, "--as-of", AS_OF.isoformat(), "--out", str(out), "--json"]
    certops = Path(sys.executable).parent / "certops"
    if _wired():
        return [str(certops), *args]
    shim = (
        "import sys, bot.cli as c\n"
        "from bot.cli_report import add_parser\n"
        "build = c.build_parser\n"
        "def patched():\n"
        "    p = build(); add_parser(next(a for a in p._actions if a.dest == 'command')); return p\n"
        "c.build_parser = patched\n"
        "sys.exit(c.run(sys.argv[1:]))\n"
    )
    return [sys.executable, "-c", shim, *args]


def _wired() -> bool:
    from bot.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    return "report" in (commands.choices or {})


def bench_command(data_dir: Path, report: str) -> float:
    env = {**os.environ, "CERTOPS_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    out = WORK / f"out-{report}"

    def one() -> object:
        done = subprocess.run(_command(report, out), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"certops report {report} failed: {done.stderr}")
        return json.loads(done.stdout)

    return median_ms(one)


def bench_core(data_dir: Path, report: str) -> float:
    ports: Ports = build_ports(Settings(data_dir=data_dir), FixedClock(AS_OF))
    if report == "backlog":
        return median_ms(lambda: backlog_summary(load_backlog(ports)))
    return median_ms(lambda: merge_audit_summary(load_merge_audit(ports)))


def rows() -> list[tuple[str, float, float]]:
    """(measurement, whole `certops report` command ms, core read model + summary ms), medians of 3."""
    found = []
    try:
        for count in SIZES:
            data_dir = build_store(count)
            for report in REPORTS:
                command, core = bench_command(data_dir, report), bench_core(data_dir, report)
                found.append((f"{report} report, {count:,} instances", command, core))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return found


def render(found: list[tuple[str, float, float]]) -> str:
    lines = [
        "",
        "## Reports",
        "",
        "`certops report NAME --out DIR` as a whole process (papermill subprocess, kernel start, charts, HTML export)",
        "beside the same figures from core directly (`load_*` + `*_summary`, store load included). Medians of",
        f"{REPEATS} runs, in milliseconds. Target: the 10,000-instance backlog report under "
        f"{TARGET_10K_BACKLOG_MS / 1000:g} s.",
        "",
        "| measurement | command ms | core ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {command:.0f} | {core:.0f} |" for name, command, core in found]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(rows()))
