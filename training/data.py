"""Training datasets: loading TRL-format records (jsonl, `datasets` folders, the run store), checking them before
any training starts, and the chat template that lets the loss fall on assistant turns only.

Formats (TRL's standard ones):
- conversational language modelling: `{"messages": [{"role": ..., "content": ...}, ...]}`
- prompt-completion: `{"prompt": str | messages, "completion": str | messages}`
- preference: `{"prompt": str | messages, "chosen": str | messages, "rejected": str | messages}`
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.store import STORE_NAME

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant", "tool")
SFT_COLUMNS = (("messages",), ("prompt", "completion"))
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")

SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>'"
    " + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2-Instruct's own chat template (ChatML with a default system prompt); it has no `{% generation %}` markers."""

SMOLLM2_TRAINING_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""The same rendering, with each assistant reply and its `<|im_end|>` inside `{% generation %}` markers.

TRL (and `apply_chat_template(return_assistant_tokens_mask=True)`) mark the tokens inside the markers as the ones
that carry the loss; the end-of-turn token is inside so the model learns to stop.
"""


class DatasetError(ValueError):
    """A training dataset cannot be used; the message names the problem and how to fix it."""


@dataclass(frozen=True)
class LoadedData:
    """Records read from a data source, with where they came from."""

    records: list[dict[str, Any]]
    """One dict per example, as read (extra provenance columns included)."""
    source: str
    """A description of the source for messages and the registry (path, and run id for a store)."""
    sha256: str
    """Digest of the records' canonical JSON (identifies the exact data an adapter was trained on)."""


def records_digest(records: Sequence[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for rec in records:
        h.update(json.dumps(rec, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


# loading ----------------------------------------------------------------------------------------------------------
def load_records(data: str | Path, kind: str, *, run_id: str | None = None) -> LoadedData:
    """Records from a TRL jsonl file (`.jsonl[.gz]`), a `datasets` folder (`save_to_disk`), or a run store.

    A store is a `kintsugi.db` file or a run directory holding one. SFT takes its finished trajectories as
    conversations; DPO pairs, per task, a successful trajectory with a failed one of the same prompt.
    """
    path = Path(data)
    if path.is_dir() and (path / STORE_NAME).is_file():
        path = path / STORE_NAME
    if path.suffix == ".db":
        if not path.is_file():
            raise DatasetError(f"store {path} does not exist; pass a run directory or its {STORE_NAME}")
        records = _store_records(path, kind, run_id)
        source = f"{path}#{run_id}" if run_id else str(path)
    elif path.is_dir():
        if not (path / "dataset_info.json").is_file() and not (path / "state.json").is_file():
            raise DatasetError(
                f"{path} is a folder but neither a run directory (no {STORE_NAME}) nor a `datasets` folder "
                "(no dataset_info.json); pass a .jsonl file, a datasets folder saved with save_to_disk, or a run store"
            )
        from datasets import load_from_disk

        ds = load_from_disk(str(path))
        if hasattr(ds, "keys") and not hasattr(ds, "column_names"):
            if "train" not in ds:
                raise DatasetError(f"{path} is a DatasetDict without a 'train' split; save the split to train on")
            ds = ds["train"]
        records = [dict(r) for r in ds]
        source = str(path)
    elif path.name.endswith((".jsonl", ".jsonl.gz", ".json")):
        if not path.is_file():
            raise DatasetError(f"data file {path} does not exist")
        records = list(_read_jsonl(path))
        source = str(path)
    else:
        raise DatasetError(
            f"cannot read training data from {path}: expected a .jsonl[.gz] file, a `datasets` folder, a run "
            f"directory or a {STORE_NAME} store"
        )
    return LoadedData(records=records, source=source, sha256=records_digest(records))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    from environments.task_files import read_jsonl

    return [obj for _, obj in read_jsonl(path, DatasetError)]


def _store_records(path: Path, kind: str, run_id: str | None) -> list[dict[str, Any]]:
    from agents.export import trajectory_record
    from agents.store import Store, StoreError

    try:
        store = Store(path)
    except (StoreError, OSError) as exc:
        raise DatasetError(f"cannot open the store {path}: {exc}") from None
    try:
        if run_id is not None:
            store.get_run(run_id)
        trajs = [t for t in store.trajectories(run_id, status="done") if t.steps]
    except StoreError as exc:
        raise DatasetError(str(exc)) from None
    finally:
        store.close()
    if kind == "sft":
        return [trajectory_record(t) for t in trajs]
    by_task: dict[tuple[str, str, str], dict[bool, list[Any]]] = defaultdict(lambda: {True: [], False: []})
    for t in trajs:
        by_task[(t.task_id, t.system_prompt, t.initial_observation)][t.success].append(t)
    pairs = []
    for (task_id, _, _), groups in by_task.items():
        for good, bad in zip(groups[True], groups[False], strict=False):
            conv_good, conv_bad = good.to_messages(), bad.to_messages()
            pairs.append(
                {
                    "prompt": conv_good[:2],
                    "chosen": conv_good[2:],
                    "rejected": conv_bad[2:],
                    "task_id": task_id,
                    "chosen_id": good.id,
                    "rejected_id": bad.id,
                }
            )
    return pairs


# checking ---------------------------------------------------------------------------------------------------------
def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) for m in value)


def _check_messages(value: Any, where: str, column: str, *, needs_assistant: bool) -> None:
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: `{column}` must be a non-empty list of {{role, content}} messages")
    for i, msg in enumerate(value):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str) or msg.get("role") not in ROLES:
            raise DatasetError(
                f"{where}: `{column}[{i}]` is not a message: each needs a `role` in {', '.join(ROLES)} and a string "
                "`content`"
            )
    if needs_assistant and not any(m["role"] == "assistant" and m["content"].strip() for m in value):
        raise DatasetError(f"{where}: `{column}` has no non-empty assistant message, so there is nothing to learn")


def _columns_hint(rec: dict[str, Any]) -> str:
    return ", ".join(sorted(rec)) or "none"


def prepare_sft_records(loaded: LoadedData, *, successful_only: bool = True) -> list[dict[str, Any]]:
    """The SFT examples (TRL columns only), after dropping failed trajectories; raises DatasetError on bad input."""
    if not loaded.records:
        raise DatasetError(f"{loaded.source} holds no examples; export or write some first")
    out: list[dict[str, Any]] = []
    fmt: str | None = None
    dropped = 0
    for i, rec in enumerate(loaded.records):
        where = f"{loaded.source} example {i}"
        if all(k in rec for k in PREFERENCE_COLUMNS) and "completion" not in rec:
            raise DatasetError(
                f"{where} is a preference example (prompt/chosen/rejected); SFT needs `messages` or "
                "`prompt`/`completion` — train it with `kintsugi train dpo` instead"
            )
        if "messages" in rec:
            this = "messages"
            _check_messages(rec["messages"], where, "messages", needs_assistant=True)
            clean = {"messages": [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]}
        elif "prompt" in rec and "completion" in rec:
            this = "prompt-completion"
            prompt, completion = rec["prompt"], rec["completion"]
            if isinstance(prompt, str) and isinstance(completion, str):
                if not completion.strip():
                    raise DatasetError(f"{where}: `completion` is empty, so there is nothing to learn")
                clean = {"prompt": prompt, "completion": completion}
            elif _is_messages(prompt) and _is_messages(completion):
                _check_messages(prompt, where, "prompt", needs_assistant=False)
                _check_messages(completion, where, "completion", needs_assistant=True)
                clean = {"prompt": prompt, "completion": completion}
            else:
                raise DatasetError(
                    f"{where}: `prompt` and `completion` must both be strings or both be lists of messages"
                )
        else:
            raise DatasetError(
                f"{where} has columns {_columns_hint(rec)}; SFT needs `messages` (a conversation) or "
                "`prompt` and `completion` — convert the data to TRL's conversational or prompt-completion format "
                "(`kintsugi export` writes `messages`)"
            )
        if fmt is None:
            fmt = this
        elif fmt != this:
            raise DatasetError(
                f"{where} is {this} but earlier examples are {fmt}; keep one format per dataset (split the file)"
            )
        if successful_only and rec.get("success") is False:
            dropped += 1
            continue
        out.append(clean)
    if dropped:
        log.info("dropped %d unsuccessful trajectories of %d", dropped, len(loaded.records))
    if not out:
        raise DatasetError(
            f"{loaded.source}: all {len(loaded.records)} examples are failed trajectories (success=false), so none "
            "is left after filtering; train on successful ones (run more samples) or pass successful_only=False"
        )
    return out


def prepare_preference_records(loaded: LoadedData) -> list[dict[str, Any]]:
    """The DPO examples (prompt/chosen/rejected only); raises DatasetError on bad input."""
    if not loaded.records:
        hint = (
            " (the store has no task with both a successful and a failed trajectory)" if ".db" in loaded.source else ""
        )
        raise DatasetError(f"{loaded.source} holds no preference pairs{hint}; DPO needs prompt/chosen/rejected")
    out = []
    for i, rec in enumerate(loaded.records):
        where = f"{loaded.source} example {i}"
        missing = [k for k in PREFERENCE_COLUMNS if k not in rec]
        if missing:
            extra = ""
            if "messages" in rec or "completion" in rec:
                extra = " — this looks like SFT data: train it with `kintsugi train sft`"
            elif "chosen" in rec and "rejected" in rec:
                extra = " — add the shared `prompt` column (explicit-prompt format)"
            raise DatasetError(
                f"{where} has columns {_columns_hint(rec)} but DPO needs prompt, chosen and rejected "
                f"(missing {', '.join(missing)}){extra}"
            )
        prompt, chosen, rejected = rec["prompt"], rec["chosen"], rec["rejected"]
        if all(isinstance(v, str) for v in (prompt, chosen, rejected)):
            if not chosen.strip() or not rejected.strip():
                raise DatasetError(f"{where}: `chosen` and `rejected` must be non-empty")
        elif all(_is_messages(v) for v in (prompt, chosen, rejected)):
            _check_messages(prompt, where, "prompt", needs_assistant=False)
            _check_messages(chosen, where, "chosen", needs_assistant=True)
            _check_messages(rejected, where, "rejected", needs_assistant=True)
        else:
            raise DatasetError(f"{where}: prompt, chosen and rejected must all be strings or all lists of messages")
        if chosen == rejected:
            raise DatasetError(f"{where}: `chosen` equals `rejected`; such a pair teaches nothing — remove it")
        out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


# templates and tokens ----------------------------------------------------------------------------------------------
def training_chat_template(tokenizer: Any, chat_template_path: str | None = None) -> str:
    """A chat template with `{% generation %}` markers that renders exactly like the tokenizer's own.

    Order: an explicit template file; the tokenizer's template if it already has markers; our SmolLM2 template;
    TRL's patched template for the model families it knows.
    """
    if chat_template_path:
        return Path(chat_template_path).read_text(encoding="utf-8")
    current = tokenizer.chat_template
    if isinstance(current, dict):
        current = current.get("default")
    if not current:
        raise DatasetError(
            "the base model's tokenizer has no chat template, so conversations cannot be rendered; pass a Jinja "
            "template with {% generation %} markers (chat_template_path / --chat-template)"
        )
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(current):
        return current
    if current == SMOLLM2_CHAT_TEMPLATE:
        return SMOLLM2_TRAINING_CHAT_TEMPLATE
    try:
        patched = get_training_chat_template(tokenizer)
    except ValueError:
        patched = None
    if not patched:
        raise DatasetError(
            "the base model's chat template has no {% generation %} markers and no known training variant, so the "
            "loss cannot be limited to assistant turns; pass a template with markers (chat_template_path / "
            "--chat-template) or train on whole sequences (assistant_only_loss=False)"
        )
    return patched


def tokenize_conversation(tokenizer: Any, messages: Sequence[dict[str, str]], chat_template: str) -> dict[str, list]:
    """input_ids and labels for one conversation: labels are -100 everywhere but the assistant replies."""
    enc = tokenizer.apply_chat_template(
        list(messages),
        chat_template=chat_template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = list(enc["input_ids"])
    mask = list(enc["assistant_masks"])
    if 1 not in mask:
        raise DatasetError("a conversation has no assistant tokens under the training chat template")
    return {"input_ids": ids, "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)]}


def _length(tokenizer: Any, chat_template: str | None, value: Any, completion: Any = None) -> int:
    if isinstance(value, list):
        messages = value + (completion or [])
        return len(
            tokenizer.apply_chat_template(messages, chat_template=chat_template, tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
    text = value + (completion or "") + (tokenizer.eos_token or "")
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def sequence_length(tokenizer: Any, record: dict[str, Any], chat_template: str | None) -> int:
    """Tokens of the longest training sequence an example makes (prompt + chosen/rejected for preferences)."""
    if "messages" in record:
        return _length(tokenizer, chat_template, record["messages"])
    if "chosen" in record:
        return max(
            _length(tokenizer, chat_template, record["prompt"], record["chosen"]),
            _length(tokenizer, chat_template, record["prompt"], record["rejected"]),
        )
    return _length(tokenizer, chat_template, record["prompt"], record["completion"])


def check_lengths(
    records: Sequence[dict[str, Any]],
    tokenizer: Any,
    chat_template: str | None,
    max_length: int,
    context: int,
    source: str,
) -> list[int]:
    """Token lengths of the examples; raises DatasetError naming those over `max_length` (nothing is truncated)."""
    lengths = [sequence_length(tokenizer, r, chat_template) for r in records]
    over = [(i, n) for i, n in enumerate(lengths) if n > max_length]
    if over:
        shown = ", ".join(f"example {i} ({n} tokens)" for i, n in over[:5])
        more = f" and {len(over) - 5} more" if len(over) > 5 else ""
        limit = "the model's context" if max_length >= context else f"max_length={max_length}"
        fix = (
            "shorten or drop them"
            if max_length >= context
            else f"shorten or drop them, or raise --max-length (at most the model's context of {context})"
        )
        raise DatasetError(
            f"{source}: {len(over)} example(s) are longer than {limit} ({max_length} tokens): {shown}{more}; {fix}"
        )
    return lengths
