"""gunicorn settings for the ClipQueue API: ``gunicorn -c gunicorn.py``.

Never ``import gunicorn`` from the repository root: this file shadows the package there.
The values come from ``workers.settings.Settings.from_env`` (the one configuration reader;
the variables are in the README's table), so a bad value stops gunicorn with a message
that names it.
"""
import multiprocessing

from workers.settings import Settings

_settings = Settings.from_env()

# The WSGI app: the factory is called once in each worker process (no preload), so every
# process gets its own connection pool; migrations serialize on an advisory lock.
wsgi_app = "server:create_app()"

# CLIPQUEUE_BIND: address to listen on (use a unix socket behind a reverse proxy).
bind = _settings.bind

# WEB_CONCURRENCY: worker processes. The API is I/O-bound on Postgres; 2 per core is plenty.
workers = _settings.web_concurrency or 2 * multiprocessing.cpu_count()

# gthread: each process serves CLIPQUEUE_THREADS requests at once (keep
# CLIPQUEUE_DB_POOL_SIZE >= threads so no request waits for a connection).
worker_class = "gthread"
threads = _settings.threads

# The internal route runs a whole pipeline step inside the request, so the timeout is
# long (CLIPQUEUE_REQUEST_TIMEOUT); public routes answer in milliseconds.
timeout = _settings.request_timeout_s
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then to bound memory growth (jitter avoids all at once).
max_requests = 10000
max_requests_jitter = 1000

# Log to stderr, one line per request with its duration in microseconds.
accesslog = _settings.access_log
errorlog = "-"
loglevel = _settings.log_level.lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'

# Cap request line and headers (bodies are capped by the app: CLIPQUEUE_MAX_BODY_BYTES).
# 8190 is gunicorn's largest finite limit; a longer request line gets gunicorn's own 400.
limit_request_line = 8190
limit_request_fields = 100


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set, a worker that exits stops counting in live gauges
    (its counters stay: they are totals)."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
