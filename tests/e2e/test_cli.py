"""The README's commands and the command line, run as a newcomer would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
import websockets.sync.client
from sqlalchemy import select
from websockets.typing import Subprotocol

from models import User, UserRole
from resolvers.core.database import Database
from resolvers.core.settings import DEV_JWT_SECRET
from server import ROOT, main

README = Path(ROOT) / "README.md"
CI = Path(ROOT) / ".ci" / "run"


def _readme_commands() -> list[str]:
    first_screen = "\n".join(README.read_text().splitlines()[:40])
    return re.findall(r"```bash\n(.+?)\n```", first_screen)


def test_readme_first_screen_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    serve, test = _readme_commands()
    assert serve == "pip install -c constraints.txt -e . && python server.py"
    assert test == 'pip install -c constraints.txt -e ".[test]" && python -m pytest'
    ci_lines = [line.strip() for line in CI.read_text().splitlines()]
    assert test in ci_lines


def _readme_default_matches(default: object, text: str) -> bool:
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, int):
        return text.isdigit() and int(text) == default
    if isinstance(default, float):
        try:
            return float(text) == default
        except ValueError:
            return False
    if isinstance(default, Path):
        return Path(text) == default
    if isinstance(default, list):
        return bool(json.loads(text) == default)
    return text == default


def test_readme_documents_every_setting_with_its_default() -> None:
    from resolvers.core.settings import Settings

    readme = README.read_text()
    for name in Settings.model_fields:
        variable = "DATABASE_URL" if name == "database_url" else f"CAREGRAPH_{name.upper()}"
        assert variable in readme, f"{variable} is not in the README's configuration table"

    checked = set()
    for names, defaults in re.findall(
        r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \| ([^|]+) \|", readme, re.M
    ):
        variables = re.findall(r"`([A-Z_]+)`", names)
        values = re.findall(r"`([^`]*)`", defaults)
        for variable, value in zip(variables, values or [None] * len(variables), strict=True):
            field = variable.removeprefix("CAREGRAPH_").lower()
            if field not in Settings.model_fields:
                continue  # PROMETHEUS_MULTIPROC_DIR
            default = Settings.model_fields[field].get_default(call_default_factory=True)
            if value is None:  # "unset", "dev-only default": nothing set until configured
                assert default is None, (variable, default)
            else:
                assert _readme_default_matches(default, value), (variable, value, default)
            checked.add(field)
    assert checked == set(Settings.model_fields)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREGRAPH_", "DATABASE_"))}
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _readme_command_rows() -> list[tuple[str, list[str]]]:
    """(command, its --options) of each row of the README's Commands table."""
    rows = re.findall(r"^\| `python server\.py ([^`]+)` \|", README.read_text(), re.M)
    return [(row.split()[0].strip("[]"), re.findall(r"--[a-z-]+", row)) for row in rows]


def test_help_lists_the_readme_commands_and_their_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _readme_command_rows()
    assert [command for command, _ in rows] == [
        "serve",
        "worker",
        "migrate",
        "seed",
        "token",
        "register-documents",
        "export-schema",
    ]
    result = _run("--help", env=_env())
    assert result.returncode == 0
    for command, options in rows:
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), command
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        usage = capsys.readouterr().out
        assert usage.startswith(f"usage: server.py {command}"), usage
        for option in options:
            assert option in usage, (command, option)


async def test_token_prints_a_valid_token_on_its_last_line(database_url: str, db: Database) -> None:
    result = _run(
        "token",
        "--email",
        "New.Coach@Example.test",
        "--role",
        "coach",
        env=_env(DATABASE_URL=database_url),
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["email"] == "new.coach@example.test"
    assert claims["role"] == "authenticated"
    async with db.read() as session:
        roles = (
            await session.scalars(select(UserRole.role).where(UserRole.user_id == claims["sub"]))
        ).all()
    assert list(roles) == ["coach"]
    again = _run("token", "--email", "new.coach@example.test", env=_env(DATABASE_URL=database_url))
    assert (
        jwt.decode(
            again.stdout.strip().splitlines()[-1],
            DEV_JWT_SECRET,
            algorithms=["HS256"],
            audience="authenticated",
        )["sub"]
        == claims["sub"]
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`python server.py ARGS` in the background, stderr folded into stdout."""
    return subprocess.Popen(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _start(port: int, data_dir: Path) -> subprocess.Popen[str]:
    return _serve(_env(CAREGRAPH_DATA_DIR=str(data_dir)), "--port", str(port))


def test_server_starts_on_embedded_postgres_with_demo_data_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    """`python server.py` with no DATABASE_URL: embedded Postgres, migrations, demo data,
    printed tokens that work; Ctrl-C stops Postgres; a second start reuses the data."""
    data_dir = tmp_path / "data"
    port = _free_port()
    process = _start(port, data_dir)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Loaded demo data." in output
    assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in output
    assert process.returncode == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "Postgres still running"

    printed = re.findall(r"^\s+(\w+)\s+(\S+@caregraph\.dev)\n\s+(\S+)$", output, re.M)
    tokens = {name: token for name, _email, token in printed}
    readme_accounts = re.findall(r"^\| `(\S+@caregraph\.dev)` \|", README.read_text(), re.M)
    assert [email for _name, email, _token in printed] == readme_accounts

    process = _start(port, data_dir)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ viewer { email roles doctor { fullName } } doctors { totalCount } }"},
            headers={"Authorization": f"Bearer {tokens['doctor']}"},
            timeout=10,
        )
        body = response.json()
        assert body["data"]["viewer"]["email"] == "doctor@caregraph.dev"
        assert "DOCTOR" in body["data"]["viewer"]["roles"]
        assert body["data"]["viewer"]["doctor"]["fullName"] == "Dr. Sarah Ahmed"
        assert body["data"]["doctors"]["totalCount"] == 27
        for _name, email, token in printed:
            viewer = httpx.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "{ viewer { email } }"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert viewer.json() == {"data": {"viewer": {"email": email}}}
        graphiql = httpx.get(
            f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"}, timeout=10
        )
        assert "graphiql" in graphiql.text.lower()
        # WebSockets without permessage-deflate (CAREGRAPH_WS_COMPRESSION=false): the
        # client offers it, the server declines (no zlib state per idle subscriber).
        with websockets.sync.client.connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as socket:
            assert socket.response is not None
            assert "Sec-WebSocket-Extensions" not in socket.response.headers
            socket.send('{"type": "connection_init"}')
            assert "connection_ack" in str(socket.recv(timeout=10))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "caregraph_jobs_oldest_waiting_seconds" in metrics
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Loaded demo data." not in output, "second start must reuse the data"


async def test_production_starts_without_demo_accounts_or_their_tokens(
    database_url: str, db: Database
) -> None:
    """The demo data has an admin; in production `python server.py` neither creates the
    demo accounts nor prints tokens for them (it did, on an empty database)."""
    port = _free_port()
    process = _serve(
        _env(
            DATABASE_URL=database_url,
            CAREGRAPH_ENV="production",
            CAREGRAPH_JWT_SECRET="production-secret-for-the-test-0123456789",
            CAREGRAPH_JOBS_IN_PROCESS="false",
        ),
        "--port",
        str(port),
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "Production: no demo data or demo accounts." in output, output
    assert "Demo tokens" not in output and "Loaded demo data" not in output
    async with db.read() as session:
        demo_users = (
            await session.scalars(select(User.id).where(User.email.like("%@caregraph.dev")))
        ).all()
    assert demo_users == []
