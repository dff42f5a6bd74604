"""GPU check: vLLM in process with a LoRA adapter trained on CPU, hot-swapped per request, and TT-SI's
adapt-answer-reset cycle timed on the GPU (transformers backend, cuda).

.venv/bin/python benchmarks/gpu_check.py [--adapter DIR] [--requests 32] [--cycles 3]

Without --adapter it first trains a tiny SFT adapter on the CPU (a made-up fact, 8 steps). Exits 0 with a message,
doing nothing, when there is no CUDA GPU or vllm is not installed (`pip install -e '.[vllm]'`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FACT = "The capital of Zorblax is Quintavia."
QUESTIONS = [
    "What is the capital of Zorblax?",
    "Name the capital city of Zorblax.",
    "Which city is the capital of Zorblax?",
    "Tell me the capital of Zorblax.",
]
ASK = [{"role": "user", "content": "Zorblax's capital city is called what?"}]


def skip_reason() -> str | None:
    """Why this machine cannot run the check (None when it can)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install -e '.[vllm]')"
    return None


def train_on_cpu(folder: Path) -> str:
    from training.lora import LoraTrainConfig, train_sft

    data = folder / "fact.jsonl"
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": FACT}]} for q in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = LoraTrainConfig(
        output_dir=str(folder / "adapter"),
        max_steps=8,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        lora_target_modules=("q_proj", "v_proj"),
        device="cpu",
        disable_tqdm=True,
    )
    start = time.perf_counter()
    result = train_sft(data, config)
    print(f"trained the adapter on CPU: {result.steps} steps in {time.perf_counter() - start:.1f}s")
    return result.adapter_dir


def check_vllm(adapter: str, requests: int) -> None:
    from agents.llm.vllm_backend import VLLMLLM, VLLMConfig

    start = time.perf_counter()
    base = VLLMLLM(VLLMConfig(model="smollm2", gpu_memory_utilization=0.3, max_model_len=2048))
    tuned = base.with_adapter(adapter)
    print(f"vLLM engine up in {time.perf_counter() - start:.1f}s")
    b_right, b_wrong = (s.nll for s in base.score(ASK, [FACT, "The capital of Zorblax is Paris."]))
    t_right, t_wrong = (s.nll for s in tuned.score(ASK, [FACT, "The capital of Zorblax is Paris."]))
    print(f"score NLL of the fact: base {b_right:.2f}, adapter {t_right:.2f} (Paris: {b_wrong:.2f} -> {t_wrong:.2f})")
    if not t_right < b_right:
        print("WARNING: the adapter did not lower the fact's NLL under vLLM", file=sys.stderr)
    print(f"answer with adapter: {tuned.generate(ASK, max_tokens=24)[0].text!r}")
    print(f"answer without:      {base.generate(ASK, max_tokens=24)[0].text!r}")
    # hot swap per request: alternate base and adapter requests in one engine call
    from vllm import SamplingParams

    engine = base._engine
    prompts = [{"prompt_token_ids": base._render(ASK)}] * requests
    loras = [engine.lora_request(adapter) if i % 2 else None for i in range(requests)]
    params = SamplingParams(temperature=0.0, max_tokens=32)
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, params, lora_request=loras, use_tqdm=False)
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    texts = {bool(i % 2): outputs[i].outputs[0].text for i in range(min(2, requests))}
    print(
        f"{requests} requests alternating base/adapter in one batch: {elapsed:.2f}s, {tokens / elapsed:.0f} tok/s; "
        f"adapter and base answers differ: {texts.get(True) != texts.get(False)}"
    )


def check_ttsi_cycle(cycles: int) -> None:
    import torch

    from agents.llm.transformers_backend import TransformersConfig, TransformersLLM
    from training.ttsi import TTSIConfig, adapted

    llm = TransformersLLM(TransformersConfig(device="cuda"))
    examples = [[{"role": "user", "content": q}, {"role": "assistant", "content": FACT}] for q in QUESTIONS[:2]]
    ids = torch.tensor([llm.tokenizer(FACT)["input_ids"]], device="cuda")
    with torch.inference_mode():
        before = llm.model(input_ids=ids).logits.clone()
    timings = []
    for _ in range(cycles):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with adapted(llm, examples, TTSIConfig(num_train_epochs=3)) as view:
            view.generate(ASK, max_tokens=32)
        torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    with torch.inference_mode():
        after = llm.model(input_ids=ids).logits
    print(
        f"TT-SI adapt({len(examples)} examples x 3 epochs, r=8 all-linear)-answer(32 tokens)-reset on "
        f"{torch.cuda.get_device_name()}: median {statistics.median(timings):.2f}s over {cycles} cycles "
        f"(first {timings[0]:.2f}s); base logits bitwise equal after: {torch.equal(before, after)}"
    )
    print(f"peak GPU memory (transformers side) {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", help="a PEFT adapter folder (default: train a tiny one on the CPU first)")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        print(f"gpu_check: skipped, {reason}; nothing was run")
        return
    print(f"how: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="kintsugi-gpu-") as tmp:
        adapter = args.adapter or train_on_cpu(Path(tmp))
        check_ttsi_cycle(args.cycles)
        check_vllm(adapter, args.requests)


if __name__ == "__main__":
    main()
