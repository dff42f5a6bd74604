"""Cost and yield of MCTS revision trajectories on household tasks.

    python benchmarks/mcts.py --limit 2 --iterations 4 --expansions 2 --max-depth 6 --short-prompt --threads 1

Prints tasks/min, LLM calls per verified revision, the search's success rate, and the share of splices the
environment rejects when replayed. The named baseline is the released Agent-R splice (bad prefix + the good
path's remaining actions, never replayed): its rejection share is how many of those splices describe an
episode that does not succeed in the real environment, against Kintsugi's share after re-searching the
continuation (`--resolve`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from agents.store import Store
from reflection.mcts import ADMISSIBLE_MODES, ROLLOUTS, MCTSConfig
from reflection.mcts_pipeline import SearchConfig, search_and_revise
from reflection.revision import RESOLVERS, RevisionConfig
from reflection.tree_store import TreeStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--expansions", type=int, default=4)
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--rollout", choices=ROLLOUTS, default="none")
    parser.add_argument("--admissible", choices=ADMISSIBLE_MODES, default="map+fill")
    parser.add_argument("--resolve", choices=RESOLVERS, default="mcts+expert")
    parser.add_argument("--resolve-iterations", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=None, help="tokens per sampled reply")
    parser.add_argument("--short-prompt", action="store_true", help="instructions only, no few-shot episodes")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one)")
    args = parser.parse_args()

    from agents.llm import make_llm
    from environments.household.prompts import INSTRUCTIONS

    options = {"num_threads": args.threads} if args.threads else {}
    llm = make_llm("transformers", args.model, **options)
    config = SearchConfig(
        env="household",
        split=args.split,
        limit=args.limit,
        mcts=MCTSConfig(
            iterations=args.iterations,
            expansions=args.expansions,
            max_depth=args.max_depth,
            rollout=args.rollout,
            admissible=args.admissible,
            max_tokens=args.max_tokens,
            system_prompt=INSTRUCTIONS if args.short_prompt else None,
        ),
        revision=RevisionConfig(resolve=args.resolve, resolve_iterations=args.resolve_iterations),
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="kintsugi-mcts-"))
    console = Console()
    with Store(out / "kintsugi.db") as store:
        report = search_and_revise(
            llm,
            store,
            config,
            out_dir=out,
            on_task=lambda t: console.print(
                f"{t.task_id}: solved={t.success} nodes={t.nodes} pairs={t.pairs} verified={t.verified} "
                f"llm_calls={t.llm_calls} {t.seconds:.1f}s",
                highlight=False,
            ),
        )
        rows = TreeStore(store).revisions(report.run_id)
    s = report.summary()
    tried = len(rows)
    naive_rejected = sum(1 for r in rows if "good_path" in r.details or r.reason.startswith("bad prefix"))
    verified = [r for r in rows if r.status == "verified"]
    origins = [o for r in verified for o in r.details.get("continuation_origins", [])]
    by_model = sum(o in ("model", "mapped") for o in origins)
    kinds = {k: sum(r.continuation == k for r in verified) for k in ("good_path", "mcts", "expert")}
    table = Table(title=f"MCTS revisions, {s['trees']} {args.split} tasks, model {llm.model_id}", show_header=False)
    m = config.mcts
    settings = (
        f"iterations={m.iterations} expansions={m.expansions} max_depth={m.max_depth} c={m.exploration} "
        f"rollout={m.rollout} admissible={m.admissible} resolve={config.revision.resolve} "
        f"prompt={'instructions only' if args.short_prompt else 'full (few-shot)'}"
    )
    table.add_row("settings", settings)
    table.add_row("tasks/min", f"{s['tasks_per_minute']:.2f}  ({s['seconds']:.0f} s)")
    solved = f"{s['tasks_solved_by_search']}/{s['trees']}"
    table.add_row("search success rate", f"{s['search_success_rate']:.3f}  ({solved})")
    table.add_row("pairs / splices tried", f"{s['pairs']}")
    per = s["llm_calls_per_verified_revision"]
    table.add_row("verified revisions", f"{s['verified_revisions']}  continued by {kinds}")
    table.add_row(
        "continuation steps sampled from the model", f"{by_model}/{len(origins)} (rest: fill/rollouts/expert)"
    )
    judged = sum(r.first_error_source == "model" for r in rows)
    written = sum(r.thought_source == "model" for r in verified)
    table.add_row("first error found by the model judge", f"{judged}/{tried} (else cut where the paths part)")
    table.add_row("revision thoughts written by the model", f"{written}/{len(verified)} (else template)")
    table.add_row("LLM calls", f"{s['llm_calls']}  ({'-' if per is None else f'{per:.1f}'} per verified revision)")
    if tried:
        table.add_row(
            "rejected when replayed, baseline Agent-R splice",
            f"{naive_rejected / tried:.3f}  ({naive_rejected}/{tried})",
        )
        table.add_row(
            "rejected when replayed, Kintsugi (after re-search)",
            f"{s['rejected_share']:.3f}  ({s['rejected_splices']}/{tried})",
        )
    else:
        table.add_row("rejected when replayed", "no splices to replay (the search found no failed/successful pair)")
    table.add_row("store", s["store"])
    console.print(table)


if __name__ == "__main__":
    main()
