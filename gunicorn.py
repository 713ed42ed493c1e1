"""gunicorn settings for the ClipQueue API: ``gunicorn -c gunicorn.py``.

Never ``import gunicorn`` from the repository root: this file shadows the package there.
Every value can be overridden with an environment variable (named beside it).
"""
import multiprocessing
import os

# The WSGI app: the factory is called once in each worker process (no preload), so every
# process gets its own connection pool; migrations serialize on an advisory lock.
wsgi_app = "server:create_app()"

# CLIPQUEUE_BIND: address to listen on (use a unix socket behind a reverse proxy).
bind = os.environ.get("CLIPQUEUE_BIND", "127.0.0.1:8000")

# WEB_CONCURRENCY: worker processes. The API is I/O-bound on Postgres; 2 per core is plenty.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))

# gthread: each process serves CLIPQUEUE_THREADS requests at once (keep
# CLIPQUEUE_DB_POOL_SIZE >= threads so no request waits for a connection).
worker_class = "gthread"
threads = int(os.environ.get("CLIPQUEUE_THREADS", 4))

# The internal route runs a whole pipeline step inside the request, so the timeout is
# long (CLIPQUEUE_REQUEST_TIMEOUT); public routes answer in milliseconds.
timeout = int(os.environ.get("CLIPQUEUE_REQUEST_TIMEOUT", 900))
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then to bound memory growth (jitter avoids all at once).
max_requests = 10000
max_requests_jitter = 1000

# Log to stderr, one line per request with its duration in microseconds.
accesslog = os.environ.get("CLIPQUEUE_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("CLIPQUEUE_LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'

# Cap request line and headers (bodies are capped by the app: CLIPQUEUE_MAX_BODY_BYTES).
limit_request_line = 8190
limit_request_fields = 100
