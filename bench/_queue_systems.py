"""The queue systems ``bench.queue_throughput`` compares: ClipQueue (today's, or as it was at
a git commit), procrastinate and pgqueuer, each behind the same small interface: enqueue N
no-op jobs, the command line of a worker process, its environment, close."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from workers.queue import jobs as queue
from workers.queue.db import connect
from workers.queue.migrate import apply_migrations

REPO = Path(__file__).resolve().parent.parent


class ClipQueue:
    name = "clipqueue"
    units_per_job = 5  # step transitions per video

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.conn = connect(dsn)
        apply_migrations(self.conn)
        self.n = 0

    def enqueue(self, count: int) -> None:
        for _ in range(count):
            self.n += 1
            url = f"http://bench.example/{self.n}"
            queue.enqueue(self.conn, source_url=url, normalized_url=url)

    cwd = REPO  # where its worker processes run

    def worker(self, mode: str) -> list[str]:
        args = [sys.executable, "-m", "workers", "run", "--step-table", "bench.noop_steps:TABLE",
                "--poll-interval", "0.5"]
        return args + (["--burst"] if mode == "burst" else [])

    def env(self) -> dict:
        return {"DATABASE_URL": self.dsn, "CLIPQUEUE_LOG_LEVEL": "WARNING"}

    def close(self):
        self.conn.close()


def clipqueue_at(ref: str, worktrees: list[Path]):
    """ClipQueue as it was at git ``ref``: its workers run from a worktree of that commit, and
    its enqueue is that commit's statement. The schema is today's (migrations only add)."""
    from workers.queue.sql import parse

    tree = Path(tempfile.mkdtemp(prefix="clipqueue-before-")) / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True)
    worktrees.append(tree)
    sql_file = next(p for p in (tree / "workers" / "queries.sql", tree / "workers" / "queue" / "queries.sql")
                    if p.is_file())
    statement = parse(sql_file.read_text())["enqueue"]

    class Before(ClipQueue):
        name = f"clipqueue@{ref}"
        cwd = tree

        def enqueue(self, count: int) -> None:
            from psycopg.types.json import Jsonb

            for _ in range(count):
                self.n += 1
                url = f"http://bench.example/{self.n}"
                self.conn.execute(statement, {"source_url": url, "normalized_url": url, "token": queue.new_token(),
                                              "priority": 0, "max_retries": 5, "options": Jsonb({})}).fetchone()

    return Before


class Procrastinate:
    name = "procrastinate"
    units_per_job = 1

    def __init__(self, dsn: str):
        from bench._procrastinate_app import make_app

        self.dsn = dsn
        self.app = make_app(dsn)
        self.app.open()
        self.app.schema_manager.apply_schema()
        self.task = self.app.tasks["noop"]

    def enqueue(self, count: int) -> None:
        for _ in range(count):
            self.task.defer()

    def worker(self, mode: str) -> list[str]:
        return [sys.executable, "-m", "bench._procrastinate_app", self.dsn, mode]

    def env(self) -> dict:
        return {}

    def close(self):
        self.app.close()


class PgQueuer:
    name = "pgqueuer"
    units_per_job = 1

    def __init__(self, dsn: str):
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        from bench._pgqueuer_app import dsn_for_asyncpg

        self.dsn = dsn
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(dsn_for_asyncpg(dsn)))
        self.queries = Queries(AsyncpgDriver(self.conn))
        self.loop.run_until_complete(self.queries.install())

    def enqueue(self, count: int) -> None:
        async def go():
            for _ in range(count):
                await self.queries.enqueue("noop", None)
        self.loop.run_until_complete(go())

    def worker(self, mode: str) -> list[str]:
        return [sys.executable, "-m", "bench._pgqueuer_app", self.dsn, mode]

    def env(self) -> dict:
        return {}

    def close(self):
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


SYSTEMS = {"clipqueue": ClipQueue, "procrastinate": Procrastinate, "pgqueuer": PgQueuer}
