"""``python -m workers``: run workers, and the operator's CLI.

    python -m workers process URL-OR-FILE [--min-seconds S] [--max-seconds S] [--clips N]
                              [--aspect 9:16] [--captions burned] [-v]
                              (the whole pipeline for one video, in-process; again with
                              other options: its clips made again, the transcript reused)
    python -m workers run [--steps transcript] [--concurrency N] [--burst]
    python -m workers submit URL          python -m workers status TOKEN
    python -m workers cancel TOKEN        python -m workers requeue TOKEN
    python -m workers overview            python -m workers failures
    python -m workers limit STEP N        python -m workers limit STEP --clear
    python -m workers prune [--retention-days D]
    python -m workers reindex             (rebuild the search index from the transcripts)
    python -m workers migrate             python -m workers db-url
    python -m workers db-stop             (stops the embedded Postgres)

On the embedded Postgres (no DATABASE_URL), a one-shot command that had to start the server
stops it again when it exits (unless another process has joined it meanwhile); ``run`` and
``db-url`` leave it running (they are how you start it for others).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from workers.pipeline.table import STEPS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workers", description="ClipQueue workers and operator CLI")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="claim and run pipeline steps")
    run.add_argument("--steps", default=",".join(STEPS),
                     help="comma-separated steps this process takes (GPU boxes: transcript)")
    run.add_argument("--concurrency", type=int, default=1, help="steps run at once in this process")
    run.add_argument("--burst", action="store_true", help="drain what can reach these steps, then exit")
    run.add_argument("--no-webhooks", action="store_true",
                     help="deliver no webhooks from this process (others do; with CLIPQUEUE_WEBHOOK_SECRET set)")
    run.add_argument("--lease-seconds", type=float, help="lease length (default CLIPQUEUE_LEASE_SECONDS)")
    run.add_argument("--poll-interval", type=float, help="seconds between polls when idle")
    run.add_argument("--shutdown-grace", type=float, default=30.0,
                     help="on SIGTERM, seconds to let in-flight steps finish before releasing them")
    run.add_argument("--step-table", help="module:attribute of a custom step table (tests, plugins)")

    process = sub.add_parser("process", help="process one video end to end in this process, print its clips")
    process.add_argument("target", metavar="url-or-file")
    process.add_argument("--min-seconds", type=float, metavar="S",
                         help="shortest clip, 3-600 s (default CLIPQUEUE_CLIP_MIN_S)")
    process.add_argument("--max-seconds", type=float, metavar="S",
                         help="longest clip, 3-600 s, above --min-seconds (default CLIPQUEUE_CLIP_MAX_S)")
    process.add_argument("--clips", type=int, metavar="N", help="at most N clips, 1-20 (default CLIPQUEUE_MAX_CLIPS)")
    process.add_argument("--aspect", choices=("original", "9:16", "1:1", "4:5"), default="original",
                         help="the clips' frame: the others follow the speaker's face (the whole frame over "
                              "a blur where there is none); video only")
    process.add_argument("--captions", choices=("files", "burned", "none"), default="files",
                         help="SRT + VTT files; burned: also in the picture (video only); none")
    process.add_argument("-v", "--verbose", action="store_true",
                         help="show the logs here too (they always go to <data dir>/logs/process.log)")

    submit = sub.add_parser("submit", help="enqueue a URL, print its token")
    submit.add_argument("url")
    submit.add_argument("--priority", type=int, default=0)
    for name, text in (("status", "show a job"), ("cancel", "cancel a job"),
                       ("requeue", "run a failed or cancelled job again from where it stopped")):
        sub.add_parser(name, help=text).add_argument("token")
    sub.add_parser("overview", help="jobs by status x step")
    failures = sub.add_parser("failures", help="recent failures and retries")
    failures.add_argument("--limit", type=int, default=20)
    limit = sub.add_parser("limit", help="fleet-wide concurrency limit of a step")
    limit.add_argument("step", nargs="?", choices=STEPS)
    limit.add_argument("max_running", nargs="?", type=int)
    limit.add_argument("--clear", action="store_true")
    prune_cmd = sub.add_parser("prune", help="archive finished jobs and delete old events now")
    prune_cmd.add_argument("--retention-days", type=float,
                           help="archive jobs finished longer ago (default CLIPQUEUE_RETENTION_DAYS)")
    prune_cmd.add_argument("--event-retention-days", type=float,
                           help="delete older events (default CLIPQUEUE_EVENT_RETENTION_DAYS)")
    sub.add_parser("reindex", help="rebuild the search index of every transcribed video")
    sub.add_parser("migrate", help="apply pending migrations")
    sub.add_parser("db-url", help="print the database URL in use (starts the embedded one and leaves it running)")
    sub.add_parser("db-stop", help="stop the embedded Postgres of CLIPQUEUE_DATA_DIR (no-op with DATABASE_URL)")
    return p


def _print(rows) -> None:
    print(json.dumps(rows, indent=2, default=str))


def _or(value, default):
    return default if value is None else value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from workers.queue.bootstrap import configure_logging, prepare_database
    from workers.settings import Settings

    settings = Settings.from_env()
    if args.command == "process":  # a person watches: progress bars and the result, logs in a file
        from workers.pipeline.process import log_path

        configure_logging(settings, log_file=log_path(settings), console=args.verbose)
    else:
        configure_logging(settings)
    if args.command not in ("run", "process"):  # an operator's command prints its answer, not pgserver's steps
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    request = None
    if args.command == "process":  # the command line is checked before any database starts
        from workers.pipeline.options import InvalidOption
        from workers.pipeline.process import InputError, request_for

        try:
            request = request_for(args.target, settings, {
                "clip_min_seconds": args.min_seconds, "clip_max_seconds": args.max_seconds,
                "max_clips": args.clips, "aspect": args.aspect, "captions": args.captions})
        except InvalidOption as exc:
            print(f"error: {_flag_words(exc.message)}", file=sys.stderr)
            return 2
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command == "db-stop":
        from workers.queue.embedded import stop_embedded

        if settings.database_url:
            print("DATABASE_URL is set: that server is not ClipQueue's to stop", file=sys.stderr)
            return 2
        print("stopped" if stop_embedded(settings.data_dir) else "not running")
        return 0
    started_here = False
    if args.command not in ("run", "db-url") and not settings.database_url:
        from workers.queue.embedded import embedded_running

        started_here = not embedded_running(settings.data_dir)  # then it is this command's to stop
    try:
        return _command(args, settings, prepare_database(settings), request)
    finally:
        if started_here:  # a one-shot command leaves no server behind it unless others use it
            from workers.queue.embedded import release_embedded

            release_embedded(settings.data_dir)


def _flag_words(message: str) -> str:
    """The API's validation message, in the names of the command's flags."""
    for field, flag in (("clip_min_seconds", "--min-seconds"), ("clip_max_seconds", "--max-seconds"),
                        ("max_clips", "--clips"), ("aspect", "--aspect"), ("captions", "--captions")):
        message = message.replace(f'"{field}"', flag)
    return message


def _command(args, settings, url: str, request=None) -> int:
    from workers.queue import jobs as queue
    from workers.queue.db import connect

    if args.command == "run":
        from workers.queue.worker import Worker
        from workers.pipeline.table import load_step_table, validate_steps

        try:
            steps = validate_steps(args.steps.split(","))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from workers.pipeline.services import build_hooks, build_services

        services = build_services(settings)
        worker = Worker(url, load_step_table(args.step_table), steps=steps, settings=settings,
                        concurrency=args.concurrency, burst=args.burst,
                        lease_seconds=args.lease_seconds, poll_interval=args.poll_interval,
                        shutdown_grace=args.shutdown_grace, services=services,
                        hooks=build_hooks(settings, services["storage"]))
        worker.install_signal_handlers()
        dispatcher = None
        if settings.webhook_secret and not args.no_webhooks:  # delivers webhooks beside the steps
            from workers.pipeline.webhooks.dispatcher import Dispatcher

            dispatcher = Dispatcher(url, settings, services, name=worker.name).start()
        try:
            code = worker.run()
        finally:
            if dispatcher is not None:
                dispatcher.stop()
        if worker.steps_still_running():
            # A step ignored its abort (a native decoder): finalizing the interpreter under it
            # would abort the process (134). Its lease was handed back; leave at once.
            import logging
            import os

            from workers.queue import logsink

            logsink.stop_all()
            logging.shutdown()
            os._exit(code)
        return code
    if args.command == "process":
        from workers.pipeline.process import process

        return process(request, settings, url)
    if args.command in ("migrate", "db-url"):
        print(url if args.command == "db-url" else "migrations up to date")
        return 0

    with connect(url, application_name="clipqueue-cli") as conn:
        if args.command == "submit":
            from workers.pipeline.fetcher.guard import UrlRejected, check_url

            try:
                normalized = check_url(args.url, max_length=settings.max_url_length,
                                       allow_private=settings.allow_private_urls)
            except UrlRejected as exc:
                print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
                return 2
            result = queue.enqueue(conn, source_url=args.url, normalized_url=normalized,
                                   priority=args.priority, max_retries=settings.max_retries)
            _print({"token": result.token, "created": result.created})
        elif args.command == "status":
            job = queue.job_by_token(conn, args.token)
            if job is None:
                print("error: unknown token", file=sys.stderr)
                return 1
            _print({**job, "checkpoints": queue.checkpoints_for_video(conn, job["video_id"])})
        elif args.command == "cancel":
            state = queue.request_cancel(conn, args.token, actor="cli")
            print(state or "error: no queued or running job with that token")
            return 0 if state else 1
        elif args.command == "requeue":
            step = queue.requeue_job(conn, args.token, actor="cli")
            print(f"requeued at {step}" if step else "error: no failed or cancelled job with that token")
            return 0 if step else 1
        elif args.command == "prune":
            from workers.pipeline.services import maintenance_tasks
            from workers.pipeline.storage import build_storage
            from workers.queue.maintenance import upkeep

            # the maintenance leader's own list (upkeep), with no batch limit
            _print(upkeep(conn, maintenance_tasks(build_storage(settings)),
                          retention_days=_or(args.retention_days, settings.retention_days),
                          event_retention_days=_or(args.event_retention_days, settings.event_retention_days),
                          max_batches=10**6))
        elif args.command == "reindex":
            from workers.pipeline.search.index import reindex
            from workers.pipeline.storage import build_storage

            videos, sentences = reindex(conn, build_storage(settings))
            _print({"videos": videos, "sentences": sentences})
        elif args.command == "overview":
            _print({"jobs": queue.queue_overview(conn), "limits": queue.step_limits(conn)})
        elif args.command == "failures":
            _print(queue.recent_failures(conn, args.limit))
        elif args.command == "limit":
            if args.step is None:
                _print(queue.step_limits(conn))
            elif args.clear:
                print("cleared" if queue.clear_step_limit(conn, args.step) else "no limit was set")
            elif args.max_running is None or args.max_running < 0:
                print("error: give a limit >= 0, or --clear", file=sys.stderr)
                return 2
            else:
                _print(queue.set_step_limit(conn, args.step, args.max_running))
    return 0


if __name__ == "__main__":
    sys.exit(main())
