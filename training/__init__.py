"""Training: TRL-format datasets -> LoRA SFT/DPO adapters (peft + TRL), the adapter registry, and test-time
self-improvement (TT-SI, TT-D, TT-ICL).

Modules: `data` (loading and checking datasets, the assistant-only training chat template), `lora` (`train`,
`train_command`), `registry` (`AdapterRegistry`), `uncertainty` (margin, agreement, self-certainty), `ttsi`
(`run_ttsi`, `ttsi_command`, `adapted`).
Heavy libraries are imported inside the functions that need them.
"""
