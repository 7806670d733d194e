"""The SQLite write gate: writers of one file queue on it across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from custody.db.engine import Database, WriteGate


def _hold_in_process(
    path: str, held: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    gate = WriteGate(path)
    with gate.held():
        held.set()
        release.wait(30)


def test_other_threads_and_processes_wait(tmp_path: Path) -> None:
    path = str(tmp_path / "fleet.sqlite3")
    gate = WriteGate(path)
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    other = context.Process(target=_hold_in_process, args=(path, held, release))
    other.start()
    try:
        assert held.wait(30)
        assert not gate.acquire(wait=False)  # another process holds it
        started = time.monotonic()
        threading.Timer(0.3, release.set).start()
        with gate.held():  # waits until the other process lets go
            assert time.monotonic() - started >= 0.25
    finally:
        release.set()
        other.join(30)


def _free_for_another_thread(gate: WriteGate) -> bool:
    seen: list[bool] = []

    def probe() -> None:
        seen.append(gate.acquire(wait=False))
        if seen[0]:
            gate.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return seen[0]


def test_reentrant_within_a_thread_exclusive_across_threads(tmp_path: Path) -> None:
    gate = WriteGate(str(tmp_path / "fleet.sqlite3"))
    with gate.held():
        with gate.held():  # the same thread may nest
            pass
        assert not _free_for_another_thread(gate)  # still held by the outer block
    assert _free_for_another_thread(gate)


def test_sqlite_writes_go_through_the_gate(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    try:
        assert db.gate is not None
        with db.write():
            assert not _free_for_another_thread(db.gate)
        assert _free_for_another_thread(db.gate)
    finally:
        db.dispose()
