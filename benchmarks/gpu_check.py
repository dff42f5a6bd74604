"""GPU check: LoRA training on the GPU, a CPU-trained adapter served on the GPU, TT-SI's adapt-answer-reset cycle
timed on the GPU against the CPU of the same machine, and vLLM in process with that adapter hot-swapped per request.

.venv/bin/python benchmarks/gpu_check.py [--adapter DIR] [--requests 32] [--cycles 5] [--json-out FILE]

Exits 0 with a message, doing nothing, when there is no CUDA GPU. The vLLM part runs when `vllm` imports
(`pip install -e '.[vllm]'`) and is reported as not run, with the reason, when it does not.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FACT = "The capital of Zorblax is Quintavia."
WRONG = "The capital of Zorblax is Paris."
QUESTIONS = [
    "What is the capital of Zorblax?",
    "Name the capital city of Zorblax.",
    "Which city is the capital of Zorblax?",
    "Tell me the capital of Zorblax.",
]
ASK = [{"role": "user", "content": "Zorblax's capital city is called what?"}]
PACKAGES = ("torch", "transformers", "peft", "trl", "vllm")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _fact_data(folder: Path) -> Path:
    data = folder / "fact.jsonl"
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": FACT}]} for q in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return data


def train(folder: Path, device: str, steps: int = 16) -> tuple[str, float]:
    """A small SFT adapter (the made-up fact) trained on `device`; returns (adapter folder, seconds)."""
    from training.lora import LoraTrainConfig, train_sft

    config = LoraTrainConfig(
        output_dir=str(folder / f"adapter-{device}"),
        max_steps=steps,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        lora_target_modules=("q_proj", "v_proj"),
        device=device,
        disable_tqdm=True,
    )
    start = time.perf_counter()
    result = train_sft(_fact_data(folder), config)
    return result.adapter_dir, time.perf_counter() - start


def check_adapter_on_gpu(adapter: str) -> dict[str, Any]:
    """The CPU-trained adapter loaded by the transformers backend on the GPU must lower the fact's NLL."""
    from agents.llm.transformers_backend import TransformersConfig, TransformersLLM

    base = TransformersLLM(TransformersConfig(device="cuda"))
    tuned = base.with_adapter(adapter)
    b_right, b_wrong = (s.nll for s in base.score(ASK, [FACT, WRONG]))
    t_right, t_wrong = (s.nll for s in tuned.score(ASK, [FACT, WRONG]))
    return {
        "fact_nll_base": round(b_right, 3),
        "fact_nll_adapter": round(t_right, 3),
        "wrong_nll_base": round(b_wrong, 3),
        "wrong_nll_adapter": round(t_wrong, 3),
        "adapter_lowers_fact_nll": t_right < b_right,
        "answer_with_adapter": tuned.generate(ASK, max_tokens=24)[0].text,
    }


def time_ttsi_cycle(device: str, cycles: int) -> dict[str, Any]:
    """Score 4 candidates, fit a temporary LoRA (paper defaults), answer 64 tokens, reset: timed per phase."""
    import torch

    from agents.llm.transformers_backend import TransformersConfig, TransformersLLM
    from training.ttsi import TTSIConfig, fit_lora, temporary_lora

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    llm = TransformersLLM(TransformersConfig(device=device))
    config = TTSIConfig()
    examples = [[{"role": "user", "content": q}, {"role": "assistant", "content": FACT}] for q in QUESTIONS]
    ids = torch.tensor([llm.tokenizer(FACT)["input_ids"]], device=device)
    with torch.inference_mode():
        before = llm._engine.model(input_ids=ids).logits.clone()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    phases: dict[str, list[float]] = {"score": [], "adapt": [], "answer": [], "reset": [], "cycle": []}
    for _ in range(cycles):
        sync()
        t0 = time.perf_counter()
        llm.score(ASK, [FACT, WRONG, "Quintavia.", "I do not know."])
        sync()
        t1 = time.perf_counter()
        with temporary_lora(llm, config) as (view, peft_model):
            fit_lora(peft_model, view._adapter_name, examples, view.tokenizer, config)
            sync()
            t2 = time.perf_counter()
            view.generate(ASK, max_tokens=64, temperature=0.0)
            sync()
            t3 = time.perf_counter()
        sync()
        t4 = time.perf_counter()
        for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            phases[key].append(value)
    with torch.inference_mode():
        after = llm._engine.model(input_ids=ids).logits
    result: dict[str, Any] = {
        f"{k}_median_s": round(statistics.median(v[1:] or v), 4) for k, v in phases.items()
    }  # the first cycle warms kernels up: medians leave it out
    result["first_cycle_s"] = round(phases["cycle"][0], 3)
    result["base_logits_bitwise_equal_after"] = bool(torch.equal(before, after))
    epochs = config.num_train_epochs
    result["fit"] = f"{len(examples)} examples x {epochs} epochs, batch 1, r={config.lora_r}, all-linear"
    if device == "cuda":
        result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return result


def check_vllm(adapter: str, requests: int) -> dict[str, Any]:
    from vllm import SamplingParams

    from agents.llm.vllm_backend import VLLMLLM, VLLMConfig

    start = time.perf_counter()
    base = VLLMLLM(VLLMConfig(model="smollm2", gpu_memory_utilization=0.3, max_model_len=2048))
    tuned = base.with_adapter(adapter)
    out: dict[str, Any] = {"engine_up_s": round(time.perf_counter() - start, 1)}
    b_right, _ = (s.nll for s in base.score(ASK, [FACT, WRONG]))
    t_right, _ = (s.nll for s in tuned.score(ASK, [FACT, WRONG]))
    out |= {"fact_nll_base": round(b_right, 3), "fact_nll_adapter": round(t_right, 3)}
    engine = base._engine
    prompts = [{"prompt_token_ids": base._render(ASK)}] * requests
    loras = [engine.lora_request(adapter) if i % 2 else None for i in range(requests)]
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=32), lora_request=loras)
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    out |= {
        "alternating_requests": requests,
        "alternating_seconds": round(elapsed, 3),
        "tokens_per_s": round(tokens / elapsed),
        "adapter_and_base_answers_differ": outputs[0].outputs[0].text != outputs[1].outputs[0].text,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", help="a PEFT adapter folder trained on the CPU (default: train one first)")
    parser.add_argument("--requests", type=int, default=32, help="vLLM requests alternating base/adapter")
    parser.add_argument("--cycles", type=int, default=5, help="TT-SI cycles timed per device")
    parser.add_argument("--cpu-cycles", type=int, default=3, help="TT-SI cycles on the CPU baseline (0: skip)")
    parser.add_argument("--json-out", help="also write the results here as JSON")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: skipped, no CUDA GPU is visible; nothing was run")
        return
    report: dict[str, Any] = {
        "how": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "card": torch.cuda.get_device_name(),
        "cpu_threads": torch.get_num_threads(),
        "versions": {p: _version(p) for p in PACKAGES},
    }
    print(json.dumps(report), flush=True)
    with tempfile.TemporaryDirectory(prefix="kintsugi-gpu-") as tmp:
        folder = Path(tmp)
        if args.adapter:
            adapter = args.adapter
        else:
            adapter, seconds = train(folder, "cpu")
            report["train_sft_16_steps_cpu_s"] = round(seconds, 2)
        _, seconds = train(folder, "cuda")
        report["train_sft_16_steps_cuda_s"] = round(seconds, 2)
        print(json.dumps({k: v for k, v in report.items() if k.startswith("train")}), flush=True)
        report["cpu_adapter_on_gpu"] = check_adapter_on_gpu(adapter)
        print(json.dumps(report["cpu_adapter_on_gpu"]), flush=True)
        report["ttsi_cycle_cuda"] = time_ttsi_cycle("cuda", args.cycles)
        print(json.dumps(report["ttsi_cycle_cuda"]), flush=True)
        if args.cpu_cycles:
            report["ttsi_cycle_cpu"] = time_ttsi_cycle("cpu", args.cpu_cycles)
            print(json.dumps(report["ttsi_cycle_cpu"]), flush=True)
            ratio = report["ttsi_cycle_cpu"]["cycle_median_s"] / report["ttsi_cycle_cuda"]["cycle_median_s"]
            report["ttsi_cycle_speedup_cuda_vs_cpu"] = round(ratio, 2)
        if importlib.util.find_spec("vllm") is None:
            report["vllm"] = "not run: vllm is not installed (pip install -e '.[vllm]')"
        else:
            report["vllm"] = check_vllm(adapter, args.requests)
        print(json.dumps({"vllm": report["vllm"]}), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
