"""LoRA SFT and DPO with peft + TRL: check the data, train, save a standard PEFT adapter, register it.

CPU by default; a CUDA GPU is used when present (`device="auto"`). The saved folder (`adapter_config.json`,
`adapter_model.safetensors`) loads through `TransformersLLM.with_adapter(path)`, vLLM's `LoRARequest`, and
`vllm serve --enable-lora` (see `agents.llm.vllm_backend`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.data import (
    DatasetError,
    check_lengths,
    load_records,
    prepare_preference_records,
    prepare_sft_records,
    training_chat_template,
)

log = logging.getLogger(__name__)

KINDS = ("sft", "dpo")
DEFAULT_LEARNING_RATE = {"sft": 2e-4, "dpo": 5e-5}
META_FILE = "kintsugi_adapter.json"


@dataclass(frozen=True)
class LoraTrainConfig:
    """One LoRA training run; names follow TRL's SFTConfig/DPOConfig and ModelConfig (`lora_*`)."""

    base: str = "smollm2"
    """Base model: `smollm2` (the embedded SmolLM2-135M-Instruct) or a local transformers model folder."""
    output_dir: str = "adapter"
    """Where the PEFT adapter is saved."""
    num_train_epochs: float = 3.0
    """Passes over the data (ignored when `max_steps` > 0)."""
    max_steps: int = -1
    """Optimizer steps to take in total (-1: derived from the epochs)."""
    learning_rate: float | None = None
    """AdamW learning rate (None: 2e-4 for SFT, 5e-5 for DPO)."""
    per_device_train_batch_size: int = 4
    """Examples per optimizer step (per device)."""
    gradient_accumulation_steps: int = 1
    """Batches accumulated before each optimizer step."""
    warmup_steps: int = 0
    """Linear warm-up steps of the learning rate."""
    max_length: int | None = None
    """Longest tokenized example allowed (None: the model's context); longer ones are an error, never truncated."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA branch."""
    lora_target_modules: tuple[str, ...] | str = "all-linear"
    """Modules that get LoRA: `all-linear` (every linear layer but the output head) or names like q_proj, v_proj."""
    assistant_only_loss: bool = True
    """SFT on conversations: loss on assistant replies only (prompt tokens get label -100)."""
    completion_only_loss: bool = True
    """SFT on prompt-completion data: loss on the completion only."""
    beta: float = 0.1
    """DPO: strength of the KL penalty towards the reference (the base model, adapter disabled)."""
    successful_only: bool = True
    """SFT: drop examples whose `success` column is false (as `kintsugi export` writes)."""
    run_id: str | None = None
    """When the data is a run store: take only this run (None: every run)."""
    eval_data: str | None = None
    """Held-out data in the same format; its loss is reported and registered."""
    chat_template_path: str | None = None
    """A Jinja chat template with `{% generation %}` markers, for models we have no training template for."""
    device: str = "auto"
    """`cpu`, `cuda`, or `auto` (cuda when available)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (TRL's default is on; off is faster for small models)."""
    bf16: bool | None = None
    """bf16 autocast with fp32 master weights (None: on where the hardware has bf16 arithmetic; 2.4x faster here)."""
    lr_scheduler_type: str = "linear"
    """Learning-rate schedule after warm-up (TRL/transformers names: linear, cosine, constant, ...)."""
    use_peft: bool = True
    """Train a LoRA adapter (True) or every weight of the model (False: a full fine-tune, saved as a model folder
    that serves as a base model itself)."""
    prompt: str | None = None
    """The environment prompt profile the data was written in, recorded with the adapter (runs with it default
    to the same profile)."""
    init_adapter: str | None = None
    """Start from this PEFT adapter's weights (continue training it) instead of a fresh LoRA; its rank and
    target modules are used."""
    seed: int = 0
    """Seed for LoRA initialisation and data order."""
    logging_steps: int = 1
    """Log the loss every this many steps."""
    disable_tqdm: bool = False
    """Hide TRL's progress bar."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    kind: str
    """`sft` or `dpo`."""
    adapter_dir: str
    """The saved PEFT adapter folder."""
    adapter_id: str | None
    """Its id in the adapter registry (None when not registered)."""
    num_examples: int
    """Examples trained on (after filtering)."""
    steps: int
    """Optimizer steps taken."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Training (and eval) metrics: first/last loss, DPO reward margins, eval loss, seconds."""


def adapter_info(path: str | Path) -> dict[str, Any]:
    """What Kintsugi recorded about an adapter it trained (`kintsugi_adapter.json`), or {} for a foreign one."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return {}
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def adapter_prompt(path: str | Path | None) -> str | None:
    """The prompt profile trained weights (an adapter or a fine-tuned model folder) were made for (None: the
    environment's default, also for the plain base model)."""
    if path is None:
        return None
    return (adapter_info(path).get("hyperparameters") or {}).get("prompt")


def _device_is_cpu(device: str) -> bool:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA GPU is visible; use device='cpu' or 'auto'")
    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def bf16_available(device: str = "auto") -> bool:
    """Whether bf16 autocast is fast here: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 / AMX."""
    import torch

    if not _device_is_cpu(device):
        return bool(torch.cuda.is_bf16_supported())
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe and probe())


def _lora_config(config: LoraTrainConfig) -> Any:
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )


def _context_length(base_path: str) -> int:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(base_path)
    return int(getattr(cfg, "max_position_embeddings", 2048))


def _common_args(config: LoraTrainConfig, kind: str, max_length: int) -> dict[str, Any]:
    lr = config.learning_rate if config.learning_rate is not None else DEFAULT_LEARNING_RATE[kind]
    return {
        "output_dir": config.output_dir,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "learning_rate": lr,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "warmup_steps": config.warmup_steps,
        "max_length": max_length,
        "logging_steps": config.logging_steps,
        "save_strategy": "no",
        "report_to": "none",
        "seed": config.seed,
        "use_cpu": _device_is_cpu(config.device),
        "disable_tqdm": config.disable_tqdm,
        "dataloader_num_workers": 0,
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": bf16_available(config.device) if config.bf16 is None else config.bf16,
        "lr_scheduler_type": config.lr_scheduler_type,
    }


def _metrics(history: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    losses = [h["loss"] for h in history if "loss" in h]
    out: dict[str, Any] = {}
    if losses:
        out.update(train_loss_first=losses[0], train_loss_last=losses[-1], train_loss_min=min(losses))
        out["loss_curve"] = [[h.get("step", i), h["loss"]] for i, h in enumerate(h for h in history if "loss" in h)]
    if kind == "dpo":
        margins = [h["rewards/margins"] for h in history if "rewards/margins" in h]
        accs = [h["rewards/accuracies"] for h in history if "rewards/accuracies" in h]
        if margins:
            out.update(reward_margin_first=margins[0], reward_margin_last=margins[-1])
        if accs:
            out["reward_accuracy_last"] = accs[-1]
    for h in history:
        for key in ("train_runtime", "train_loss", "eval_loss"):
            if key in h:
                out[key] = h[key]
    return out


def _sft_trainer_class() -> Any:
    """TRL's SFTTrainer with the output head run only where a label is trained.

    TRL computes log-probabilities for every position (in chunks, in fp32); in agent conversations most tokens are
    observations without loss, and with a 49k-token vocabulary the head was 46% of a step on CPU. Selecting the
    positions first (`logits_to_keep`) gives the same loss, normalised the same way as TRL's, at about half the cost.
    """
    import torch
    from trl import SFTTrainer

    class HeadOnLabelsSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            labels = inputs["labels"]
            following = labels[:, 1:]
            keep = (following != -100).any(dim=0).nonzero().squeeze(-1)
            outputs = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs.get("attention_mask"),
                logits_to_keep=keep,
                use_cache=False,
            )
            logits = outputs.logits.float()
            target = following[:, keep]
            total = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), target, ignore_index=-100, reduction="sum"
            )
            valid = target != -100
            count = valid.sum() if num_items_in_batch is None else num_items_in_batch
            loss = total / torch.as_tensor(count).clamp(min=1)
            mode = "train" if model.training else "eval"
            with torch.no_grad():
                hits = ((logits.argmax(-1) == target) & valid).sum()
            self._metrics[mode]["mean_token_accuracy"].append((hits / valid.sum().clamp(min=1)).item())
            return (loss, outputs) if return_outputs else loss

    return HeadOnLabelsSFTTrainer


def _peft_model(model: Any, config: LoraTrainConfig) -> tuple[Any, Any]:
    """(model, peft_config for the trainer): a fresh LoRA, the model wrapped with a trainable `init_adapter`, or the
    bare model for a full fine-tune."""
    if not config.use_peft:
        if config.init_adapter is not None:
            raise DatasetError("a full fine-tune starts from a model, not an adapter: pass the model as the base")
        return model, None
    if config.init_adapter is None:
        return model, _lora_config(config)
    from peft import PeftModel

    if not (Path(config.init_adapter) / "adapter_config.json").is_file():
        raise DatasetError(f"init adapter {config.init_adapter} is not a PEFT adapter folder (no adapter_config.json)")
    return PeftModel.from_pretrained(model, config.init_adapter, is_trainable=True), None


def _progress_callback(on_progress: Any) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            on_progress(state.global_step, state.max_steps)

    return Progress()


def train(
    kind: str, data: str | Path, config: LoraTrainConfig, *, registry: Any = None, on_progress: Any = None
) -> TrainResult:
    """Train a LoRA adapter (`kind` sft or dpo) on `data`; every input check runs before any training.

    `registry`: an `AdapterRegistry`, a store path, or None (not registered). `on_progress(step, total)` is called
    after every optimizer step; with `disable_tqdm` the per-step log lines are not printed either.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown training kind {kind!r}; use one of {', '.join(KINDS)}")
    from agents.llm.embedded import resolve_model

    base_path = resolve_model(config.base)
    loaded = load_records(data, kind, run_id=config.run_id)
    records = (
        prepare_sft_records(loaded, successful_only=config.successful_only)
        if kind == "sft"
        else (prepare_preference_records(loaded))
    )
    eval_records = None
    if config.eval_data:
        eval_loaded = load_records(config.eval_data, kind)
        eval_records = (
            prepare_sft_records(eval_loaded, successful_only=config.successful_only)
            if kind == "sft"
            else prepare_preference_records(eval_loaded)
        )

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    original_template = tokenizer.chat_template
    conversational = isinstance(next(iter(records[0].values())), list)
    use_assistant_mask = kind == "sft" and "messages" in records[0] and config.assistant_only_loss
    if use_assistant_mask:
        tokenizer.chat_template = training_chat_template(tokenizer, config.chat_template_path)
    elif config.chat_template_path:
        tokenizer.chat_template = Path(config.chat_template_path).read_text(encoding="utf-8")
    if conversational and not tokenizer.chat_template:
        raise DatasetError("the data is conversational but the base model has no chat template; pass one")
    context = _context_length(base_path)
    max_length = min(config.max_length or context, context)
    template = tokenizer.chat_template if conversational else None
    lengths = check_lengths(records, tokenizer, template, max_length, context, loaded.source)
    if eval_records:
        check_lengths(eval_records, tokenizer, template, max_length, context, str(config.eval_data))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    torch.manual_seed(config.seed)
    model, peft_config = _peft_model(AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32), config)
    train_ds = Dataset.from_list(records)
    eval_ds = Dataset.from_list(eval_records) if eval_records else None
    args = _common_args(config, kind, max_length)
    if eval_ds is not None:
        args["per_device_eval_batch_size"] = config.per_device_train_batch_size
    started = time.perf_counter()
    if kind == "sft":
        from trl import SFTConfig

        sft_args = SFTConfig(
            **args,
            assistant_only_loss=use_assistant_mask,
            completion_only_loss=config.completion_only_loss,
        )
        trainer = _sft_trainer_class()(
            model=model,
            args=sft_args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    else:
        from trl import DPOConfig, DPOTrainer

        dpo_args = DPOConfig(**args, beta=config.beta)
        trainer = DPOTrainer(
            model=model,
            args=dpo_args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    if config.disable_tqdm:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    if on_progress is not None:
        trainer.add_callback(_progress_callback(on_progress))
    trainer.train()
    if eval_ds is not None:
        trainer.evaluate()
    metrics = _metrics(trainer.state.log_history, kind)
    metrics["seconds"] = time.perf_counter() - started
    metrics["max_example_tokens"] = max(lengths)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not config.use_peft:
        trainer.model.config.use_cache = True  # a complete model folder: weights, config, generation config
    trainer.model.save_pretrained(str(out))
    tokenizer.chat_template = original_template
    tokenizer.save_pretrained(str(out))
    hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    hyper["learning_rate"] = args["learning_rate"]
    hyper["max_length"] = max_length
    steps = int(trainer.state.global_step)
    adapter_id = None
    if registry is not None:
        from training.registry import AdapterRegistry

        reg = registry if isinstance(registry, AdapterRegistry) else AdapterRegistry(registry)
        try:
            record = reg.register(
                path=str(out.resolve()),
                kind=kind,
                base_model=config.base,
                data=loaded.source,
                data_sha256=loaded.sha256,
                num_examples=len(records),
                hyperparameters=hyper,
                metrics=metrics | {"steps": steps},
            )
        finally:
            if reg is not registry:
                reg.close()
        adapter_id = record.id
    meta = {
        "kind": kind,
        "adapter_id": adapter_id,
        "base_model": config.base,
        "base_path": base_path,
        "data": loaded.source,
        "data_sha256": loaded.sha256,
        "num_examples": len(records),
        "hyperparameters": hyper,
        "metrics": metrics,
        "steps": steps,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    del trainer, model
    return TrainResult(
        kind=kind, adapter_dir=str(out), adapter_id=adapter_id, num_examples=len(records), steps=steps, metrics=metrics
    )


def train_sft(
    data: str | Path, config: LoraTrainConfig, *, registry: Any = None, on_progress: Any = None
) -> TrainResult:
    """LoRA SFT on conversations or prompt-completion pairs (loss on assistant turns / completions only)."""
    return train("sft", data, config, registry=registry, on_progress=on_progress)


def train_dpo(data: str | Path, config: LoraTrainConfig, *, registry: Any = None) -> TrainResult:
    """LoRA DPO on prompt/chosen/rejected pairs; the reference is the base model (adapter disabled)."""
    return train("dpo", data, config, registry=registry)


def train_command(
    kind: str,
    data: str | Path,
    *,
    base: str = "smollm2",
    out: str | Path = "adapter",
    epochs: float = 3.0,
    lr: float | None = None,
    rank: int = 8,
    alpha: int = 16,
    target_modules: str | list[str] | None = None,
    batch_size: int = 4,
    max_steps: int = -1,
    max_length: int | None = None,
    beta: float = 0.1,
    run_id: str | None = None,
    eval_data: str | None = None,
    chat_template: str | None = None,
    device: str = "auto",
    seed: int = 0,
    registry: str | Path | None = None,
) -> TrainResult:
    """`kintsugi train sft|dpo`: the CLI's options mapped onto `LoraTrainConfig`, then `train`.

    `target_modules`: None or `all-linear` for every linear layer, else names (a list, or one comma-separated
    string such as `q_proj,v_proj`). `registry`: the store to register the adapter in (None: the data's store when
    the data is a store, else no registration).
    """
    targets: tuple[str, ...] | str
    if target_modules is None or target_modules == "all-linear":
        targets = "all-linear"
    elif isinstance(target_modules, str):
        targets = tuple(t.strip() for t in target_modules.split(",") if t.strip())
    else:
        targets = tuple(target_modules)
    config = LoraTrainConfig(
        base=base,
        output_dir=str(out),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        max_length=max_length,
        lora_r=rank,
        lora_alpha=alpha,
        lora_target_modules=targets,
        beta=beta,
        run_id=run_id,
        eval_data=eval_data,
        chat_template_path=chat_template,
        device=device,
        seed=seed,
    )
    if registry is None:
        path = Path(data)
        if path.suffix == ".db" or (path / "kintsugi.db").is_file():
            registry = path
    return train(kind, data, config, registry=registry)
