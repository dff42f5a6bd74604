"""Looking at search trees: a rich tree for the terminal, a self-contained HTML page, and the search report."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree as RichTree

from agents.store import Store
from reflection.mcts import Node, Tree
from reflection.tree_store import TreeStore, tree_to_json

MAX_OBS = 90
"""Characters of an observation shown per node."""


def _status(tree: Tree, node: Node) -> str:
    if node.success:
        return "success"
    if node.parent is not None and not node.children and tree.ended(node):
        return "failed"
    return "open"


def _short(text: str, limit: int = MAX_OBS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(node: Node) -> str:
    return f"#{node.id} {node.action or '(root)'}  N={node.visits} Q={node.q:.2f} r={node.reward:g} [{node.origin}]"


def render_tree(tree: Tree, *, max_nodes: int = 400) -> RichTree:
    """The tree for the terminal: success green, failed red, the path taken bold."""
    taken = {n.id for n in tree.taken_path()}
    colour = {"success": "green", "failed": "red", "open": "white"}
    head = f"[bold]tree {escape(tree.id)}[/]  task {escape(tree.task_id)}  {'solved' if tree.success else 'unsolved'}"
    root = RichTree(head)
    shown = 0

    def add(parent: RichTree, node: Node) -> None:
        nonlocal shown
        for cid in node.children:
            child = tree.nodes[cid]
            shown += 1
            if shown > max_nodes:
                parent.add(f"[dim]… {len(tree.nodes) - max_nodes} more nodes[/]")
                return
            style = colour[_status(tree, child)] + (" bold" if child.id in taken else "")
            branch = parent.add(f"[{style}]{escape(_label(child))}[/]\n[dim]{escape(_short(child.observation))}[/]")
            add(branch, child)

    add(root, tree.root)
    return root


def show_tree(store_path: Path, tree_id: str, console: Console | None = None) -> None:
    """`kintsugi tree show TREE_ID`: draw the stored tree in the terminal."""
    with Store(store_path) as store:
        tree = TreeStore(store).load_tree(tree_id)
    (console or Console()).print(render_tree(tree))


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
details{margin-left:1.2em;border-left:1px solid #ccc;padding-left:.5em}
summary{cursor:pointer;padding:2px 0}
.success>summary{color:#116611;font-weight:600}.failed>summary{color:#aa1111}
.taken>summary{background:#fff4c2}
.obs{color:#666;font-size:.9em;white-space:pre-wrap;margin:0 0 .3em 1.2em}
.meta{color:#888;font-size:.85em}
"""


def tree_html(tree: Tree, *, extra_html: str = "") -> str:
    """A self-contained HTML page (no external assets): collapsible nodes, the taken path highlighted.

    `extra_html` (already escaped) goes under the title: the viewer puts its links there."""
    taken = {n.id for n in tree.taken_path()}

    def node_html(node: Node) -> str:
        classes = [_status(tree, node)] + (["taken"] if node.id in taken else [])
        is_open = " open" if node.id in taken or node.parent is None else ""
        title = html.escape(node.action or "(root)")
        meta = f"#{node.id} N={node.visits} Q={node.q:.2f} r={node.reward:g} {node.origin}"
        body = f'<div class="obs">{html.escape(node.observation or tree.initial_observation)}</div>'
        if node.model_output and node.model_output != node.action:
            body += f'<div class="obs">model: {html.escape(node.model_output)}</div>'
        kids = "".join(node_html(tree.nodes[c]) for c in node.children)
        return (
            f'<details class="{" ".join(classes)}"{is_open}><summary>{title} '
            f'<span class="meta">{html.escape(meta)}</span></summary>{body}{kids}</details>'
        )

    head = f"tree {tree.id} — task {tree.task_id} — {'solved' if tree.success else 'unsolved'}"
    data = html.escape(json.dumps(tree_to_json(tree)))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(head)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(head)}</h1>"
        f"{extra_html}<p class='meta'>green: success, red: failed, highlighted: the path taken. Click a node to fold "
        f"it.</p>{node_html(tree.root)}<script type='application/json' id='tree-data'>{data}</script></body></html>"
    )


def write_tree_html(store_path: Path, tree_id: str, out: Path | None = None) -> Path:
    """`kintsugi tree html TREE_ID`: write the page (default `TREE_ID.html` next to the store); returns its path."""
    with Store(store_path) as store:
        tree = TreeStore(store).load_tree(tree_id)
    path = out or store_path.parent / f"{tree_id}.html"
    path.write_text(tree_html(tree))
    return path


def export_tree_json(store_path: Path, tree_id: str) -> dict[str, Any]:
    """The stored tree as JSON data."""
    with Store(store_path) as store:
        return tree_to_json(TreeStore(store).load_tree(tree_id))


def print_search_report(summary: dict[str, Any], console: Console, *, as_json: bool = False) -> None:
    """`kintsugi search` output: trees, success per task, pairs, verified revisions, rejected splices and why."""
    if as_json:
        console.print_json(json.dumps(summary))
        return
    table = Table(title=f"search {summary['run_id']}")
    for col in ("task", "tree", "solved", "nodes", "pairs", "verified", "rejected (reason)"):
        table.add_column(col, overflow="fold")
    for t in summary["per_task"]:
        reasons = "\n".join(escape(r) for r in t["rejected"]) or "-"
        table.add_row(
            t["task_id"],
            t["tree_id"],
            "yes" if t["success"] else "no",
            str(t["nodes"]),
            str(t["pairs"]),
            str(t["verified"]),
            reasons,
        )
    console.print(table)
    per_rev = summary["llm_calls_per_verified_revision"]
    console.print(
        f"trees {summary['trees']}  solved by search {summary['tasks_solved_by_search']}  pairs {summary['pairs']}  "
        f"verified {summary['verified_revisions']}  rejected {summary['rejected_splices']}  "
        f"LLM calls {summary['llm_calls']} ({'-' if per_rev is None else f'{per_rev:.1f}'} per verified revision)  "
        f"{summary['tasks_per_minute']:.2f} tasks/min"
    )
    for key, path in summary.get("files", {}).items():
        console.print(f"{key} records: {path}")
    console.print(f"store: {summary['store']}")
