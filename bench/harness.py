"""Shared pieces of the HTTP benchmarks: free ports, a server process that is up before load
starts, wrk with a Lua script rotating over URLs or driving one client per connection (take / release,
reports), and worker RSS from /proc."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True, slots=True)
class Load:
    """One load row: throughput and latency percentiles in milliseconds."""

    rps: float
    p50: float
    p99: float
    socket_errors: int = 0  # connect, read, write errors and timeouts together
    alone_p50: float | None = None  # p50 with one connection, when measured


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int, probe: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server and yield its process once `probe` answers (any status: a 401 is up too)."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    # Stopped first: a server whose workers crash in a loop never closes its stderr.
                    process.kill()
                    error = process.communicate()[1].decode(errors="replace")
                    raise RuntimeError(f"server did not start: {argv}\n{error[-2000:]}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(paths: Sequence[str], port: int, token: str, duration: int, connections: int) -> Load:
    """Drive load with wrk, each request taking the next of `paths`; a non-2xx answer fails the row
    (a fast error page would otherwise pass for throughput)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "rotate.lua"
        quoted = ", ".join(f'"{p}"' for p in paths)
        script.write_text(
            f"local paths = {{{quoted}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n"
        )
        # wrk's default 2 s timeout would drop the slowest requests from the percentiles.
        argv = [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
        ]
        argv += ["-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}"]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed responses:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in socket.groups()) if socket else 0
    return Load(float(rps.group(1)), _pct(out, "50"), _pct(out, "99"), errors)


# wrk with one connection per thread: thread i (`me`) is client i, with state of its own; each
# client script sets `ok`, `conflicts` and `errors`, which `done` prints, a line per thread.
CLIENTS_LUA = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("me", #threads)
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local fields = {t:get("ok"), t:get("conflicts"), t:get("errors")}
    io.write("THREAD " .. table.concat(fields, " ") .. "\\n")
  end
end
"""

TAKE_RELEASE_LUA = """
-- Each client alternates taking its device and releasing the span it got; a 409 (someone else
-- holds the device) takes again.
function init(args)
  span, ok, conflicts, errors = nil, 0, 0, 0
  take_body = string.format('{"serial_number":"%s","device_name":"%s"}', serials[me], names[me])
  headers = {["Authorization"] = "Bearer " .. tokens[me], ["Content-Type"] = "application/json"}
end
function request()
  if span then
    return wrk.format("POST", "/v1/device-ownerships/" .. span .. "/release/", headers, nil)
  end
  return wrk.format("POST", "/v1/device-ownerships/", headers, take_body)
end
function response(status, headers_, body)
  if span then
    if status == 200 then ok = ok + 1 else errors = errors + 1 end
    span = nil
  elseif status == 201 then
    ok = ok + 1
    span = string.match(body, '^{"id":(%d+)')
  elseif status == 409 then
    conflicts = conflicts + 1
  else
    errors = errors + 1
  end
end
"""


@dataclass(frozen=True, slots=True)
class Ops:
    """A write row: successful operations per second, refusals and failures."""

    ops: float
    p50: float
    p99: float
    conflicts: int
    errors: int


def wrk_take_release(port: int, tokens: Sequence[str], devices: Sequence[tuple[str, str]], duration: int) -> Ops:
    """Take / release load from wrk: client i (a thread with one connection) uses tokens[i] on
    devices[i % len(devices)]. A C load generator, so the clients' cost does not cap the figure."""
    n = len(tokens)
    lua = [
        "tokens = {" + ", ".join(f'"{t}"' for t in tokens) + "}",
        "serials = {" + ", ".join(f'"{devices[i % len(devices)][0]}"' for i in range(n)) + "}",
        "names = {" + ", ".join(f'"{devices[i % len(devices)][1]}"' for i in range(n)) + "}",
        TAKE_RELEASE_LUA,
    ]
    return _wrk_clients(port, n, duration, lua, per_ok=1)


REPORTS_LUA = """
-- Client i posts batches of `batch` reports for devices[i], a report a millisecond, each batch
-- newer than the last, from an hour ago: newer than any posture the fleet was built with, so every
-- batch changes the device's posture and re-renders its stored item, as an agent reporting its
-- current state does. The reports' clock runs slower than the wall's, so it stays in the past, and
-- a later run on the same fleet starts after an earlier one ended.
function init(args)
  ok, conflicts, errors = 0, 0, 0
  clock = (os.time() - 3600) * 1000
  path = "/v1/devices/" .. devices[me] .. "/reports/"
  headers = {["Authorization"] = "Bearer " .. tokens[me], ["Content-Type"] = "application/json"}
end
function request()
  local reports = {}
  for i = 0, batch - 1 do
    local ms = clock + i
    local at = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
    reports[#reports + 1] = string.format(
      '{"reported_at":"%s","os_name":"macOS","os_version":"15.1","last_seen_at":"%s",' ..
      '"firewall_enabled":true,"disk_encrypted":true,"screen_lock_enabled":%s,"os_updates_available":%s}',
      at, at, tostring(i % 7 ~= 0), tostring(i % 3 == 0))
  end
  clock = clock + batch
  return wrk.format("POST", path, headers, '{"reports":[' .. table.concat(reports, ",") .. ']}')
end
function response(status, headers_, body)
  if status == 201 then ok = ok + 1 else errors = errors + 1 end
end
"""


def wrk_reports(port: int, devices: Sequence[tuple[int, str]], duration: int, batch: int) -> Ops:
    """Report ingestion load from wrk: client i (a thread with one connection) posts batches of
    `batch` reports for devices[i] with its token. `ops` counts reports; p50 / p99 are per batch."""
    lua = [
        "devices = {" + ", ".join(str(device_id) for device_id, _ in devices) + "}",
        "tokens = {" + ", ".join(f'"{token}"' for _, token in devices) + "}",
        f"batch = {batch}",
        REPORTS_LUA,
    ]
    return _wrk_clients(port, len(devices), duration, lua, per_ok=batch)


def _wrk_clients(port: int, n: int, duration: int, lua: Sequence[str], per_ok: int) -> Ops:
    """Run wrk with n clients (`CLIENTS_LUA`) driven by the script `lua`; each of their `ok`
    answers counts `per_ok` operations."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "clients.lua"
        script.write_text("\n".join([*lua, CLIENTS_LUA]))
        argv = ["wrk", f"-t{n}", f"-c{n}", f"-d{duration}s", "--timeout", "30s", "--latency", "-s", str(script)]
        out = subprocess.run([*argv, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    threads = [line.split() for line in out.splitlines() if line.startswith("THREAD ")]
    if len(threads) != n:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    ok = sum(int(t[1]) for t in threads)
    seconds = re.search(r"requests in ([\d.]+)(ms|s|m),", out)
    if seconds is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    elapsed = float(seconds.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[seconds.group(2)]
    return Ops(
        ops=ok * per_ok / elapsed,
        p50=_pct(out, "50"),
        p99=_pct(out, "99"),
        conflicts=sum(int(t[2]) for t in threads),
        errors=sum(int(t[3]) for t in threads),
    )


def _pct(out: str, label: str) -> float:
    found = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
    if found is None:
        raise RuntimeError(f"no {label}th percentile in wrk output:\n{out}")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: the children of the supervising `serve` process, bar the
    multiprocessing resource tracker. A single worker runs in the parent itself."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: the fields start after the last ")".
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if ppid == parent and b"resource_tracker" not in cmdline:
            children.append(int(stat.parent.name))
    return sorted(children) or [parent]
