"""procrastinate side of the benchmark: ``python -m bench._procrastinate_app DSN burst|serve``."""
import sys

import procrastinate

from ._marks import mark


def make_app(dsn: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="noop", queue="bench")
    def noop():
        mark()

    return app


if __name__ == "__main__":
    dsn, mode = sys.argv[1], sys.argv[2]
    make_app(dsn).run_worker(queues=["bench"], concurrency=1, wait=(mode == "serve"),
                             fetch_job_polling_interval=0.5, install_signal_handlers=True)
