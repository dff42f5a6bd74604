"""Base model vs TT-SI vs TT-ICL on the code env's `easy` test split with the embedded model (same inputs, same
uncertainty verdicts, same self-written examples): accuracy with 95% Wilson intervals, the uncertain share, and
adaptation latency per uncertain input (median, p95), plus peak memory.

.venv/bin/python benchmarks/tt_si.py [--limit 10] [--tau 0.95] [--k 2] [--threads 1]

With `--env household` the same per agent step on valid_unseen games: base vs variant episode success, the uncertain
share of judged steps, actions changed, adaptation latency per uncertain step (`--variants tt-si,tt-d,tt-icl`; tt-d's
examples come from the environment's expert, and `--teacher expert` gives the expert's examples to every variant).

.venv/bin/python benchmarks/tt_si.py --env household [--limit 2] [--max-steps 8] [--max-adaptations 1]

The default --limit is sized to finish in about 10 minutes on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _rate(acc: dict) -> str:
    if not acc["n"]:
        return "      -"
    lo, hi = acc["ci95"]
    return f"{acc['passed']:>2}/{acc['n']:<2} {acc['rate']:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=10, help="test tasks (default 10: ~10 min on 2 shared cores)")
    parser.add_argument("--tau", type=float, default=0.95, help="uncertain when the softmax(-NLL) margin is below")
    parser.add_argument("--k", type=int, default=2, help="self-written examples wanted per uncertain input")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids contention when shared)")
    parser.add_argument("--json", action="store_true", help="also print the full summaries as JSON")
    parser.add_argument("--env", choices=("code", "household"), default="code")
    parser.add_argument("--variants", default="tt-si,tt-icl", help="household: comma-separated variants")
    parser.add_argument("--teacher", choices=("expert",), default=None, help="household: the expert writes for all")
    parser.add_argument("--max-steps", type=int, default=8, help="household: steps per episode")
    parser.add_argument("--max-adaptations", type=int, default=1, help="household: adapted steps per episode")
    parser.add_argument("--candidates", choices=("sampled", "admissible"), default="sampled", help="household")
    args = parser.parse_args()
    if args.env == "household":
        household_main(args)
        return

    from agents.llm import make_llm
    from environments.code.tasks import load_code_tasks
    from environments.code.ttsi import run_ttsi_variants
    from training.ttsi import TTSIConfig

    print(f"how: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    started = time.perf_counter()
    llm = make_llm("transformers", "smollm2", num_threads=args.threads)
    tasks = load_code_tasks("easy", "test", args.limit)
    config = TTSIConfig(tau=args.tau, k=args.k, num_train_epochs=args.epochs, learning_rate=args.lr)
    print(
        f"model {llm.model_id} (transformers, cpu, {args.threads} thread(s)); easy/test first {len(tasks)} tasks; "
        f"estimator margin tau={config.tau}; {config.num_candidates} candidates; k={config.k} "
        f"(x{config.synthesis_tries} written, kept if they pass their own asserts); LoRA r={config.lora_r} "
        f"alpha={config.lora_alpha} {config.lora_target_modules} lr={config.learning_rate} "
        f"epochs={config.num_train_epochs} batch 1; greedy answers, one attempt"
    )

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} inputs, {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    reports = run_ttsi_variants(llm, tasks, config, ["tt-si", "tt-icl"], on_progress=progress)
    si, icl = reports["tt-si"].summary(), reports["tt-icl"].summary()
    print(f"\n{'method':<8} {'accuracy (95% CI)':<26} {'on uncertain':<26}")
    print(f"{'base':<8} {_rate(si['base']):<26} {_rate(si['base_on_uncertain']):<26}")
    for name, s in (("tt-si", si), ("tt-icl", icl)):
        print(f"{name:<8} {_rate(s['adapted']):<26} {_rate(s['variant_on_uncertain']):<26}")
    print(
        f"uncertain share {si['uncertain_share']:.2f}; base on confident {_rate(si['base_on_confident'])}; "
        f"examples kept/written per uncertain input: {si['examples_kept_per_uncertain']}/"
        f"{si['examples_written_per_uncertain']}"
    )
    for name, s in (("tt-si", si), ("tt-icl", icl)):
        lat = s["adaptation_seconds_per_uncertain"]
        if lat["median"] is not None:
            print(f"{name} adaptation seconds per uncertain input: median {lat['median']:.1f}, p95 {lat['p95']:.1f}")
    print("per input (confidence, uncertain, base, tt-si, tt-icl, kept examples):")
    for a, b in zip(reports["tt-si"].results, reports["tt-icl"].results, strict=True):
        print(
            f"  {a.task_id}: {a.confidence:.3f} {'U' if a.uncertain else 'C'} {int(a.base_passed)} "
            f"{int(a.variant_passed)} {int(b.variant_passed)} {a.examples}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS) {peak_mb:.0f} MiB; wall {time.perf_counter() - started:.0f}s")
    if args.json:
        print(json.dumps({"tt-si": si, "tt-icl": icl}, default=str))


def household_main(args: argparse.Namespace) -> None:
    from agents.llm import make_llm
    from environments.base import get_entry
    from training.ttsi import TTSIConfig
    from training.ttsi_steps import StepTTSIConfig, run_step_ttsi_variants

    print(f"how: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    started = time.perf_counter()
    llm = make_llm("transformers", "smollm2", num_threads=args.threads)
    limit = args.limit if "--limit" in sys.argv else 2
    entry = get_entry("household")
    tasks = entry.load_tasks(None, "valid_unseen", limit)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    config = TTSIConfig(tau=args.tau, k=args.k, num_train_epochs=args.epochs, learning_rate=args.lr)
    household = StepTTSIConfig(
        max_steps=args.max_steps, max_adaptations=args.max_adaptations, candidates=args.candidates
    )
    print(
        f"model {llm.model_id} (transformers, cpu, {args.threads} thread(s)); household valid_unseen first "
        f"{len(tasks)} games, {household.max_steps} steps each, at most {household.max_adaptations} adapted steps; "
        f"estimator margin tau={config.tau} over {household.candidates} candidates ({config.num_candidates}); "
        f"k={config.k}; teacher {args.teacher or 'model (tt-d: expert)'}; LoRA r={config.lora_r} "
        f"lr={config.learning_rate} epochs={config.num_train_epochs}; greedy episodes"
    )

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} games, {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    reports = run_step_ttsi_variants(
        llm, entry, tasks, config, variants, household, teacher=args.teacher, on_progress=progress
    )
    summaries = {v: r.summary() for v, r in reports.items()}
    first = summaries[variants[0]]
    print(
        f"\n{'method':<8} {'success (95% CI)':<26} {'on games with uncertain steps':<30} "
        f"{'valid action on uncertain steps':<32} judged/uncertain/changed"
    )
    valid = first["valid_on_uncertain"]["base"]
    print(f"{'base':<8} {_rate(first['base']):<26} {_rate(first['base_on_uncertain']):<30} {_rate(valid):<32}")
    for name, s in summaries.items():
        counts = f"{s['steps_judged']}/{s['steps_uncertain']}/{s['actions_changed']}"
        valid = _rate(s["valid_on_uncertain"]["variant"])
        print(f"{name:<8} {_rate(s['adapted']):<26} {_rate(s['variant_on_uncertain']):<30} {valid:<32} {counts}")
    for name, s in summaries.items():
        lat, kept = s["adaptation_seconds_per_uncertain"], s["examples_kept_per_uncertain"]
        if lat["median"] is not None:
            print(
                f"{name}: examples kept/written per uncertain step {kept}/{s['examples_written_per_uncertain']}; "
                f"adaptation s per uncertain step median {lat['median']:.1f}, p95 {lat['p95']:.1f}; judging "
                f"{s['judge_seconds_per_step']:.1f} s per judged step"
            )
    print("per game (base won, variant won, base/variant steps, judged steps as step:confidence:U/C base->action):")
    for name, report in reports.items():
        for e in report.episodes:
            steps = " ".join(
                f"{j.step}:{j.confidence:.2f}:{'U' if j.uncertain else 'C'}:{j.base_action!r}->{j.action!r}"
                for j in e.judged
            )
            print(
                f"  {name} {e.task_id}: {int(e.base_won)} {int(e.variant_won)} {e.base_steps}/{e.variant_steps} {steps}"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS) {peak_mb:.0f} MiB; wall {time.perf_counter() - started:.0f}s")
    if args.json:
        print(json.dumps(summaries, default=str))


if __name__ == "__main__":
    main()
