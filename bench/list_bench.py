"""List-endpoint benchmark: Custody against a bare Starlette + orjson ceiling, same server software
(uvicorn), same worker count, same machine, same run. Prints figures; asserts nothing.

    .venv/bin/python bench/list_bench.py --devices 100000 --workers 2 --duration 10

Uses `CUSTODY_DATABASE_URL` if set, else a fresh SQLite file in a temporary directory. Needs `wrk`
(Debian package `wrk`)."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from custody.db.engine import Database
from custody.domain.imports import import_devices
from custody.domain.keys import create_key
from custody.domain.people import create_company, create_person
from custody.domain.tenancy import Caller, Tenant

HERE = Path(__file__).parent
TEAMS = ["Engineering", "Sales", "Operations", "Finance", "Design", "Support"]
KINDS = [
    ("MacBook Pro 14", "LAPTOP", "COMPUTER"),
    ("Dell XPS 13", "LAPTOP", "COMPUTER"),
    ("iPhone 15", "SMARTPHONE", "PHONE"),
    ("iPad Air", "TABLET", "TABLET"),
    ("Dell U2723QE", "SCREEN", "SCREEN"),
]
STATUSES = ["AVAILABLE", "IN_SERVICE", "IN_SERVICE", "IN_SERVICE", "SHIPPED", "IN_MAINTENANCE", "ARCHIVED"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(db: Database, n: int, people: int) -> tuple[str, list[int], list[str], float]:
    """One company with n devices and some holders; returns a key, the people (integer and hex
    ids), and devices/s."""
    rng = random.Random(7)
    with db.write() as session:
        company = create_company(session, "Bench Corp")
        tenant = Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True))
        persons = [
            create_person(
                tenant,
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"p{i}@bench.test",
                teams=[rng.choice(TEAMS)],
            )
            for i in range(people)
        ]
        person_ids = [p.id for p in persons]
        hex_ids = [p.hex_id for p in persons]
        _, token = create_key(tenant, person_id=None, read_only=True)
    lines = []
    for i in range(n):
        name, kind, category = rng.choice(KINDS)
        item = {
            "name": name,
            "type": kind,
            "category": category,
            "serial_number": f"SN{i:09d}",
            "client_status": rng.choice(STATUSES),
            "characteristics": {"ram": "16GB", "storage": "512GB", "keyboard_layout": "FRENCH_AZERTY"},
            "user_id": rng.choice(person_ids) if rng.random() < 0.6 else None,
        }
        lines.append((i + 1, json.dumps(item).encode()))
    started = time.perf_counter()
    with db.write() as session:
        import_devices(Tenant(session, Caller(company_id=company.id, person_id=None, can_write=True)), lines)
    return token, person_ids, hex_ids, n / (time.perf_counter() - started)


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/platform/v1/devices", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {argv}") from None
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(15)


def wrk(url_paths: list[str], port: int, token: str, duration: int, connections: int) -> dict[str, float]:
    """Drive load with wrk, rotating over the given paths; returns req/s and p50/p99 in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "rotate.lua"
        paths = ", ".join(f'"{p}"' for p in url_paths)
        script.write_text(
            f"local paths = {{{paths}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
        )
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(script),
                "-H",
                f"Authorization: Bearer {token}",
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed responses:\n{out}")

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="custody-bench-"))
    url = os.environ.get("CUSTODY_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    db = Database(url)
    db.upgrade()
    token, people, hex_ids, rate = populate(db, args.devices, args.people)
    db.dispose()
    print(f"database: {db.dialect}; {args.devices:,} devices created at {rate:,.0f} devices/s (import path)")

    # A limit no run reaches, so the ownership API's rows pay for counting each request.
    env = {**os.environ, "CUSTODY_DATABASE_URL": url, "CUSTODY_OWNERSHIP_RATE_LIMIT": str(10**9)}
    custody_port, baseline_port = free_port(), free_port()
    n = args.devices
    rng = random.Random(3)
    list_path = "/platform/v1/devices?"
    # A serial number without its last two digits: about a hundred matches each.
    serial_fragments = [f"SN{rng.randrange(0, n):09d}"[:-2] for _ in range(100)]
    rows: list[tuple[str, list[str]]] = [
        ("first page (limit=50)", [f"{list_path}limit=50"]),
        ("rotating offsets", [f"{list_path}limit=50&offset={rng.randrange(0, n - 50)}" for _ in range(100)]),
        ("deepest page", [f"{list_path}limit=50&offset={n - 50}"]),
        ("search serial fragment", [f"{list_path}search={s}" for s in serial_fragments]),
        ("search person name", [f"{list_path}search=Last{rng.randrange(0, args.people)}" for _ in range(100)]),
        ("search team", [f"{list_path}search={t}" for t in TEAMS]),
        ("user_id filter", [f"{list_path}user_id={rng.choice(people)}" for _ in range(100)]),
        ("client_status filter", [f"{list_path}client_status={s}" for s in sorted(set(STATUSES))]),
        # The other two APIs' lists (seed 000 at the root, seed 001 at /v1/, rate limiter counting).
        ("000 first page (perPage=50)", ["/devices?perPage=50"]),
        ("000 ownerId filter", [f"/devices?ownerId={h}" for h in hex_ids[:100]]),
        ("001 ownerships page (limit=50)", ["/v1/device-ownerships/?limit=50"]),
        ("001 ownerships of a device", [f"/v1/device-ownerships/?device={rng.randrange(1, n)}" for _ in range(100)]),
    ]
    results: list[tuple[str, dict[str, float]]] = []
    with serving(
        [sys.executable, "-m", "custody.cli", "serve", "--port", str(custody_port), "--workers", str(args.workers)],
        env,
        custody_port,
    ):
        page = httpx.get(
            f"http://127.0.0.1:{custody_port}/platform/v1/devices?limit=50",
            headers={"Authorization": f"Bearer {token}"},
        ).content
        for label, paths in rows:
            results.append((label, wrk(paths, custody_port, token, args.duration, args.connections)))
    page_file = tmp / "page.json"
    page_file.write_bytes(page)
    baseline_env = {**env, "CUSTODY_BASELINE_PAGE": str(page_file), "PYTHONPATH": str(HERE)}
    with serving(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "baseline:app",
            "--port",
            str(baseline_port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        baseline_env,
        baseline_port,
    ):
        base = wrk(["/platform/v1/devices"], baseline_port, token, args.duration, args.connections)

    print(
        f"page size {len(page):,} bytes; {args.workers} workers; wrk {args.connections} connections, "
        f"{args.duration}s per row; {os.cpu_count()} cores"
    )
    print(f"{'measure':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs bare req/s':>15}{'p99 / bare':>12}")
    print(
        f"{'bare Starlette + orjson':<26}{base['rps']:>10,.0f}{base['p50']:>9.2f}{base['p99']:>9.2f}"
        f"{'100%':>15}{'1.0x':>12}"
    )
    for label, r in results:
        print(
            f"{label:<26}{r['rps']:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['rps'] / base['rps']:>15.0%}"
            f"{r['p99'] / base['p99']:>11.1f}x"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
