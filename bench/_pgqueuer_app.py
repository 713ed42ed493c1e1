"""pgqueuer side of the benchmark: ``python -m bench._pgqueuer_app DSN burst|serve``."""
import asyncio
import sys
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.domain.types import QueueExecutionMode

from ._marks import mark


def dsn_for_asyncpg(dsn: str) -> str:
    """asyncpg takes URLs only; turn a libpq key=value string into one."""
    if "://" in dsn:
        return dsn
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host = params.pop("host", "")
    query = f"?host={quote(host)}" if host.startswith("/") else ""
    netloc = "" if query else host
    if params.get("port"):
        netloc += f":{params['port']}" if netloc else ""
        if query:
            query += f"&port={params['port']}"
    user = params.get("user", "postgres")
    return f"postgresql://{quote(user)}@{netloc}/{params.get('dbname', 'postgres')}{query}"


async def main(dsn: str, mode: str) -> None:
    # asyncpg: pgqueuer's primary driver (its psycopg driver holds the connection in
    # notifies(timeout=1.0), which adds up to a second to every wake-up).
    conn = await asyncpg.connect(dsn_for_asyncpg(dsn))
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("noop")
    async def noop(job):
        mark()

    await qm.run(dequeue_timeout=timedelta(seconds=0.5),
                 mode=QueueExecutionMode.drain if mode == "burst" else QueueExecutionMode.continuous)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
