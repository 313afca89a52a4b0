"""A primary and a streaming replica of it, real Postgres servers of the tests' own.

Both run the embedded Postgres' binaries (the pgserver wheel ships `initdb`, `pg_ctl` and
`pg_basebackup`) in a temporary directory, on free TCP ports of 127.0.0.1. The primary is a
fresh `initdb` cluster with Postgres' defaults (`wal_level=replica`, WAL senders, and a
`host replication` entry for 127.0.0.1 in `pg_hba.conf`, with `--auth=trust` as the
embedded server uses); the replica is `pg_basebackup -R` of it, started with its own port,
and streams from it. Nothing of the server the other tests share is touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

ADMIN = "postgres"


def _bin() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _system_user() -> str | None:
    """Postgres refuses to run as root: as root, run it as pgserver's own user."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(_bin())
    return "pgserver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One Postgres server (`pg_ctl`), listening on 127.0.0.1:`port`."""

    def __init__(self, data: Path, port: int, user: str | None) -> None:
        self.data = data
        self.port = port
        self.user = user
        self.log = data.parent / f"{data.name}.log"

    def run(self, program: str, *args: str, timeout: float = 120) -> None:
        # Output to a file, not a pipe: a server started by pg_ctl inherits it and would
        # keep a pipe open (subprocess.run would wait for it).
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(
                [str(_bin() / program), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self.user,
                timeout=timeout,
                check=False,
            )
            if done.returncode:
                output.seek(0)
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"{program} {args} failed: {output.read()}\n{log[-3000:]}")

    def start(self) -> None:
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.data}",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://{ADMIN}@127.0.0.1:{self.port}/{database}"

    async def connect(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(self.url(database))


class Cluster:
    """`primary` and its streaming `replica`; `database` exists (on both) once started."""

    def __init__(self, database: str = "caregraph") -> None:
        self.user = _system_user()
        self.base = Path(tempfile.mkdtemp(prefix="cg-replicas-"))
        self.database = database
        if self.user is not None:
            shutil.chown(self.base, self.user)
        self.primary = Server(self.base / "primary", free_port(), self.user)
        self.replica = Server(self.base / "replica", free_port(), self.user)

    def start_primary(self) -> None:
        self.primary.run(
            "initdb",
            "-D",
            str(self.primary.data),
            "-U",
            ADMIN,
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
        )
        with (self.primary.data / "postgresql.conf").open("a") as conf:
            # A test server: no fsync (a crash is not a concern), room for the pools.
            conf.write("fsync = off\nmax_connections = 200\nshared_buffers = 32MB\n")
        self.primary.start()

    def start_replica(self) -> None:
        """`pg_basebackup -R` of the primary (WAL streamed during the copy, a fast
        checkpoint), started on its own port."""
        self.primary.run(
            "pg_basebackup",
            "-D",
            str(self.replica.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            ADMIN,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        self.replica.start()

    async def wait_streaming(self, seconds: float = 30) -> None:
        """Until the primary has a WAL sender in state `streaming`."""
        deadline = time.monotonic() + seconds
        connection = await self.primary.connect()
        try:
            while time.monotonic() < deadline:
                state = await connection.fetchval(
                    "SELECT state FROM pg_stat_replication WHERE state = 'streaming'"
                )
                if state == "streaming":
                    return
                await asyncio.sleep(0.1)
        finally:
            await connection.close()
        raise AssertionError("the replica is not streaming")

    def remove(self) -> None:
        for server in (self.replica, self.primary):
            if (server.data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):  # already stopped
                    server.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
