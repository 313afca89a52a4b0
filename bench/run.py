"""Runs the bench: the real server and the raw-SQL baseline side by side, on one dataset.

    python -m bench.run [--duration 10] [--rounds 3] [--warmup 2] [--concurrency 8,32]
                        [--operations A,B] [--workers 1] [--client httpx|raw]
                        [--scale full|tiny] [--database-url URL] [--skip-generate]

1. Migrates the bench database (`$BENCH_DATABASE_URL`, else database `caregraph_bench` in
   the embedded Postgres) and fills whatever is empty (bench.generate).
2. Starts `python server.py --port P` (DATABASE_URL = the bench database) and
   `python -m bench.baseline --port Q` as subprocesses, with one JWT secret for both
   (`--workers N` gives each N worker processes).
3. For each operation and concurrency: drives the server and the baseline in alternating
   slices (`--rounds`, after a warm-up) from a separate load process, and reads the SQL
   statements per request from the server's JSON access log on stdout. The mutation mix
   (`BenchMutationMix`) drives the server only.
4. Prints one table per operation (and saves it under bench/results/): requests/s,
   p50/p99 latency, CPU per request of the server process (with its workers), of the local
   Postgres and of the load process, SQL statements per request, response bytes, peak RSS
   of each server (with its worker processes), and the server's throughput as a ratio of
   the baseline's.
5. Ends with issue 20's targets against the 8-client cells (`print_targets`): each met, or
   not met by how much, with the measured figures that say why.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from bench.generate import Scale, default_database_url, prepare
from bench.load import LoadResult, MixScript, drive, drive_mix, percentile
from bench.operations import (
    MUTATION_MIX,
    OPERATIONS,
    Operation,
    mix_slots,
    viewer_email,
    viewer_id,
    viewer_numbers,
)
from resolvers.core.identity import mint_token
from resolvers.core.settings import DEV_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
VIEWERS_PER_OPERATION = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A server subprocess, its peak RSS (with children) and, for the real server, the
    SQL statement counts from its access log, per operation."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    statements: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    executors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """Which executor answered (the access log's `executor`), per operation."""
    peak_rss: int = 0
    output_tail: list[str] = field(default_factory=list)

    def _processes(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> tuple[int, int]:
        """RSS of the server with its worker processes, and of its largest process (a
        worker's, or the only process's)."""
        total = largest = 0
        for process in self._processes():
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            total += rss
            largest = max(largest, rss)
        return total, largest

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its workers so far."""
        try:
            return cpu_seconds([psutil.Process(self.process.pid)])
        except psutil.NoSuchProcess:
            return 0.0

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("{") and '"sql_statements"' in line:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("operation"):
                    self.statements[entry["operation"]].append(int(entry["sql_statements"]))
                    self.executors[entry["operation"]][str(entry.get("executor"))] += 1
                continue
            self.output_tail = [*self.output_tail[-40:], line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _start(name: str, command: list[str], env: dict[str, str], port: int) -> ServerProcess:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    server = ServerProcess(name, process, f"http://127.0.0.1:{port}")
    threading.Thread(target=server.read_output, daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.5)
            raise SystemExit(f"{name} exited:\n" + "\n".join(server.output_tail))
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"{name} did not start:\n" + "\n".join(server.output_tail))


def postgres_processes(database_url: str) -> list[psutil.Process]:
    """The local Postgres serving `database_url` (postmaster and backends), found by its
    socket directory; empty for a remote server."""
    from sqlalchemy.engine import make_url

    socket_dir = make_url(database_url).query.get("host")
    if not isinstance(socket_dir, str) or not socket_dir.startswith("/"):
        return []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if cmdline and cmdline[0].endswith("postgres") and socket_dir in cmdline:
            return [process]
    return []


def cpu_seconds(roots: list[psutil.Process]) -> float:
    """CPU time (user + system) of `roots` and all their descendants, including the ones
    that already exited (counted through their parents' children times)."""
    total = 0.0
    for root in roots:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


class MemoryMonitor:
    """Samples the servers' RSS every 100 ms; `peak(name)` since the last `reset()`."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = servers
        self.window: dict[str, int] = {}
        self.process_window: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for server in self.servers:
                rss, largest = server.rss()
                server.peak_rss = max(server.peak_rss, rss)
                self.window[server.name] = max(self.window.get(server.name, 0), rss)
                self.process_window[server.name] = max(
                    self.process_window.get(server.name, 0), largest
                )
            self._stop.wait(0.1)

    def reset(self) -> None:
        self.window = {}
        self.process_window = {}

    def peak(self, name: str) -> int:
        return self.window.get(name, 0)

    def peak_process(self, name: str) -> int:
        """The largest single process's peak (per worker) since the last `reset()`."""
        return self.process_window.get(name, 0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _requests(
    operation: Operation, scale: Scale, secret: str
) -> list[tuple[bytes, dict[str, str]]]:
    prepared = []
    for n in viewer_numbers(operation.viewer_kind, scale, VIEWERS_PER_OPERATION):
        token = mint_token(
            secret,
            user_id=viewer_id(operation.viewer_kind, n),
            email=viewer_email(operation.viewer_kind, n),
        )
        body = orjson.dumps(
            {
                "query": operation.document,
                "operationName": operation.name,
                "variables": operation.variables(scale, n),
            }
        )
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        prepared.append((body, headers))
    return prepared


def _mix_scripts(base_url: str, scale: Scale, secret: str, concurrency: int) -> list[MixScript]:
    """One script per mix client: its own patient and every `concurrency`-th open slot
    (asked from the server just before the cell, so slots taken since are skipped)."""
    mix = MUTATION_MIX
    viewers = mix.viewers(concurrency)
    headers = [
        {
            "authorization": "Bearer "
            + mint_token(
                secret,
                user_id=viewer_id("patient", n),
                email=viewer_email("patient", n),
            ),
            "content-type": "application/json",
        }
        for n in viewers
    ]
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": mix.slots, "variables": mix.slot_variables()},
        headers=headers[0],
        timeout=120,
    )
    slots = mix_slots(mix, scale, response.json()["data"])
    if len(slots) < concurrency:
        raise SystemExit(f"only {len(slots)} open slots for {concurrency} mix clients")
    return [
        MixScript(
            headers=headers[i],
            documents=(mix.hold, mix.book, mix.cancel),
            names=mix.operation_names(),
            succeeded=mix.succeeded,
            slots=slots[i::concurrency],
        )
        for i in range(concurrency)
    ]


@dataclass
class Measurement:
    """One target's slices of one (operation, concurrency), merged."""

    target: str
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    response_bytes: int = 0
    cpu_seconds: float = 0.0
    postgres_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    peak_rss: int = 0
    peak_process_rss: int = 0
    """The largest single process's peak RSS: per worker."""
    statements: list[int] = field(default_factory=list)
    first_failure: str | None = None

    def add(
        self,
        result: LoadResult,
        cpu: float,
        postgres_cpu: float,
        rss: int,
        statements: list[int],
        process_rss: int = 0,
    ) -> None:
        self.postgres_cpu_seconds += postgres_cpu
        self.client_cpu_seconds += result.client_cpu_seconds
        self.requests += result.requests
        self.failures += result.failures
        self.seconds += result.seconds
        self.latencies_ms += result.latencies_ms
        self.response_bytes += result.response_bytes
        self.cpu_seconds += cpu
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_process_rss = max(self.peak_process_rss, process_rss)
        self.statements += statements
        self.first_failure = self.first_failure or result.first_failure

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests if self.requests else 0.0

    @property
    def client_cpu_ms_per_request(self) -> float:
        return self.client_cpu_seconds * 1000 / self.requests if self.requests else 0.0

    @property
    def postgres_cpu_ms_per_request(self) -> float:
        return self.postgres_cpu_seconds * 1000 / self.requests if self.requests else 0.0


@dataclass
class Row:
    operation: str
    concurrency: int
    target: str
    result: Measurement


def _statements(values: list[int]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _print_table(operation: str, rows: list[Row]) -> None:
    print(f"\n{operation}")
    header = (
        f"  {'clients':>7} {'target':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms':>7} {'PG ms':>6} {'load ms':>7} {'SQL/req':>7} {'bytes':>7} {'peak MB':>8} "
        f"{'ratio':>6} {'fail':>5}"
    )
    print(header)
    by_concurrency: dict[int, dict[str, Row]] = defaultdict(dict)
    for row in rows:
        by_concurrency[row.concurrency][row.target] = row
    for concurrency, targets in sorted(by_concurrency.items()):
        baseline = targets.get("baseline")
        for target in ("server", "baseline"):
            found = targets.get(target)
            if found is None:
                continue
            result = found.result
            ratio = ""
            if target == "server" and baseline and baseline.result.per_second:
                ratio = f"{result.per_second / baseline.result.per_second:.2f}"
            average_bytes = result.response_bytes / result.requests if result.requests else 0
            print(
                f"  {concurrency:>7} {target:<9} {result.per_second:>8.1f} "
                f"{result.percentile(0.5):>8.1f} {result.percentile(0.99):>8.1f} "
                f"{result.cpu_ms_per_request:>7.2f} {result.postgres_cpu_ms_per_request:>6.2f} "
                f"{result.client_cpu_ms_per_request:>7.2f} "
                f"{_statements(result.statements):>7} "
                f"{average_bytes:>7.0f} {result.peak_rss / 2**20:>8.0f} {ratio:>6} "
                f"{result.failures:>5}"
            )
            if result.first_failure:
                print(f"          first failure: {result.first_failure}")


# --- targets -------------------------------------------------------------------------------

# Issue 20's targets, for `--client raw`, 8 clients, one worker, on the bench dataset.
TARGET_CLIENTS = 8
TARGET_RATIO = 0.5
"""Every read operation's server req/s over its baseline's, measured in the same run."""
TARGET_P99_MS = 100.0
TARGET_RSS_MB = 200.0
"""Peak memory per worker: the largest server process's peak RSS in the cell."""
TARGET_MIX_FACTOR = 2.0
MIX_REFERENCE_PER_SECOND = 172.8
MIX_REFERENCE_SOURCE = "2026-11-22, commit 3b6fc63"
"""The mutation mix's req/s when issue 20 was filed (2026-12-03): the last figure recorded
before it, in bench/README.md's "Results (2026-11-22, main: read lane, look-ahead)"
(commit 3b6fc63, 2026-11-22): 172.8 req/s at 8 raw clients, one worker, p99 92.4 ms. No
run between then and the issue measured the mix (the 2026-12-03 inbox runs did not).
Since then (issues 17 and 18) a booking awaiting payment also queues its lapse job, every
write of an appointment appends realtime events, and a cancellation notifies the doctor."""


def _verdict(met: bool, shortfall: str) -> str:
    return "met" if met else f"not met: {shortfall}"


def _cell(rows: list[Row], target: str) -> Measurement | None:
    for row in rows:
        if row.concurrency == TARGET_CLIENTS and row.target == target:
            return row.result
    return None


def _queueing(result: Measurement, workers: int) -> str:
    """What p99 is made of when the server is CPU bound: a closed loop of N clients on W
    worker processes waits for about N / W requests' CPU each round."""
    per_round = TARGET_CLIENTS / workers * result.cpu_ms_per_request
    return (
        f"{TARGET_CLIENTS} clients on {workers} worker process{'es' if workers > 1 else ''}: "
        f"{TARGET_CLIENTS / workers:.0f} x {result.cpu_ms_per_request:.1f} ms of server CPU "
        f"= {per_round:.0f} ms a round"
    )


def _ceiling(result: Measurement, workers: int) -> str:
    """The most a CPU-bound server can serve with `workers` processes at its measured CPU
    per request (each process on a core of its own)."""
    if not result.cpu_ms_per_request:
        return "no CPU measured"
    return (
        f"{workers} worker process{'es' if workers > 1 else ''} at "
        f"{result.cpu_ms_per_request:.1f} ms of CPU a request serve at most "
        f"{workers * 1000 / result.cpu_ms_per_request:.0f} req/s"
    )


def _target_lines(
    name: str,
    server: Measurement,
    baseline: Measurement | None,
    executors: Counter[str],
    workers: int,
) -> list[str]:
    lines = [f"  {name}"]
    ratio_label = f"throughput >= {TARGET_RATIO:.2f} of baseline"
    whys: list[str] = []
    rss_mb = server.peak_process_rss / 2**20
    p99 = server.percentile(0.99)
    if baseline is not None and baseline.per_second:
        ratio = server.per_second / baseline.per_second
        needed = TARGET_RATIO * baseline.per_second
        ratio_met = ratio >= TARGET_RATIO
        lines.append(
            f"    {ratio_label:<34} {ratio:>8.2f}  "
            + _verdict(
                ratio_met,
                f"{TARGET_RATIO - ratio:.2f} short ({server.per_second:.0f} of the "
                f"{needed:.0f} req/s it needs: x{needed / server.per_second:.1f})"
                if server.per_second
                else "no request answered",
            )
        )
        if not ratio_met:
            whys.append(
                f"server CPU {server.cpu_ms_per_request:.2f} ms/req vs baseline "
                f"{baseline.cpu_ms_per_request:.2f}; Postgres "
                f"{server.postgres_cpu_ms_per_request:.2f} vs "
                f"{baseline.postgres_cpu_ms_per_request:.2f} ms/req; "
                f"{_statements(server.statements)} statements/req vs 1"
            )
            if needed and server.cpu_ms_per_request:
                whys.append(
                    f"{_ceiling(server, workers)}; {needed:.0f} req/s needs <= "
                    f"{workers * 1000 / needed:.1f} ms a request"
                )
            answered = sum(executors.values())
            if answered and executors.get("compiled", 0) < answered:
                shares = ", ".join(
                    f"{executor} {count / answered:.0%}"
                    for executor, count in executors.most_common()
                )
                whys.append(f"executor: {shares}")
    else:
        lines.append(f"    {ratio_label:<34} {'-':>8}  no baseline measured")
    p99_met = p99 < TARGET_P99_MS
    lines.append(
        f"    {f'p99 < {TARGET_P99_MS:.0f} ms':<34} {p99:>5.0f} ms  "
        + _verdict(p99_met, f"{p99 - TARGET_P99_MS:.0f} ms over")
    )
    if not p99_met:
        whys.append(_queueing(server, workers) + f" (p50 {server.percentile(0.5):.0f} ms)")
    lines.append(
        f"    {f'peak RSS < {TARGET_RSS_MB:.0f} MB per worker':<34} {rss_mb:>5.0f} MB  "
        + _verdict(rss_mb < TARGET_RSS_MB, f"{rss_mb - TARGET_RSS_MB:.0f} MB over")
    )
    if server.failures:
        whys.append(f"{server.failures} failed requests: {server.first_failure}")
    lines += [f"    why: {why}" for why in whys]
    return lines


def _mix_lines(server: Measurement, workers: int) -> list[str]:
    wanted = TARGET_MIX_FACTOR * MIX_REFERENCE_PER_SECOND
    p99 = server.percentile(0.99)
    met = server.per_second >= wanted
    label = f"req/s >= {TARGET_MIX_FACTOR:g} x {MIX_REFERENCE_PER_SECOND:.1f} = {wanted:.1f}"
    lines = [
        f"  {MUTATION_MIX.name}",
        f"    {label:<34} "
        f"{server.per_second:>8.1f}  "
        + _verdict(
            met,
            f"{wanted - server.per_second:.1f} req/s short "
            f"(x{server.per_second / MIX_REFERENCE_PER_SECOND:.2f} of "
            f"{MIX_REFERENCE_PER_SECOND:.1f}, {MIX_REFERENCE_SOURCE})",
        ),
        f"    {f'p99 < {TARGET_P99_MS:.0f} ms':<34} {p99:>5.0f} ms  "
        + _verdict(p99 < TARGET_P99_MS, f"{p99 - TARGET_P99_MS:.0f} ms over"),
    ]
    whys = []
    if not met:
        whys.append(
            f"server CPU {server.cpu_ms_per_request:.2f} ms/req, Postgres "
            f"{server.postgres_cpu_ms_per_request:.2f} ms/req, "
            f"{_statements(server.statements)} statements/req (hold, book, cancel pooled)"
        )
        if server.cpu_ms_per_request:
            whys.append(
                f"{_ceiling(server, workers)}; {wanted:.0f} req/s needs <= "
                f"{workers * 1000 / wanted:.1f} ms a request"
            )
    if p99 >= TARGET_P99_MS:
        whys.append(_queueing(server, workers) + f" (p50 {server.percentile(0.5):.0f} ms)")
    if server.failures:
        whys.append(f"{server.failures} failed requests: {server.first_failure}")
    return lines + [f"    why: {why}" for why in whys]


def print_targets(
    read_rows: dict[str, list[Row]],
    mix_rows: list[Row],
    executors: dict[str, Counter[str]],
    workers: int,
    client: str,
) -> None:
    """Issue 20's targets against this run's 8-client cells: each `met`, or `not met` by
    how much, with the measured figures that say why."""
    print(
        f"\nTargets (issue 20: --client raw, {TARGET_CLIENTS} clients, one worker; this run: "
        f"--client {client}, {workers} worker{'s' if workers > 1 else ''}; one run on this "
        "machine)"
    )
    if client != "raw":
        print("  note: the targets are for --client raw (httpx's CPU caps the baseline)")
    if workers != 1:
        print(f"  note: the targets are for one worker; this run had {workers}")
    for name, rows in read_rows.items():
        server = _cell(rows, "server")
        if server is None:
            print(f"  {name}: not measured at {TARGET_CLIENTS} clients (--concurrency)")
            continue
        lines = _target_lines(
            name, server, _cell(rows, "baseline"), executors.get(name) or Counter(), workers
        )
        print("\n".join(lines))
    if mix_rows:
        server = _cell(mix_rows, "server")
        if server is None:
            print(f"  {MUTATION_MIX.name}: not measured at {TARGET_CLIENTS} clients")
        else:
            print("\n".join(_mix_lines(server, workers)))


class Tee:
    """Writes to the terminal and to a results file."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating server/baseline slices per cell"
    )
    parser.add_argument("--concurrency", default="8,32", help="comma-separated client counts")
    parser.add_argument("--operations", help="comma-separated operation names (default all)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="load client: httpx.AsyncClient, or a minimal raw HTTP/1.1 client",
    )
    parser.add_argument("--database-url", help="default: $BENCH_DATABASE_URL or embedded")
    parser.add_argument("--skip-generate", action="store_true", help="use the data as it is")
    args = parser.parse_args(argv)

    scale = Scale.full() if args.scale == "full" else Scale.tiny()
    url = args.database_url or default_database_url()
    if not args.skip_generate:
        report = prepare(url, scale)
        for name, seconds in report.filled.items():
            print(f"generated {name} in {seconds:.1f} s")
    operations = list(OPERATIONS)
    run_mix = True
    if args.operations:
        wanted = set(args.operations.split(","))
        operations = [operation for operation in operations if operation.name in wanted]
        run_mix = MUTATION_MIX.name in wanted
    concurrencies = [int(value) for value in args.concurrency.split(",")]

    secret = os.environ.get("CAREGRAPH_JWT_SECRET") or DEV_JWT_SECRET
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREGRAPH_", "DATABASE_"))}
    # Jobs off in the measured server (as with `python server.py worker` processes of
    # their own): the periodic jobs' first runs over the bench dataset (a check-in due
    # notification for each of its ~30,000 active goals) took a third of the server's CPU
    # in the slices they fell in.
    env.update(
        DATABASE_URL=url,
        CAREGRAPH_JWT_SECRET=secret,
        CAREGRAPH_JOBS_IN_PROCESS="false",
        PYTHONUNBUFFERED="1",
    )
    server_port, baseline_port = _free_port(), _free_port()
    server_command = [sys.executable, "server.py", "--port", str(server_port)]
    if args.workers > 1:
        server_command += ["--workers", str(args.workers)]
    baseline_command = [sys.executable, "-m", "bench.baseline", "--port", str(baseline_port)]
    baseline_command += ["--database-url", url]
    if args.workers > 1:  # the same number of processes on each side
        baseline_command += ["--workers", str(args.workers)]
    server = _start("server", server_command, env, server_port)
    try:
        baseline = _start(
            "baseline",
            baseline_command,
            env,
            baseline_port,
        )
    except BaseException:
        server.stop()
        raise
    monitor = MemoryMonitor([server, baseline])
    postgres = postgres_processes(url)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    results_file = (results / f"run-{stamp}-{args.client}.txt").open("w")
    terminal = sys.stdout
    sys.stdout = Tee(terminal, results_file)
    cpu = platform.processor() or platform.machine()
    print(
        f"\nmachine: {os.cpu_count()} cores ({cpu}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM, Python "
        f"{platform.python_version()}; {args.duration:.0f} s per measurement after "
        f"{args.warmup:.0f} s warm-up; server workers: {args.workers}; client: {args.client}"
    )
    read_rows: dict[str, list[Row]] = {}
    mix_rows: list[Row] = []
    try:
        with ProcessPoolExecutor(max_workers=1) as load:
            for operation in operations:
                requests = _requests(operation, scale, secret)
                rows: list[Row] = []
                for concurrency in concurrencies:
                    measured = {
                        target.name: Measurement(target.name) for target in (server, baseline)
                    }
                    # Alternate short slices so both see the same (shared) machine.
                    for round_ in range(args.rounds):
                        for target in (server, baseline):
                            monitor.reset()
                            server.statements.clear()
                            cpu_before = target.cpu_seconds()
                            postgres_before = cpu_seconds(postgres)
                            result = load.submit(
                                drive,
                                target.base_url,
                                requests,
                                concurrency,
                                args.warmup if round_ == 0 else 0.5,
                                args.duration / args.rounds,
                                args.client,
                            ).result()
                            measured[target.name].add(
                                result,
                                target.cpu_seconds() - cpu_before,
                                cpu_seconds(postgres) - postgres_before,
                                monitor.peak(target.name),
                                server.statements.get(operation.name, [])
                                if target is server
                                else [1],
                                monitor.peak_process(target.name),
                            )
                    rows += [
                        Row(operation.name, concurrency, name, measurement)
                        for name, measurement in measured.items()
                    ]
                _print_table(operation.name, rows)
                read_rows[operation.name] = rows
                executors = server.executors.get(operation.name) or Counter()
                answered = sum(executors.values())
                shares = ", ".join(
                    f"{name} {count / answered:.0%}" for name, count in executors.most_common()
                )
                print(f"  server executor: {shares or 'not logged'}")
            if run_mix:
                rows = []
                for concurrency in concurrencies:
                    scripts = _mix_scripts(server.base_url, scale, secret, concurrency)
                    measurement = Measurement(server.name)
                    for round_ in range(args.rounds):
                        monitor.reset()
                        server.statements.clear()
                        cpu_before = server.cpu_seconds()
                        postgres_before = cpu_seconds(postgres)
                        result = load.submit(
                            drive_mix,
                            server.base_url,
                            scripts,
                            args.warmup if round_ == 0 else 0.5,
                            args.duration / args.rounds,
                            args.client,
                        ).result()
                        measurement.add(
                            result,
                            server.cpu_seconds() - cpu_before,
                            cpu_seconds(postgres) - postgres_before,
                            monitor.peak(server.name),
                            [
                                count
                                for name in MUTATION_MIX.operation_names()
                                for count in server.statements.get(name, [])
                            ],
                            monitor.peak_process(server.name),
                        )
                    rows.append(Row(MUTATION_MIX.name, concurrency, server.name, measurement))
                _print_table(MUTATION_MIX.name, rows)
                mix_rows = rows
        print(
            f"\npeak RSS over the run: server {server.peak_rss / 2**20:.0f} MB, "
            f"baseline {baseline.peak_rss / 2**20:.0f} MB"
        )
        print_targets(read_rows, mix_rows, server.executors, args.workers, args.client)
    finally:
        sys.stdout = terminal
        results_file.close()
        print(f"results: {results_file.name}")
        monitor.stop()
        server.stop()
        baseline.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
