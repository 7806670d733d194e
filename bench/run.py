"""Custody at fleet scale, in one command: generate a fleet through the import, serve it with
`custody serve`, and measure list reads against a bare Starlette + orjson ceiling (same server
software, worker count, machine and run), take / release ops, report ingestion and worker memory.
Prints one Markdown table; asserts nothing but the absence of overlapping ownership spans.

    .venv/bin/python bench/run.py [--devices 1000000] [--workers 2] [--duration 10]

`CUSTODY_DATABASE_URL` selects the database (it should be empty: PostgreSQL needs `btree_gist`
and `pg_trgm`); without it, a fresh SQLite file in a temporary directory. Needs `wrk` (Debian
package `wrk`) and, for the ceiling, `.venv/bin/pip install starlette orjson`. Every row's load
comes from wrk (reads rotating over URLs, writes with one client per connection), which shares the
machine with the server and the database but takes little of it."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import msgspec
from fleet import Fleet, build, serial_fragment
from harness import Load, free_port, rss_kib, serving, worker_pids, wrk, wrk_reports, wrk_take_release
from sqlalchemy import text

from custody.db.engine import Database
from custody.domain import enums

HERE = Path(__file__).parent
LIST = "/platform/v1/devices?"
# Two half-open spans of a device overlap iff the later-starting one starts before the other ends;
# empty spans (cancelled bookings, or a release in the microsecond of the take) overlap nothing.
OVERLAP_SQL = """SELECT count(*) FROM ownership a JOIN ownership b
  ON b.device_id = a.device_id AND b.id <> a.id
 AND b.start_time >= a.start_time AND (a.end_time IS NULL OR b.start_time < a.end_time)
WHERE (a.end_time IS NULL OR a.end_time > a.start_time)
  AND (b.end_time IS NULL OR b.end_time > b.start_time)"""


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    rate: float
    unit: str
    p50: float | None = None
    p99: float | None = None
    ratio: float | None = None  # against the bare ceiling
    note: str = ""


def list_rows(fleet: Fleet, rng: random.Random) -> list[tuple[str, list[str]]]:
    """The read rows; each rotates over at least 100 URLs inside the big company, so no row is
    one cached answer."""
    n = fleet.devices
    holders = rng.sample(fleet.holders, 100)
    pages = [f"{LIST}limit=50&offset={k}" for k in range(100)]
    return [
        ("first page (offset 0-99)", pages),
        ("deepest page (offset N-50-k)", [f"{LIST}limit=50&offset={n - 50 - k}" for k in range(100)]),
        ("rotating offsets", [f"{LIST}limit=50&offset={rng.randrange(0, n - 50)}" for _ in range(100)]),
        ("search serial fragment", [f"{LIST}search={serial_fragment(rng.randrange(n))}" for _ in range(100)]),
        ("search person name", [f"{LIST}search={quote(f'{h[2]} {h[3]}')}" for h in holders]),
        ("search team", [f"{LIST}search={quote(t)}" for t in rng.sample(fleet.teams, 100)]),
        ("user_id filter", [f"{LIST}user_id={h[0]}" for h in holders]),
        (
            "client_status filter",
            [f"{LIST}client_status={s}&offset={k * 50}" for s in enums.DEVICE_CLIENT_STATUSES for k in range(12)],
        ),
        # The other two APIs' lists: seed 000 at the root, seed 001 at /v1/ (rate limiter counting).
        ("000 pages 1-100 (perPage=50)", [f"/devices?perPage=50&page={k}" for k in range(1, 101)]),
        ("000 ownerId filter", [f"/devices?ownerId={h[1]}" for h in holders]),
        ("001 ownerships pages 1-100", [f"/v1/device-ownerships/?limit=50&page={k}" for k in range(1, 101)]),
        ("001 ownerships of a device", [f"/v1/device-ownerships/?device={d}" for d in fleet.device_ids[:100]]),
    ]


def release_all(port: int, tokens: list[str]) -> None:
    """Release every span these people hold now (wrk stops with takes in flight whose ids it never
    read), so that the next row finds the devices free."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            held = client.get("/v1/device-ownerships/?current=true&limit=100", headers=headers)
            held.raise_for_status()
            for span in held.json()["results"]:
                released = client.post(f"/v1/device-ownerships/{span['id']}/release/", headers=headers)
                if released.status_code != 409:  # 409: a release still in flight from wrk got there first
                    released.raise_for_status()


def take_release(port: int, tokens: list[str], devices: list[tuple[str, str]], duration: int) -> Row:
    """Each client loops take -> release on devices[client % len(devices)], driven by wrk; an op is
    one successful take or release. A 409 (someone else holds it) is counted and taken again."""
    release_all(port, tokens)
    ops = wrk_take_release(port, tokens, devices, duration)
    release_all(port, tokens)
    label = f"take/release, {len(tokens)} clients on {len(devices)} devices"
    note = f"{ops.conflicts:,} x 409, {ops.errors:,} errors"
    return Row(label, ops.ops, "ops/s", ops.p50, ops.p99, None, note)


def report_ingestion(port: int, device_tokens: list[tuple[int, str]], duration: int, batch: int) -> Row:
    """Each client posts batches of `batch` reports for its own device, newer each time, driven
    by wrk (a Python client took close to a core of this machine and capped the figure)."""
    ops = wrk_reports(port, device_tokens, duration, batch)
    label = f"report ingestion, {len(device_tokens)} devices, batches of {batch}"
    return Row(label, ops.ops, "reports/s", ops.p50, ops.p99, None, f"p50/p99 per batch; {ops.errors:,} errors")


def overlaps(url: str) -> int:
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            return int(connection.execute(text(OVERLAP_SQL)).scalar_one())
    finally:
        db.dispose()


def warm_up(port: int, token: str, connections: int) -> None:
    """Two seconds of first pages, not measured, before a server's first row (Custody and the bare
    app alike): a worker's first requests open its connections and fill their caches, and the
    first row after a start had a p99 up to twice the next ones'."""
    wrk([f"{LIST}limit=50&offset={k}" for k in range(100)], port, token, 2, connections)
    drain(port, token)


def drain(port: int, token: str) -> None:
    """Wait until the requests a row left queued are served, so that they do not slow the next row
    down: until a first page answers within 50 ms (at most 30 s)."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get(f"{LIST}limit=50", headers={"Authorization": f"Bearer {token}"})
            if time.perf_counter() - started < 0.05:
                return


def read_row(label: str, load: Load, base: Load) -> Row:
    notes = []
    if load.alone_p50 is not None:
        notes.append(f"p50 {load.alone_p50:.2f} ms at 1 connection (server time)")
    if load.socket_errors:
        notes.append(f"{load.socket_errors:,} socket errors / timeouts (30 s)")
    note = "; ".join(notes)
    return Row(label, load.rps, "req/s", load.p50, load.p99, load.rps / base.rps, note)


def print_table(rows: list[Row]) -> None:
    print("| measure | rate | p50 ms | p99 ms | vs bare | notes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        p50 = f"{r.p50:.1f}" if r.p50 is not None else ""
        p99 = f"{r.p99:.1f}" if r.p99 is not None else ""
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else ""
        print(f"| {r.label} | {r.rate:,.0f} {r.unit} | {p50} | {p99} | {ratio} | {r.note} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1_000_000, help="devices of the big company")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per row")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections of the read rows")
    parser.add_argument("--clients", type=int, default=64, help="clients of the take / release and report rows")
    parser.add_argument("--lists-only", action="store_true", help="only the read rows (what list_bench.py ran)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the generated fleet in this directory (SQLite file and fleet.json) and reuse it next time",
    )
    parser.add_argument("--rows", help="only the rows whose label contains one of these comma-separated words")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("orjson") is None:
        sys.exit("the baseline needs starlette and orjson: .venv/bin/pip install starlette orjson")
    if not 1 <= args.clients <= 64:
        sys.exit("--clients: 1 to 64 (the fleet holds 64 + 8 free devices for them)")
    if args.devices < 1000:
        sys.exit("--devices: at least 1000 (the rows sample 100 holders, pages and fragments)")

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
        return
    tmp = Path(tempfile.mkdtemp(prefix="custody-bench-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wanted(args: argparse.Namespace, label: str) -> bool:
    return not args.rows or any(word in label for word in args.rows.split(","))


def fleet_of(args: argparse.Namespace, db: Database, tmp: Path) -> Fleet:
    """Generate the fleet, or with `--keep`, reuse the one generated there before."""
    saved = tmp / "fleet.json"
    if args.keep is not None and saved.exists():
        fleet = msgspec.json.decode(saved.read_bytes(), type=Fleet)
        if fleet.devices != args.devices:
            sys.exit(f"{saved} holds a fleet of {fleet.devices:,} devices, not {args.devices:,}")
        print(f"reusing the fleet of {saved}", flush=True)
        return fleet
    print(f"generating: {args.devices:,} devices in one company + 99 small companies on {db.dialect}", flush=True)
    fleet = build(db, args.devices, args.clients, log=lambda line: print(line, flush=True))
    if args.keep is not None:
        saved.write_bytes(msgspec.json.encode(fleet))
    return fleet


def run(args: argparse.Namespace, tmp: Path) -> None:
    url = os.environ.get("CUSTODY_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    db = Database(url)
    db.upgrade()
    dialect = db.dialect
    started = time.perf_counter()
    fleet = fleet_of(args, db, tmp)
    db.dispose()
    setup_seconds = time.perf_counter() - started

    # A limit no run reaches: the ownership API's requests pay for counting, never get refused.
    env = {**os.environ, "CUSTODY_DATABASE_URL": url, "CUSTODY_OWNERSHIP_RATE_LIMIT": str(10**9)}
    rng = random.Random(3)
    rows: list[Row] = []
    port = free_port()
    serve = [sys.executable, "-m", "custody.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
    reads: list[tuple[str, Load]] = []
    workers_rss: list[int] = []
    supervisor_rss = 0
    overlap_count = -1
    with serving(serve, env, port, "/platform/v1/devices") as server:
        page = httpx.get(
            f"http://127.0.0.1:{port}{LIST}limit=50", headers={"Authorization": f"Bearer {fleet.read_token}"}
        ).content
        warm_up(port, fleet.read_token, args.connections)
        for label, paths in list_rows(fleet, rng):
            if not wanted(args, label):
                continue
            print(f"  {label} ...", flush=True)
            load = wrk(paths, port, fleet.read_token, args.duration, args.connections)
            drain(port, fleet.read_token)
            if label.startswith("search"):
                # One connection: no queue in front of the server, so its p50 is the server's time.
                alone = wrk(paths, port, fleet.read_token, max(3, args.duration // 2), 1)
                load = dataclasses.replace(load, alone_p50=alone.p50)
            reads.append((label, load))
        if not args.lists_only and wanted(args, "take/release"):
            clients = fleet.person_tokens[: args.clients]
            own, shared = fleet.take_devices[: len(clients)], fleet.take_devices[-8:]
            print("  take / release ...", flush=True)
            rows.append(take_release(port, clients, own, args.duration))
            rows.append(take_release(port, clients, shared, args.duration))
            overlap_count = overlaps(url)
        if not args.lists_only and wanted(args, "report ingestion"):
            print("  report ingestion ...", flush=True)
            rows.append(report_ingestion(port, fleet.device_tokens[: args.clients], args.duration, 100))
        # After all the load: what each worker grew to.
        workers_rss = [rss_kib(pid) for pid in worker_pids(server.pid)]
        supervisor_rss = rss_kib(server.pid) if args.workers > 1 else 0

    page_file = tmp / "page.json"
    page_file.write_bytes(page)
    base_port = free_port()
    baseline = [sys.executable, "-m", "uvicorn", "baseline:app", "--port", str(base_port)]
    baseline += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
    base_env = {**env, "CUSTODY_BASELINE_PAGE": str(page_file), "PYTHONPATH": str(HERE)}
    with serving(baseline, base_env, base_port, "/platform/v1/devices"):
        # The ceiling ignores the query string; rotating over the same URLs keeps the requests alike.
        first_pages = [f"{LIST}limit=50&offset={k}" for k in range(100)]
        warm_up(base_port, fleet.read_token, args.connections)
        base = wrk(first_pages, base_port, fleet.read_token, args.duration, args.connections)

    table = [
        read_row(label, load, base)
        for label, load in [("bare Starlette + orjson, same page from memory", base), *reads]
    ]
    table += rows
    rss = ", ".join(f"{kib / 1024:,.0f}" for kib in workers_rss)
    note = f"workers: {rss} MiB" + (f"; supervisor {supervisor_rss / 1024:,.0f} MiB" if supervisor_rss else "")
    table.append(Row("server RSS per worker, after the load", max(workers_rss) / 1024, "MiB max", note=note))

    print()
    t = fleet.timings
    print(
        f"{dialect}; {fleet.devices:,} devices in the big company + {fleet.total_devices - fleet.devices:,} in 99 "
        f"small ones; import {fleet.total_devices / fleet.import_seconds:,.0f} devices/s overall, "
        f"{fleet.devices / t['import big']:,.0f} devices/s for the big company ({t['import big']:.0f} s); "
        f"{fleet.orders:,} orders, {fleet.spans:,} past spans added; setup {setup_seconds:.0f} s"
    )
    print(
        f"page {len(page):,} bytes; {args.workers} workers; wrk {args.connections} connections, "
        f"{args.duration} s per row, each rotating over >= 100 URLs; {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print()
    print_table(table)
    if overlap_count >= 0:
        print()
        print(f"overlapping ownership spans after the take / release rows: {overlap_count}")
        print(OVERLAP_SQL)
        if overlap_count:
            sys.exit("overlapping spans found")


if __name__ == "__main__":
    main()
