"""Tokens/s of the embedded transformers backend at batch 1 (the baseline) and batch 8, same run.

.venv/bin/python benchmarks/generation.py [--max-tokens 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

PROMPT = [
    {"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number, with a docstring."}
]


def measure(llm, batch: int, max_tokens: int, temperature: float, repeats: int) -> tuple[float, int]:
    """Median tokens/s over `repeats` calls, and the tokens of the last call."""
    rates = []
    tokens = 0
    for r in range(repeats):
        start = time.perf_counter()
        out = llm.generate_batch([PROMPT] * batch, temperature=temperature, max_tokens=max_tokens, seed=r)
        elapsed = time.perf_counter() - start
        tokens = sum(c.completion_tokens for group in out for c in group)
        rates.append(tokens / elapsed)
    return statistics.median(rates), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    from agents.llm import make_llm

    start = time.perf_counter()
    llm = make_llm("transformers", "smollm2")
    print(f"model: {llm.model_id}, loaded in {time.perf_counter() - start:.1f}s, torch threads: ", end="")
    import torch

    print(torch.get_num_threads())
    llm.generate(PROMPT, max_tokens=4)  # warm-up
    rows = []
    for batch in args.batches:
        for label, temperature in (("greedy", 0.0), ("sampling T=0.8", 0.8)):
            rate, tokens = measure(llm, batch, args.max_tokens, temperature, args.repeats)
            rows.append((batch, label, rate, tokens))
    baseline = {label: rate for batch, label, rate, _ in rows if batch == args.batches[0]}
    print(f"{'batch':>5}  {'mode':<15} {'tokens/s':>9} {'tokens':>7}  ratio vs batch {args.batches[0]}")
    for batch, label, rate, tokens in rows:
        print(f"{batch:>5}  {label:<15} {rate:>9.1f} {tokens:>7}  {rate / baseline[label]:.2f}x")


if __name__ == "__main__":
    main()
