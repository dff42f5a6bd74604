"""The page shell (style, navigation, live refresh), page names, and small shared pieces of HTML.

Every page lives at one flat name (`run-ID.html`, `traj-ID.html`, ...), so the same relative links work when the
pages are served and when they are opened from an exported folder.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REFRESH_SECONDS = 2
"""How often a page about running work reloads itself."""

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243447;color:#fff;padding:8px 18px}header a{color:#fff;margin-right:16px;text-decoration:none}
header .brand{font-weight:700}main{padding:12px 22px;max-width:1280px}
h1{font-size:20px;margin:10px 0}h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;margin:0;font:12px/1.4 ui-monospace,monospace}
.ok{color:#17803d;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#777}
.tag{display:inline-block;border-radius:3px;padding:0 5px;margin:1px;font-size:12px;background:#e8e8e8}
a.tag.ok{background:#dcf3e3}a.tag.bad{background:#f9dedc}
.step{background:#fff;border:1px solid #ddd;border-left:4px solid #999;margin:6px 0;padding:4px 10px;list-style:none}
.step .sh{color:#555;font-size:12px;margin-bottom:2px}.grid{display:grid;grid-template-columns:90px 1fr;gap:2px 8px}
.grid>div{min-width:0}.grid table{margin:0}code{font:12px ui-monospace,monospace}
.step.part-prefix{border-left-color:#b3261e}.step.part-thought{border-left-color:#c58a00}
.step.part-continuation{border-left-color:#17803d}.cut{border-top:2px dashed #c58a00;margin:10px 0;padding-top:4px;
color:#c58a00;font-weight:600}.label{color:#555;font-size:12px;margin-right:6px}
.tok{border-radius:2px}.running{background:#fff6d6;padding:4px 8px;border:1px solid #e6c84f}
.plot text{font-size:11px;fill:#333}.plot .title{font-size:13px;font-weight:600}.plot .axis{stroke:#555}
.plot .grid{stroke:#e3e3e3}.filters label{margin-right:12px}.error{background:#f9dedc;padding:10px;border:1px solid
#b3261e}details>summary{cursor:pointer}
"""


class Html(str):
    """Already-escaped HTML (a link, a tag) that tables show as it is."""

    __slots__ = ()


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def page(title: str, body: str, *, live: bool = False, has_learning: bool = False, has_ttsi: bool = False) -> str:
    """A whole page; `live` makes it reload itself every `REFRESH_SECONDS` (for work still running)."""
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if live else ""
    banner = (
        f'<p class="running" id="live">running: this page reloads every {REFRESH_SECONDS} s as steps are committed</p>'
        if live
        else ""
    )
    nav = '<a class="brand" href="index.html">Kintsugi</a><a href="index.html">runs</a>'
    nav += '<a href="adapters.html">adapters</a><a href="trees.html">trees</a>'
    if has_learning:
        nav += '<a href="learning.html">learning</a>'
    if has_ttsi:
        nav += '<a href="ttsi.html">tt-si</a>'
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>{esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><header>{nav}</header><main><h1>{esc(title)}</h1>{banner}{body}"
        "</main></body></html>"
    )


def run_link(run_id: str, text: str | None = None) -> Html:
    return Html(f'<a href="run-{esc(run_id)}.html">{esc(text or run_id)}</a>')


def traj_link(traj_id: str, text: str | None = None, success: bool | None = None) -> Html:
    cls = "" if success is None else f' class="tag {"ok" if success else "bad"}"'
    return Html(f'<a href="traj-{esc(traj_id)}.html"{cls}>{esc(text or traj_id)}</a>')


def tree_link(tree_id: str, text: str | None = None) -> Html:
    return Html(f'<a href="tree-{esc(tree_id)}.html">{esc(text or tree_id)}</a>')


def compare_name(a: str, b: str) -> str:
    return f"compare-{a}-vs-{b}.html"


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else ""


def number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return esc(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return esc(value)


def rate(successes: int, n: int, ci: Sequence[float] | None = None) -> str:
    """`6/22 = 0.273 (0.132-0.482)`."""
    if not n:
        return '<span class="muted">-</span>'
    text = f"{successes}/{n} = {successes / n:.3f}"
    if ci and len(ci) == 2:
        text += f" ({ci[0]:.3f}-{ci[1]:.3f})"
    return esc(text)


def value_html(value: Any) -> str:
    """A config or metrics value: numbers formatted, small lists inline, anything nested as folded JSON."""
    if isinstance(value, Html):
        return str(value)
    if isinstance(value, dict | list) and value:
        text = json.dumps(value, indent=1, default=str)
        if len(text) <= 80 and "\n" not in json.dumps(value, default=str):
            return f"<code>{esc(json.dumps(value, default=str))}</code>"
        return f"<details><summary>{len(value)} entries</summary><pre>{esc(text)}</pre></details>"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return number(value)
    return esc(value)


def kv_table(items: Mapping[str, Any] | Iterable[tuple[str, Any]], *, css_id: str = "") -> str:
    """Two-column table; a key with a `KEY_ci95` companion shows its interval beside it."""
    pairs = list(items.items() if isinstance(items, Mapping) else items)
    keys = {k for k, _ in pairs}
    rows = []
    for key, value in pairs:
        if key.endswith("_ci95") and key[: -len("_ci95")] in keys:
            continue
        ci = dict(pairs).get(f"{key}_ci95")
        cell = value_html(value)
        if isinstance(ci, list | tuple) and len(ci) == 2 and all(isinstance(v, int | float) for v in ci):
            cell += f' <span class="muted">(95% CI {ci[0]:.3f}-{ci[1]:.3f})</span>'
        rows.append(f'<tr data-key="{esc(key)}"><th>{esc(key)}</th><td>{cell}</td></tr>')
    attr = f' id="{esc(css_id)}"' if css_id else ""
    return f"<table{attr}>{''.join(rows)}</table>"


def summary_row(items: Mapping[str, Any], *, css_id: str = "") -> str:
    """One record as a two-row table (names above values): a page's header line."""
    head = "".join(f"<th>{esc(k)}</th>" for k in items)
    cells = "".join(f'<td data-key="{esc(k)}">{value_html(v)}</td>' for k, v in items.items())
    attr = f' id="{esc(css_id)}"' if css_id else ""
    return f'<table class="summary"{attr}><tr>{head}</tr><tr>{cells}</tr></table>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, css_id: str = "", row_attrs: Sequence[str] = ()
) -> str:
    """A table of already-escaped cells; `row_attrs[i]` adds attributes to row i (for filtering)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        attrs = f" {row_attrs[i]}" if i < len(row_attrs) else ""
        body.append(f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    attr = f' id="{esc(css_id)}"' if css_id else ""
    return f"<table{attr}><tr>{head}</tr>{''.join(body)}</table>"


def error_body(message: str) -> str:
    return f'<p class="error" id="error">{esc(message)}</p><p><a href="index.html">all runs</a></p>'
