"""Stopping `python server.py` with a signal stops the embedded Postgres it started:
SIGTERM (systemd, `docker stop`, Kubernetes) as well as SIGINT (Ctrl-C), with one
process and with `--workers`."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.test_cli import _env, _free_port, _serve, _wait_for


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    """The Postgres server running on `pgdata` (its postmaster: the other Postgres
    processes' titles do not name the directory)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        cmdline = process.info["cmdline"] or []
        if name in ("postgres", "postmaster") and str(pgdata) in cmdline:
            found.append(process)
    return found


def _still_running(pgdata: Path, seconds: float = 10) -> list[psutil.Process]:
    """The postmasters still on `pgdata` after up to `seconds`: `pg_ctl -w stop` returns once
    Postgres removed its postmaster.pid, a moment before the process itself is gone."""
    deadline = time.monotonic() + seconds
    while (found := _postmasters(pgdata)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _stop_postgres(pgdata: Path) -> None:
    """Fast shutdown of whatever Postgres still runs on `pgdata`, killed if it lingers."""
    for process in _postmasters(pgdata):
        try:
            process.send_signal(signal.SIGINT)
            process.wait(15)
        except psutil.TimeoutExpired:
            process.kill()
        except psutil.Error:
            pass
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _start(data_dir: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    process = _serve(_env(CAREGRAPH_DATA_DIR=str(data_dir)), "--port", str(port), *args)
    return process, port


def _kill_tree(process: subprocess.Popen[str]) -> None:
    """The server and its `--workers` processes, if they are still there."""
    if process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    process.kill()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    process.communicate(timeout=10)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data directory for the module: the first start creates the cluster, migrates and
    loads the demo data; the others reuse it, so each case takes a few seconds."""
    path = tmp_path_factory.mktemp("shutdown") / "data"
    yield path
    _stop_postgres(path.resolve() / "postgres")


def _serve_then_stop(data_dir: Path, sig: signal.Signals, workers: int) -> tuple[int, str]:
    """Starts the server, waits until it is ready, sends `sig`; the exit code and output."""
    process, port = _start(data_dir, "--workers", str(workers))
    try:
        _wait_for(f"http://127.0.0.1:{port}/readyz", process, seconds=90)
        assert _postmasters(data_dir.resolve() / "postgres"), "embedded Postgres not running"
        process.send_signal(sig)
        output, _ = process.communicate(timeout=60)
    finally:
        _kill_tree(process)
    return process.returncode, output


@pytest.mark.parametrize(
    ("sig", "workers"),
    [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2), (signal.SIGINT, 2)],
    ids=["sigterm", "sigint", "sigterm-2-workers", "sigint-2-workers"],
)
def test_signal_stops_the_embedded_postgres(
    data_dir: Path, sig: signal.Signals, workers: int
) -> None:
    pgdata = data_dir.resolve() / "postgres"
    try:
        code, output = _serve_then_stop(data_dir, sig, workers)
        assert not _still_running(pgdata), f"Postgres running after {sig.name}: {output[-3000:]}"
        assert not (pgdata / "postmaster.pid").exists(), f"postmaster.pid left after {sig.name}"
        # A requested stop that let in-flight requests finish is a clean exit.
        assert code == 0, output[-3000:]
    finally:
        _stop_postgres(pgdata)  # whatever this test started must not outlive it


def test_a_killed_server_does_not_keep_the_next_one_from_stopping_postgres(
    data_dir: Path,
) -> None:
    """A server killed outright (SIGKILL, OOM) never says it stopped using the embedded
    Postgres, which keeps running; the next server reuses it, and stops it when it stops."""
    pgdata = data_dir.resolve() / "postgres"
    try:
        killed, port = _start(data_dir)
        try:
            _wait_for(f"http://127.0.0.1:{port}/readyz", killed, seconds=90)
        finally:
            _kill_tree(killed)
        assert _postmasters(pgdata), "Postgres outlives a killed server"
        code, output = _serve_then_stop(data_dir, signal.SIGTERM, 2)
        assert not _still_running(pgdata), f"Postgres still running: {output[-3000:]}"
        assert not (pgdata / "postmaster.pid").exists()
        assert code == 0, output[-3000:]
    finally:
        _stop_postgres(pgdata)
