"""Page names to pages, the local HTTP server (`kintsugi view OUT`), and the static export (`--export DIR`).

Each request opens the store read-only for as long as it renders one page, so a run writing to the same file is
never blocked (SQLite WAL: readers and one writer coexist) and every page shows what is committed now.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agents.store import Store, StoreError
from agents.viewer import pages, queries
from agents.viewer.layout import compare_name, error_body, page

log = logging.getLogger(__name__)

EXPORT_MARKER = ".kintsugi-view"
"""File that marks a folder as a previous export (which a new export may replace)."""

MAX_COMPARE_PAGES = 300
"""An export writes comparison pages for at most this many pairs of runs that share tasks."""


class ViewerError(RuntimeError):
    """The viewer cannot start or export (no store, port taken, a folder it must not overwrite)."""


def open_store(store_path: Path) -> Store:
    """The store, read-only; a missing file or a file that is not a Kintsugi store is a ViewerError."""
    try:
        return Store(store_path, readonly=True)
    except StoreError as exc:
        raise ViewerError(str(exc)) from None


def render(store_path: Path, name: str) -> str:
    """The page called `name` (`index.html`, `run-ID.html`, ...); raises `pages.PageNotFound`."""
    out = store_path.parent
    name = name.strip("/") or "index.html"
    if not name.endswith(".html"):
        raise pages.PageNotFound(f"no page {name!r}")
    stem = name[: -len(".html")]
    with open_store(store_path) as store:
        fixed: dict[str, Callable[[Store, Path], str]] = {
            "index": pages.index_page,
            "trees": pages.trees_page,
            "adapters": pages.adapters_page,
            "learning": pages.learning_page,
            "ttsi": pages.ttsi_page,
        }
        if stem in fixed:
            return fixed[stem](store, out)
        kind, _, ident = stem.partition("-")
        if ident and kind == "run":
            return pages.run_page(store, out, ident)
        if ident and kind == "traj":
            return pages.trajectory_page(store, out, ident)
        if ident and kind == "tree":
            return pages.tree_page(store, out, ident)
        if ident and kind == "compare" and "-vs-" in ident:
            a, b = ident.split("-vs-", 1)
            return pages.compare_page(store, out, a, b)
    raise pages.PageNotFound(f"no page {name!r}")


def error_page(message: str) -> str:
    return page("Not found", error_body(message))


def page_names(store_path: Path) -> Iterator[str]:
    """Every page an export writes: the fixed pages, each run, trajectory and tree, and comparisons of runs that
    share tasks."""
    out = store_path.parent
    yield from ("index.html", "trees.html", "adapters.html")
    if (out / pages.LEARNING_FILE).is_file():
        yield "learning.html"
    if any(out.glob(pages.TTSI_GLOB)):
        yield "ttsi.html"
    with open_store(store_path) as store:
        runs = [r["id"] for r in store.runs()]
        trajs = [r[0] for r in store.db.execute("SELECT id FROM trajectories ORDER BY created")]
        trees = [t["id"] for t in queries.trees(store)]
        outcomes = {r: set(queries.task_outcomes(store, r)) for r in runs}
    yield from (f"run-{r}.html" for r in runs)
    yield from (f"traj-{t}.html" for t in trajs)
    yield from (f"tree-{t}.html" for t in trees)
    pairs = [
        (a, b)
        for a, b in itertools.permutations([r for r in runs if outcomes[r]], 2)
        if len(outcomes[a] & outcomes[b]) * 2 >= min(len(outcomes[a]), len(outcomes[b]))
    ]
    yield from (compare_name(a, b) for a, b in pairs[:MAX_COMPARE_PAGES])


def export_site(store_path: Path, dest: Path, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Write every page into `dest` as files that open from disk; returns how many. The pages are written to a
    side folder first and moved into place at the end, so an interrupted export leaves `dest` as it was."""
    if dest.exists() and any(dest.iterdir()) and not (dest / EXPORT_MARKER).exists():
        raise ViewerError(f"{dest} is not empty and not an earlier export; choose a new or empty folder")
    names = list(page_names(store_path))
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for i, name in enumerate(names):
            try:
                html = render(store_path, name)
            except pages.PageNotFound as exc:
                html = error_page(str(exc))
            (partial / name).write_text(html, encoding="utf-8")
            if on_progress:
                on_progress(i + 1, len(names))
        (partial / EXPORT_MARKER).write_text("written by `kintsugi view --export`\n")
    except BaseException:  # a full disk, Ctrl-C: no half-written site is left behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    partial.rename(dest)
    return len(names)


class _Handler(BaseHTTPRequestHandler):
    store_path: Path

    def do_GET(self) -> None:
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        try:
            body, status = render(self.store_path, name), HTTPStatus.OK
        except pages.PageNotFound as exc:
            body, status = error_page(str(exc)), HTTPStatus.NOT_FOUND
        except ViewerError as exc:
            body, status = error_page(str(exc)), HTTPStatus.SERVICE_UNAVAILABLE
        except Exception:
            log.exception("rendering %s", name)
            body = page("Error", error_body(f"the viewer failed rendering {name}; the traceback is in its log"))
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        log.info("%s " + fmt, self.address_string(), *args)


class Viewer:
    """The viewer's HTTP server over one store: `start()` serves in a thread, `serve_forever()` in the caller."""

    def __init__(self, store_path: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        open_store(store_path).close()  # fail now, with one line, if it is not a store
        handler = type("Handler", (_Handler,), {"store_path": store_path})
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ViewerError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from None
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> Viewer:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Viewer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
