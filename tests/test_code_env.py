import gzip
import json

import pytest

from environments.base import TaskSpec, get_entry
from environments.code import CodeEnv, CodeEnvConfig, TaskFileError, load_code_tasks
from environments.code.extract import extract_code

TASK = TaskSpec(
    task_id="t/0",
    instruction="",
    data={
        "prompt": 'def add(a: int, b: int) -> int:\n    """Sum of a and b."""\n',
        "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    },
)


def test_extract_takes_the_first_block_that_defines_the_entry_point():
    reply = (
        "Here:\n```python\nx = 1\n```\n```python\ndef add(a, b):\n    return a + b\n```\n"
        "Usage:\n```python\nprint(add(1, 2)) oops\n```"
    )
    assert extract_code(reply, "add") == "def add(a, b):\n    return a + b\n"


def test_extract_handles_unfenced_code_cut_fences_and_no_code():
    assert extract_code("def add(a, b):\n    return a + b", "add") is not None
    assert extract_code("```python\ndef add(a, b):\n    return a + b\n", "add") is not None  # cut by max_tokens
    assert extract_code("I would add the numbers.", "add") is None
    assert extract_code("```python\ndef other():\n    pass\n```", "add") is None


def test_a_correct_solution_passes_and_ends_the_episode(sandbox):
    env = CodeEnv(TASK, sandbox)
    obs, info = env.reset(seed=0)
    assert "add" in obs and "```python" in obs
    obs, reward, terminated, truncated, info = env.step("```python\ndef add(a, b):\n    return a + b\n```")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["passed"] is True


def test_a_wrong_solution_gets_the_failing_assert_as_feedback_then_is_truncated(sandbox):
    env = CodeEnv(TASK, sandbox, CodeEnvConfig(max_attempts=2))
    env.reset()
    obs, reward, terminated, truncated, info = env.step("```python\ndef add(a, b):\n    return a - b\n```")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "assert candidate(1, 2) == 3" in info["feedback"] and "AssertionError" in info["feedback"]
    assert "1 attempt left" in obs
    obs, reward, terminated, truncated, info = env.step("no code here")
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["no_code"] and "No ```python code block defining `add`" in obs
    with pytest.raises(RuntimeError, match="reset"):
        env.step("again")


def test_an_infinite_loop_times_out_with_feedback(sandbox):
    from sandboxes import Limits

    env = CodeEnv(TASK, sandbox, CodeEnvConfig(max_attempts=1, limits=Limits(timeout=1.0, cpu_seconds=2)))
    env.reset()
    _, _, _, truncated, info = env.step("```python\ndef add(a, b):\n    while True:\n        pass\n```")
    assert truncated and info["timed_out"] and "Timed out" in info["feedback"]


def test_builtin_suites_load_with_splits():
    easy_test = load_code_tasks("easy", "test")
    easy_train = load_code_tasks("easy", "train")
    assert len(easy_test) >= 40 and len(easy_train) >= 60
    assert not {t.task_id for t in easy_test} & {t.task_id for t in easy_train}
    assert len(load_code_tasks("humaneval")) == 164
    assert len(load_code_tasks("easy", "test", limit=3)) == 3
    assert get_entry("code").load_tasks(None, "test", 2)[0].task_id == easy_test[0].task_id


def test_task_files_plain_and_gzip_and_bad_input(tmp_path):
    row = {"task_id": "x/0", **TASK.data}
    plain = tmp_path / "t.jsonl"
    plain.write_text(json.dumps(row) + "\n\n")
    zipped = tmp_path / "t.jsonl.gz"
    with gzip.open(zipped, "wt") as fh:
        fh.write(json.dumps(row) + "\n")
    assert load_code_tasks(str(plain))[0].task_id == "x/0"
    assert load_code_tasks(str(zipped))[0].data["entry_point"] == "add"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(TaskFileError, match=r"bad.jsonl:2: not valid JSON"):
        load_code_tasks(str(bad))
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"task_id": "x", "prompt": "p"}) + "\n")
    with pytest.raises(TaskFileError, match="entry_point, test"):
        load_code_tasks(str(missing))
    with pytest.raises(TaskFileError, match="unknown suite 'nope'"):
        load_code_tasks("nope")
    with pytest.raises(TaskFileError, match="does not exist"):
        load_code_tasks(str(tmp_path / "absent.jsonl"))
    with pytest.raises(TaskFileError, match="split 'valid'"):
        load_code_tasks("easy", "valid")
