"""certops benchmarks: `python bench/run.py [--write]`.

Measures, on stores of generated instances (a realistic mix of brands, types and statuses):
- `candidates` through the core service (store load included) on 1k, 10k and 50k instances,
  and the whole `certops candidates` command (process start included) on 10k;
- one combine and one apply through the core services on a 10k-instance store.
- ack latency of the Slack bot for 100 concurrent commands and clicks with a 500 ms Web API (bench/bot_ack.py).
Prints Markdown tables; `--write` also rewrites BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.wiring import build_ports  # noqa: E402
from core.adapters.tinydb_store import init_store  # noqa: E402
from core.config import Settings  # noqa: E402
from core.model import (  # noqa: E402
    ApplicationRequest,
    CertType,
    CompanyProfile,
    Contact,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
)
from core.services.apply import apply  # noqa: E402
from core.services.combine import candidates, combine  # noqa: E402
from core.services.context import Ports  # noqa: E402

WORK = ROOT / "bench" / ".work"
BRANDS = ["DigiCert", "GeoTrust", "GlobalSign", "CFCA", "vTrus"]
STATUSES = [
    InstanceStatus.PENDING_APPLICATION,
    InstanceStatus.PENDING_APPLICATION,
    InstanceStatus.VALIDATION_FAILED,
    InstanceStatus.ISSUED,
    InstanceStatus.REVIEWING,
    InstanceStatus.NOT_ACTIVATED,
]


def generate(count: int) -> list[Instance]:
    instances = []
    for n in range(count):
        cert_type = [CertType.OV, CertType.EV, CertType.DV][n % 3]
        instances.append(
            Instance(
                id=f"cas-{n:06d}",
                name=f"inventory-{n}",
                brand=BRANDS[(n // 3) % len(BRANDS)],
                cert_type=cert_type,
                status=STATUSES[(n // 15) % len(STATUSES)],
                validity_years=1 if n % 7 else 2,
                exact_quota=1 + n % 5,
                wildcard_quota=n % 2 if cert_type is not CertType.EV else 0,
            )
        )
    return instances


def build_store(count: int) -> Ports:
    data_dir = WORK / f"store-{count}"
    shutil.rmtree(data_dir, ignore_errors=True)
    init_store(data_dir)
    ports = build_ports(Settings(data_dir=data_dir))
    ports.provider.init()  # type: ignore[attr-defined]
    instances = generate(count)
    ports.provider.add_instances(instances)
    with ports.unit_of_work() as uow:
        for instance in instances:
            uow.instances.put(instance)
        uow.commit()
    return ports


def median_ms(action: Callable[[int], object], repeats: int) -> tuple[float, float]:
    samples = []
    for attempt in range(repeats):
        start = time.perf_counter()
        action(attempt)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def eligible_ov(ports: Ports) -> list[str]:
    with ports.unit_of_work(read_only=True) as uow:
        found = uow.instances.list(status=InstanceStatus.PENDING_APPLICATION, brand="DigiCert", cert_type=CertType.OV)
    return [i.id for i in found if i.validity_years == 1 and not i.hosted]


def bench_combine(ports: Ports, repeats: int) -> tuple[float, float]:
    ids = eligible_ov(ports)

    def one(attempt: int) -> object:
        a, b = ids[2 * attempt], ids[2 * attempt + 1]
        return combine(ports, a, [b], actor="bench", accept_no_refund=True)

    return median_ms(one, repeats)


def bench_apply(ports: Ports, repeats: int) -> tuple[float, float]:
    ids = eligible_ov(ports)[-repeats:]

    def one(attempt: int) -> object:
        request = ApplicationRequest(
            instance_id=ids[attempt],
            domains=["shop.example.com"],
            company=CompanyProfile(
                name="Example Ltd", phone="+86 571 0000 0000", address="1 Road", registration_number="9133"
            ),
            contact=Contact(name="Alice", email="alice@example.com", phone="+86 138 0000 0000"),
            key_algorithm=KeyAlgorithm.ECC_256,
        )
        return apply(ports, request, actor="bench")

    return median_ms(one, repeats)


def bench_cli_candidates(data_dir: Path, instance_id: str, repeats: int) -> tuple[float, float]:
    certops = Path(sys.executable).parent / "certops"
    env = {**os.environ, "CERTOPS_DATA_DIR": str(data_dir)}

    def one(_: int) -> object:
        return subprocess.run(
            [str(certops), "candidates", instance_id, "--json"], env=env, check=True, capture_output=True
        )

    return median_ms(one, repeats)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite BENCHMARKS.md with the results")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows: list[tuple[str, float, float, str]] = []
    stores = {}
    for count in (1_000, 10_000, 50_000):
        ports = build_store(count)
        stores[count] = ports
        target = eligible_ov(ports)[0]
        med, worst = median_ms(lambda _, p=ports, t=target: candidates(p, t), args.repeats)
        rows.append((f"candidates, {count:,} instances (service, store load included)", med, worst, "< 500"))
    ten_k = stores[10_000]
    target = eligible_ov(ten_k)[0]
    med, worst = bench_cli_candidates(WORK / "store-10000", target, args.repeats)
    rows.append(("`certops candidates --json`, 10,000 instances (whole process)", med, worst, "< 500"))
    med, worst = bench_combine(ten_k, args.repeats)
    rows.append(("combine 2 instances, 10,000-instance store (service, audit + commit)", med, worst, "< 500"))
    med, worst = bench_apply(ten_k, args.repeats)
    rows.append(("apply ECC_256, 10,000-instance store (service, key + CSR + submit)", med, worst, "-"))
    from bench import bot_ack, reports

    report = render(rows, args.repeats) + render_ack(bot_ack.rows()) + reports.render(reports.rows())
    print(report)
    if args.write:
        (ROOT / "BENCHMARKS.md").write_text(report)
    shutil.rmtree(WORK, ignore_errors=True)


def render(rows: list[tuple[str, float, float, str]], repeats: int) -> str:
    lines = [
        "# certops benchmarks",
        "",
        f"Run: `.venv/bin/python bench/run.py --write` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        f"Each figure is the median (and worst) of {repeats} runs, in milliseconds.",
        "",
        "| measurement | median ms | worst ms | target ms | median / target |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, med, worst, target in rows:
        ratio = f"{med / float(target.strip('< ')):.2f}" if target.startswith("<") else "-"
        lines.append(f"| {name} | {med:.1f} | {worst:.1f} | {target} | {ratio} |")
    return "\n".join(lines) + "\n"


def render_ack(rows: list[tuple[str, float, float]]) -> str:
    from bench.bot_ack import CONCURRENT, WEB_API_LATENCY

    lines = [
        "",
        "## Slack bot ack latency",
        "",
        f"{CONCURRENT} requests sent at once to `certops serve` (signed HTTP on loopback) while the Web API",
        f"stand-in answers every call after {WEB_API_LATENCY * 1000:.0f} ms.",
        "Latency is the time to the HTTP response Slack waits for (the ack), measured by the sending client, which",
        "runs on the bot's own event loop: its 100 requests compete with the bot for the loop, so the figures",
        "are an upper bound for a bot that has the loop to itself.",
        "",
        "| measurement | p50 ms | p99 ms | target p99 ms | p99 / target |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, p50, p99 in rows:
        lines.append(f"| {name} | {p50:.1f} | {p99:.1f} | < 300 | {p99 / 300:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
