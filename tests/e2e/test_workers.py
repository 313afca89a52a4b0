"""Several processes on one port and one database: trusted documents registered from the
command line, and persisted queries shared whichever worker answers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import select

from models import PersistedQuery
from resolvers.core.database import Database
from tests.e2e.test_cli import _env, _free_port, _run, _serve, _wait_for

QUERY = "query WorkerDirectory { doctors(first: 3) { totalCount } }"


async def test_register_documents_prints_ids_and_stores_trusted_documents(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    (tmp_path / "mobile").mkdir()
    documents = {
        "home.graphql": "query Home { viewer { id } }",
        "mobile/directory.graphql": "query Directory { doctors { totalCount } }",
    }
    for name, text in documents.items():
        (tmp_path / name).write_text(text)
    result = _run("register-documents", str(tmp_path), env=_env(DATABASE_URL=database_url))
    assert result.returncode == 0, result.stderr
    printed: dict[str, str] = {}
    for line in result.stdout.strip().splitlines()[-2:]:
        sha256, name = line.split("  ", 1)
        printed[name] = sha256
    assert printed == {
        name: hashlib.sha256(text.encode()).hexdigest() for name, text in documents.items()
    }
    async with db.read() as session:
        rows = (await session.scalars(select(PersistedQuery))).all()
    assert {(row.sha256, row.trusted) for row in rows} == {(h, True) for h in printed.values()}


async def _wait_for_workers(base: str, count: int, seconds: float = 60) -> None:
    """Until `count` distinct worker pids answered /healthz (a loaded machine starts the
    second worker later than the first)."""
    pids: set[int] = set()
    deadline = asyncio.get_running_loop().time() + seconds
    while len(pids) < count:
        assert asyncio.get_running_loop().time() < deadline, f"only workers {pids} started"
        async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
            response = await fresh.get("/healthz", headers={"Connection": "close"})
            pids.add(response.json()["pid"])
        await asyncio.sleep(0.05)


async def test_two_workers_share_persisted_queries(database_url: str) -> None:
    port = _free_port()
    process = await asyncio.to_thread(
        _serve, _env(DATABASE_URL=database_url), "--workers", "2", "--port", str(port)
    )
    base = f"http://127.0.0.1:{port}"
    sha = hashlib.sha256(QUERY.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    try:
        await asyncio.to_thread(_wait_for, f"{base}/healthz", process)
        await _wait_for_workers(base, 2)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            stored = await http.post("/graphql", json={"query": QUERY, "extensions": extensions})
            assert "errors" not in stored.json()

        async def hash_only() -> dict[str, object]:
            # A fresh connection each time, so the kernel spreads them over the workers.
            async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
                response = await fresh.post(
                    "/graphql", json={"extensions": extensions}, headers={"Connection": "close"}
                )
                return dict(response.json())

        results = await asyncio.gather(*(hash_only() for _ in range(60)))
        assert all("errors" not in result for result in results), results
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    served_by = set()
    for line in output.splitlines():
        if line.startswith("{") and '"WorkerDirectory"' in line:
            served_by.add(json.loads(line)["pid"])
    assert len(served_by) == 2, f"expected both workers to answer, got {served_by}"


def _slow_request_across_shutdown(port: int, process: subprocess.Popen[str]) -> bytes:
    import socket
    import time

    body = json.dumps({"query": "{ doctors(first: 1) { totalCount } }"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)  # shutdown begins while the request is in flight
        time.sleep(1.0)
        conn.sendall(body[10:])
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_graceful_shutdown_lets_in_flight_requests_finish(database_url: str) -> None:
    port = _free_port()
    process = await asyncio.to_thread(_serve, _env(DATABASE_URL=database_url), "--port", str(port))
    try:
        await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{port}/healthz", process)
        raw = await asyncio.to_thread(_slow_request_across_shutdown, port, process)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:200]
    assert json.loads(payload) == {"data": {"doctors": {"totalCount": 27}}}
    # uvicorn re-raises the signal once shutdown is complete.
    assert code in (0, -signal.SIGTERM)
