"""`kintsugi search` (MCTS and verified revisions, Agent-R's data) and `kintsugi tree show|html`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    open_llm,
    open_store,
    out,
    setup_logging,
    store_file,
    tree_app,
)


@app.command()
def search(
    env: str = typer.Option("household", help="Environment to search (`kintsugi envs` lists them)."),
    suite: str = typer.Option(None, help="Task suite (default: the environment's own)."),
    split: str = typer.Option("train", help="Split of the suite."),
    iterations: int = typer.Option(4, min=1, help="MCTS iterations per task (Agent-R: 4)."),
    expansions: int = typer.Option(4, min=1, help="Replies sampled per expansion (Agent-R: 4)."),
    max_depth: int = typer.Option(10, min=1, help="Most actions on a path (Agent-R: 10)."),
    exploration: float = typer.Option(0.25, min=0.0, help="UCT exploration constant c (Agent-R: 0.25)."),
    rollout: str = typer.Option("none", help="Leaf valuation: none (Agent-R), llm, random, or expert."),
    admissible: str = typer.Option("map", help="Admissible actions: off, map, or map+fill."),
    resolve: str = typer.Option(
        "mcts+expert", help="When the good path fails after the bad prefix: none, mcts, expert, or mcts+expert."
    ),
    alpha: float = typer.Option(0.5, help="A successful path's value must exceed alpha."),
    beta: float = typer.Option(0.25, help="The value gap of a pair must exceed beta."),
    short_prompt: bool = typer.Option(False, "--short-prompt", help="System prompt without few-shot episodes."),
    backend: str = typer.Option("transformers", help="LLM backend: transformers or litellm."),
    model: str = typer.Option("smollm2", help="Model name for the backend."),
    adapter: str = typer.Option(None, help="LoRA adapter folder to load on the model."),
    api_base: str = typer.Option(None, help="Server URL for the litellm backend."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Run directory: OUT/kintsugi.db and the JSONL records."),
    limit: int = typer.Option(None, min=1, help="Use only the first N tasks."),
    parallel: int = typer.Option(
        None, min=1, help="Trees searched at once (default: 8 on a server backend that batches, else 1)."
    ),
    ray: str = typer.Option(None, "--ray", help="Grow the trees on Ray: auto (a local cluster) or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="Tree workers on Ray, each with its own model."),
    seed: int = typer.Option(0, help="Seed for environments and sampling."),
    resume: bool = typer.Option(
        False, "--resume", help="Finish OUT's latest unfinished search (same options): revised trees are kept."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Search task trees with MCTS and turn them into verified revision trajectories (Agent-R)."""
    setup_logging(verbose)
    from environments.base import get_entry
    from reflection.mcts import MCTSConfig
    from reflection.mcts_pipeline import SearchConfig, search_and_revise
    from reflection.revision import RevisionConfig
    from reflection.tree_view import print_search_report

    try:
        entry = get_entry(env)
        entry.load_tasks(suite, split, limit)
        system_prompt = entry.system_prompt if short_prompt else None  # the rules without the few-shot turns
        config = SearchConfig(
            env=env,
            suite=suite,
            split=split,
            limit=limit,
            seed=seed,
            parallel=parallel,
            ray=ray,
            ray_workers=ray_workers,
            mcts=MCTSConfig(
                iterations=iterations,
                expansions=expansions,
                max_depth=max_depth,
                exploration=exploration,
                rollout=rollout,
                admissible=admissible,
                system_prompt=system_prompt,
                seed=seed,
            ),
            revision=RevisionConfig(alpha=alpha, beta=beta, resolve=resolve),
        )
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
    store_path = store_file(out_dir)
    store = open_store(store_path)
    run_id = _search_to_resume(store, config) if resume else None
    llm = open_llm(backend, model, adapter, api_base)

    def progress(t: Any) -> None:
        console.print(
            f"{t.task_id}: tree {t.tree_id} solved={'yes' if t.success else 'no'} pairs={t.pairs} "
            f"verified={t.verified} rejected={len(t.rejected)}",
            highlight=False,
        )

    try:
        report = search_and_revise(llm, store, config, out_dir=store_path.parent, on_task=progress, run_id=run_id)
    except KeyboardInterrupt:
        console.print(f"interrupted: revised trees are stored in {store_path}; --resume finishes the search")
        raise typer.Exit(130) from None
    finally:
        store.close()
    print_search_report(report.summary(), out, as_json=as_json)


def _search_to_resume(store: Any, config: Any) -> str:
    """The latest unfinished search run in `store`, refused when it was started with other search options."""
    from reflection.mcts_pipeline import options_differing

    run = store.latest_run(unfinished=True, kind="search")
    if run is None:
        store.close()
        fail(f"no unfinished search in {store.path} to resume; drop --resume to start one")
    differ = options_differing(run["config"], config)
    if differ:
        store.close()
        fail(f"search {run['id']} was started with other {', '.join(differ)}; give its options to resume it")
    return run["id"]


def _tree_store(location: Path) -> Path:
    path = store_file(location)
    if not path.is_file():
        fail(f"no store at {path}; `kintsugi search --out DIR` makes one")
    return path


@tree_app.command("show")
def tree_show(
    tree_id: str = typer.Argument(..., help="Tree id (printed by `kintsugi search`)."),
    location: Path = typer.Option(Path("runs"), "--out", help="Run directory or store file."),
) -> None:
    """Draw a search tree in the terminal."""
    from agents.store import StoreError
    from reflection.tree_view import show_tree

    try:
        show_tree(_tree_store(location), tree_id, out)
    except StoreError as exc:
        fail(str(exc))


@tree_app.command("html")
def tree_html(
    tree_id: str = typer.Argument(..., help="Tree id (printed by `kintsugi search`)."),
    location: Path = typer.Option(Path("runs"), "--out", help="Run directory or store file."),
    output: Path = typer.Option(None, "-o", "--output", help="HTML file (default: OUT/TREE_ID.html)."),
) -> None:
    """Write a search tree as a self-contained HTML page."""
    from agents.store import StoreError
    from reflection.tree_view import write_tree_html

    try:
        path = write_tree_html(_tree_store(location), tree_id, output)
    except StoreError as exc:
        fail(str(exc))
    out.print(str(path))
