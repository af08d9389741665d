"""Fleet mode (issue 17): N tenants' idle cycles on Celery workers, against the sandbox.

Every tenant is the Zoho integration's customers module (CRM Accounts <-> Books contacts)
over one empty sandbox org pair (its limits raised: in life each tenant is its own org),
each tenant with its own journal.  The figures:

- ``direct_idle_cycle_ms``: one idle cycle run in-process (the daemon's cycle over the
  tenant's app, no queue): the work a cycle is;
- ``in_task_idle_cycle_ms``: the same cycle measured inside the Celery job (the workers'
  histogram);
- ``overhead_per_cycle_ms``: a worker's wall time per job minus the in-task cycle time:
  what the queue, the lock in Redis, the tenant's store read and opening its secrets cost;
- ``beat_reload_ms``: beat reading the store and rebuilding N tenants' entries (once a
  minute);
- ``tenants_per_worker``: how many tenants one worker process holds with its masters every
  2 h and one transaction module polled every 5 minutes, at 50 % busy.

Run with the machine otherwise quiet; ``uptime`` is recorded beside the figures.

    python benchmarks/fleet.py                       # 1,000 tenants, 3 workers
    python benchmarks/fleet.py --tenants 50 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import library_state, log  # noqa: E402
from replicator.cli.demo.zoho import zoho_config  # noqa: E402
from replicator.fleet import KEY_ENV, Sealer, Tenants, new_key, open_store, read_tenant  # noqa: E402
from replicator.sandbox import Sandbox, Settings  # noqa: E402

UNLIMITED = Settings(
    books_per_minute=10**7,
    books_per_day=10**9,
    crm_credits_per_day=10**9,
    crm_concurrency=10_000,
    tokens_per_window=10**6,
)


def metric_sum(urls: list[str], name: str) -> float:
    total = 0.0
    for url in urls:
        for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
    return total


def wait_cycles(urls: list[str], count: int, timeout: float) -> float:
    """Until the workers counted ``count`` cycles in all; the moment it was seen."""
    deadline = time.monotonic() + timeout
    while metric_sum(urls, "replicator_fleet_cycles_total") < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not run {count} cycles in {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--direct", type=int, default=50, help="idle cycles run in-process")
    args = parser.parse_args()

    # the throwaway Redis the tests start, and their worker processes
    from tests.fleet.processes import Process, fleet_env, start_workers
    from tests.redis_server import RedisServer, binary

    server = binary()
    if server is None:
        raise SystemExit("needs Debian's redis-server")
    root = Path(tempfile.mkdtemp(prefix="replicator-fleet-bench-"))
    os.environ[KEY_ENV] = key = new_key()
    os.environ["REPLICATOR_TOKEN_CACHE"] = str(root / "tokens")
    processes: list[Process] = []
    with RedisServer(server) as redis_server, Sandbox(root / "sandbox", settings=UNLIMITED) as box:
        box.admin.seed("keys")
        store = root / "fleet.db"
        log(f"adding {args.tenants} tenants")
        with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
            for n in range(args.tenants):
                folder = root / f"t{n}"
                folder.mkdir()
                config = folder / "replicator.toml"
                config.write_text(
                    zoho_config(box.credentials_path, books_per_minute=10**7), encoding="utf-8"
                )
                tenants.add(read_tenant(f"t{n}", config))
            stored = tenants.store.all()
            # beat's reload: the store read and every tenant's entries rebuilt
            from replicator.fleet.schedule import tenant_entries

            started = time.perf_counter()
            tenant_entries(tenants.store.all())
            beat_reload = time.perf_counter() - started

            # the cycle itself, in-process: a first cycle, then the idle one measured
            from replicator.fleet.runner import run_tenant_cycle

            direct = min(args.direct, args.tenants)
            for n in range(direct):
                run_tenant_cycle(tenants.get(f"t{n}"), "customers", limits=None)
            started = time.perf_counter()
            for n in range(direct):
                run_tenant_cycle(tenants.get(f"t{n}"), "customers", limits=None)
            direct_cycle = (time.perf_counter() - started) / direct

        env = fleet_env(store, redis_server.url, key)
        env["REPLICATOR_TOKEN_CACHE"] = str(root / "tokens")
        try:
            logs = [root / f"worker{n}.log" for n in range(args.workers)]
            workers = start_workers(env, logs)
            processes += [w for w, _ in workers]
            urls = [u for _, u in workers]
            from replicator.fleet.queue import configure, enqueue_cycle

            configure(redis_server.url)
            log("round 1: every tenant's first cycle")
            for n in range(args.tenants):
                enqueue_cycle(f"t{n}", "customers")
            wait_cycles(urls, args.tenants, timeout=60 + args.tenants * 2.0)
            in_task_before = metric_sum(urls, "replicator_fleet_cycle_duration_seconds_sum")
            log("round 2: idle cycles, measured")
            started = time.monotonic()
            for n in range(args.tenants):
                enqueue_cycle(f"t{n}", "customers")
            enqueue_seconds = time.monotonic() - started
            ended = wait_cycles(urls, 2 * args.tenants, timeout=60 + args.tenants * 2.0)
            in_task = metric_sum(urls, "replicator_fleet_cycle_duration_seconds_sum")
        finally:
            for process in processes:
                process.stop(timeout=30)
    wall = ended - started
    per_job = wall * args.workers / args.tenants  # a worker's wall time per job
    in_task_cycle = (in_task - in_task_before) / args.tenants
    # a tenant's demand: customers every 2 h plus one transaction module every 5 minutes,
    # each an idle cycle's worker time; a worker kept 50 % busy
    demand = per_job / 7200 + per_job / 300
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        json.dumps(
            {
                "tenants": args.tenants,
                "workers": args.workers,
                "stored_tenants": len(stored),
                "direct_idle_cycle_ms": round(direct_cycle * 1000, 1),
                "in_task_idle_cycle_ms": round(in_task_cycle * 1000, 1),
                "worker_ms_per_job": round(per_job * 1000, 1),
                "overhead_per_cycle_ms": round((per_job - in_task_cycle) * 1000, 1),
                "enqueue_ms_per_job": round(enqueue_seconds / args.tenants * 1000, 2),
                "idle_cycles_per_second": round(args.tenants / wall, 1),
                "beat_reload_ms": round(beat_reload * 1000, 1),
                "tenants_per_worker": int(0.5 / demand),
                "uptime": uptime,
                "cpus": os.cpu_count(),
                **library_state(),
            },
            indent=2,
        )
    )
    with contextlib.suppress(OSError):
        subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    main()
