"""The adapter registry: its own table in the run store's SQLite file."""

from __future__ import annotations

import pytest

from agents.store import Store
from training.registry import AdapterRegistry, RegistryError


def test_register_get_eval_list_round_trip(tmp_path):
    folder = tmp_path / "adapters" / "a1"
    folder.mkdir(parents=True)
    with AdapterRegistry(tmp_path) as reg:  # a run directory: the table goes into its kintsugi.db
        rec = reg.register(
            path=str(folder),
            kind="sft",
            base_model="smollm2",
            data="data.jsonl",
            data_sha256="ab" * 32,
            num_examples=4,
            hyperparameters={"lora_r": 8, "lora_target_modules": ["q_proj", "v_proj"]},
            metrics={"train_loss_first": 2.0, "train_loss_last": 1.0},
        )
        assert reg.get(rec.id) == rec
        assert reg.get(str(folder)).id == rec.id
        updated = reg.add_eval(rec.id, "easy/test", {"pass@1": 0.25})
        assert updated.evals == {"easy/test": {"pass@1": 0.25}}
        assert updated.hyperparameters["lora_target_modules"] == ["q_proj", "v_proj"]
        assert [r.id for r in reg.list(base_model="smollm2", kind="sft")] == [rec.id]
        assert reg.list(kind="dpo") == []
        with pytest.raises(RegistryError, match="no adapter"):
            reg.get("adapter-missing")
    assert (tmp_path / "kintsugi.db").is_file()


def test_registry_shares_the_store_file_and_connection(tmp_path):
    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run({"k": 1})
        reg = AdapterRegistry(store)
        rec = reg.register(path=str(tmp_path), kind="dpo", base_model="smollm2", data=f"{store.path}#{run_id}")
    with Store(tmp_path / "kintsugi.db") as store:  # the store still opens and keeps its runs
        assert store.get_run(run_id)["config"] == {"k": 1}
        assert AdapterRegistry(store).get(rec.id).data.endswith(run_id)
