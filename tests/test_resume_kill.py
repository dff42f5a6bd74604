"""A staged command SIGKILLed at a random point of each of its stages resumes from the store alone: no finished unit
is redone, nothing is stored twice, and the final report equals an uninterrupted run's (same seeds).

Checked here end to end through the CLI: the warm start (expert demos, dataset, LoRA fit, the base's and the warm
start's held-out evaluations), self-train (the base's evaluation, sampling, fit, the tuned model's evaluation),
agent-r (the base's evaluation, the tree search tree by tree, fit, evaluation), tt-si (input by input) and the
learning study (inside a part's trainer, and inside a TT-SI part input by input); `kintsugi run`'s own kill test is
in `tests/test_agent_run.py`."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.store import Store

pytestmark = pytest.mark.slow

KINTSUGI = [sys.executable, "-m", "agents.cli"]
ARGS = ["warm-start", "--env", "household", "--demos", "20", "--epochs", "0.2", "--eval-limit", "2", "--max-steps",
        "4", "--finetune", "lora", "--backend", "transformers", "--seed", "3", "--json"]  # fmt: skip
STAGES = ("demos", "dataset", "train", "eval_base", "eval")
"""The warm start's stages, in order (`WarmStarter.run`)."""
RUNNING_MARK = {"demos", "eval_base", "eval"}
"""Stages that record themselves as running when they begin (they own a run the resume continues)."""


def _query(db: Path, sql: str) -> list[tuple]:
    """Rows read as another process would while the command writes (WAL: readers never block it)."""
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # its tables are not made yet
        return []
    finally:
        con.close()


Stage = tuple[int, str]
"""(iteration, stage name), as the stage book keys them."""


def _stages(db: Path) -> dict[Stage, tuple[str, float | None]]:
    rows = _query(db, "SELECT iteration, stage, status, seconds FROM stages")
    return {(it, stage): (status, sec) for it, stage, status, sec in rows}


def _running(db: Path, stage: str | Stage, order: tuple[Stage, ...] | None = None,
             marks: set[str] = RUNNING_MARK) -> bool:  # fmt: skip
    """`stage` has begun and not finished: every stage before it (in `order`, by default the warm start's) is done,
    and it marked itself running if it does (its name is in `marks`)."""
    order = order or tuple((0, s) for s in STAGES)
    key = stage if isinstance(stage, tuple) else (0, stage)
    rows = _stages(db)
    if not all(rows.get(s, ("",))[0] == "done" for s in order[: order.index(key)]):
        return False
    status = rows.get(key, ("",))[0]
    return status == "running" or (status == "" and key[1] not in marks)


def _demos_done(db: Path) -> int:
    sql = ("SELECT COUNT(*) FROM trajectories t JOIN runs r ON t.run_id = r.id WHERE r.kind = 'expert' "
           "AND t.status = 'done'")  # fmt: skip
    rows = _query(db, sql)
    return rows[0][0] if rows else 0


def _stage_run(db: Path, stage: str | Stage) -> str | None:
    it, name = stage if isinstance(stage, tuple) else (0, stage)
    rows = _query(db, f"SELECT result FROM stages WHERE iteration = {it} AND stage = '{name}'")
    return json.loads(rows[0][0]).get("run_id") if rows else None


def _stage_steps(db: Path, stage: str | Stage) -> int:
    """Steps committed so far by the agent run of `stage` (an evaluation)."""
    run_id = _stage_run(db, stage)
    sql = f"SELECT COUNT(*) FROM steps s JOIN trajectories t ON s.trajectory_id = t.id WHERE t.run_id = '{run_id}'"
    return _query(db, sql)[0][0] if run_id else 0


def _episode_lengths(db: Path, stage: str) -> list[int]:
    """Steps of each episode of `stage`'s finished run."""
    run_id = _stage_run(db, stage)
    sql = ("SELECT COUNT(*) FROM steps s JOIN trajectories t ON s.trajectory_id = t.id "
           f"WHERE t.run_id = '{run_id}' GROUP BY t.id")  # fmt: skip
    lengths = [n for (n,) in _query(db, sql)]
    assert max(lengths) > 1, f"every {stage} episode took one step: no point inside the stage to stop at"
    return lengths


def _episodes(db: Path) -> dict[str, list[tuple[str, int, str]]]:
    """Finished trajectories per run: (task, sample, id)."""
    with Store(db) as store:
        return {
            r["id"]: [(t.task_id, t.sample_index, t.id) for t in store.trajectories(r["id"], status="done")]
            for r in store.runs()
        }


def _played(db: Path, run_id: str) -> dict[tuple[str, int], list[str]]:
    """A run's actions per (task, sample): equal only if the model that played them is (and, sampled, its seeds)."""
    with Store(db) as store:
        return {(t.task_id, t.sample_index): [s.action for s in t.steps]
                for t in store.trajectories(run_id, status="done")}  # fmt: skip


def _start(out: Path) -> subprocess.Popen:
    resume = ["--resume"] if (out / "kintsugi.db").exists() else []
    return subprocess.Popen([*KINTSUGI, *ARGS, "--out", str(out), *resume], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def test_a_warm_start_killed_in_every_stage_resumes_to_the_uninterrupted_report(tmp_path):
    reference = subprocess.run([*KINTSUGI, *ARGS, "--out", str(tmp_path / "ref")], capture_output=True, text=True,
                               timeout=900)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = json.loads(reference.stdout)
    seconds = {stage: sec or 0.0 for (_, stage), (_, sec) in _stages(tmp_path / "ref" / "kintsugi.db").items()}
    rng = random.Random(0)
    out = tmp_path / "killed"
    db = out / "kintsugi.db"

    # demos: 20 expert episodes take milliseconds, so the kill comes after a random number of them, not a time
    for _ in range(5):
        shutil.rmtree(out, ignore_errors=True)
        k = rng.randint(1, 19)
        proc = _start(out)
        while proc.poll() is None and _demos_done(db) < k and not _running(db, "dataset"):
            time.sleep(0.002)
        _kill(proc)
        if 0 < _demos_done(db) < 20 and _stages(db).get((0, "demos"), ("",))[0] == "running":
            break
    else:
        pytest.fail("five kills meant for the demos stage all landed after it")
    killed_in = ["demos"]

    # train: one unit with no record until it ends, killed early in it (a kill after it ended could not be redone)
    # evaluations: killed after a random number of their committed steps, with at least one model call to go
    order = tuple((0, s) for s in STAGES)
    for stage in ("train", "eval_base", "eval"):
        if stage == "train":
            reached = _after(rng.uniform(0.05, 0.3) * seconds[stage])
        else:
            # episodes advance in lock step, one model call per turn: stop after a turn that is not the last
            lengths = _episode_lengths(tmp_path / "ref" / "kintsugi.db", stage)
            turn = rng.randint(1, max(lengths) - 1)
            k = sum(min(n, turn) for n in lengths)
            reached = lambda stage=stage, k=k: _stage_steps(db, stage) >= k  # noqa: E731
        _kill_inside(ARGS, out, (0, stage), order, RUNNING_MARK, reached)
        killed_in.append(stage)
    assert killed_in == ["demos", "train", "eval_base", "eval"]

    report = _resume_to_end(ARGS, out, "warm-start")
    with Store(db) as store:
        assert len([r for r in store.runs() if r["kind"] == "expert"]) == 1  # the demos run was continued
    assert report["demos"]["episodes"] == expected["demos"]["episodes"] == 20
    assert report["sft_examples"] == expected["sft_examples"]
    assert report["train"]["train_loss_first"] == pytest.approx(expected["train"]["train_loss_first"], rel=1e-4)
    assert report["train"]["train_loss_last"] == pytest.approx(expected["train"]["train_loss_last"], rel=1e-4)
    for name in ("base", "warm_start"):  # the same greedy episodes: the retrained adapter is the uninterrupted one
        got, want = report["eval"][name], expected["eval"][name]
        assert (got["successes"], got["n"]) == (want["successes"], want["n"]), name
        assert _played(db, got["run_id"]) == _played(tmp_path / "ref" / "kintsugi.db", want["run_id"]), name
    assert report["paired"] == expected["paired"]


TTSI = ["tt-si", "--env", "code", "--suite", "easy", "--split", "test", "--limit", "2", "--variant", "tt-icl", "--tau",
        "1.0", "--k", "1", "--threads", "2", "--json"]  # fmt: skip
"""TT-SI in context on two code inputs; tau = 1, so every input whose candidates differ is adapted to."""
TIMING = {"synthesis_seconds", "train_seconds", "answer_seconds", "adaptation_seconds", "confidence"}


def _ttsi_inputs(db: Path) -> dict[str, float]:
    """Stored TT-SI inputs: task id -> when it was stored."""
    return dict(_query(db, "SELECT task_id, created FROM ttsi_inputs"))


def _decided(report: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in report["per_input"]]


def test_a_tt_si_run_killed_inside_an_input_resumes_to_the_uninterrupted_report(tmp_path):
    """`kintsugi tt-si --out OUT`: killed with SIGKILL at a random point of its second input, after the first was
    stored, then `--resume`d; the input stored before the kill is kept as it was (never run again), each input is
    stored once, and the report equals an uninterrupted run's."""
    reference = subprocess.run([*KINTSUGI, *TTSI, "--out", str(tmp_path / "ref")], capture_output=True, text=True,
                               timeout=600)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = json.loads(reference.stdout)
    assert any(row["uncertain"] for row in expected["per_input"]), "nothing adapted: the resume would skip that path"
    seconds = [row[0] for row in _query(tmp_path / "ref" / "kintsugi.db", "SELECT seconds FROM ttsi_inputs")]
    rng = random.Random(0)
    out = tmp_path / "killed"
    db = out / "kintsugi.db"
    k = 1
    proc = subprocess.Popen([*KINTSUGI, *TTSI, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while proc.poll() is None and len(_ttsi_inputs(db)) < k and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.1, 0.6) * seconds[k])  # into the next input, not to its end
    before = _ttsi_inputs(db)
    _kill(proc)
    assert len(before) == len(_ttsi_inputs(db)) == k, f"the kill meant for input {k + 1} landed elsewhere"

    contradicted = subprocess.run([*KINTSUGI, *TTSI, "--tau", "0.5", "--out", str(out), "--resume"],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
    assert contradicted.returncode == 2 and "--tau 0.5 contradicts run" in contradicted.stderr, contradicted.stderr
    # only the execution flags and the folder: the run's settings come from the store
    done = subprocess.run([*KINTSUGI, "tt-si", "--threads", "2", "--json", "--out", str(out), "--resume"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming run-" in done.stderr
    report = json.loads(done.stdout)
    after = _ttsi_inputs(db)
    assert {task: after[task] for task in before} == before  # kept as stored, not run again
    assert sorted(after) == sorted(row["task_id"] for row in expected["per_input"])  # the rest, each once
    assert _decided(report) == _decided(expected)
    assert [r["confidence"] for r in report["per_input"]] == pytest.approx(
        [r["confidence"] for r in expected["per_input"]], abs=1e-6
    )
    assert {k: v for k, v in report.items() if k not in ("per_input", "adaptation_seconds_per_uncertain")} == {
        k: v for k, v in expected.items() if k not in ("per_input", "adaptation_seconds_per_uncertain")
    }
    with Store(db) as store:
        runs = [r for r in store.runs() if r["kind"] == "tt-si"]
        assert len(runs) == 1 and runs[0]["status"] == "done"  # resumed, never begun afresh


def _kill_inside(command: list[str], out: Path, stage: Stage, order: tuple[Stage, ...], marks: set[str],
                 reached: Callable[[], bool], program: list[str] = KINTSUGI) -> None:  # fmt: skip
    """Start (or resume) `program command` into `out`, wait until `stage` runs and `reached()` holds, SIGKILL it,
    and check the kill kept every finished episode and landed inside `stage`."""
    db = out / "kintsugi.db"
    proc = subprocess.Popen([*program, *command, "--out", str(out), *(["--resume"] if db.exists() else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 600
    while proc.poll() is None and not _running(db, stage, order, marks) and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"ended before {stage}: {proc.stderr.read().decode()[-2000:]}"
    while proc.poll() is None and not reached():
        time.sleep(0.01)
    done_before = _episodes(db)
    _kill(proc)
    after = _episodes(db)
    for run_id, finished in done_before.items():  # what was finished before the kill is kept as it was
        assert set(finished) <= set(after[run_id])
    assert _running(db, stage, order, marks), f"the kill meant for {stage} landed after it"


def _resume_to_end(command: list[str], out: Path, kind: str, many: set[str] = frozenset()) -> dict:
    """`command --resume` into `out` to the end: its report, after checking that every run but those in `many` (a
    search run stores several paths per task) holds each (task, sample) once and that the `kind` run was resumed."""
    db = out / "kintsugi.db"
    done = subprocess.run([*KINTSUGI, *command, "--out", str(out), "--resume"], capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for run_id, finished in _episodes(db).items():
        if run_id not in many:
            assert all(n == 1 for n in Counter((task, k) for task, k, _ in finished).values()), run_id
    with Store(db) as store:
        runs = [r for r in store.runs() if r["kind"] == kind]
        assert len(runs) == 1 and runs[0]["status"] == "done"  # resumed, never begun afresh
    return json.loads(done.stdout)


def _reference(command: list[str], out: Path) -> tuple[dict, Path]:
    """An uninterrupted run of `command` into `out`: its report and its store."""
    done = subprocess.run([*KINTSUGI, *command, "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), out / "kintsugi.db"


def _after(seconds: float) -> Callable[[], bool]:
    """True from `seconds` after its first call on (`_kill_inside` first calls it once the stage runs)."""
    first: list[float] = []

    def reached() -> bool:
        first or first.append(time.time())
        return time.time() - first[0] >= seconds

    return reached


SELF_TRAIN = ["self-train", "--env", "code", "--suite", "graded:1", "--method", "rest", "--limit", "4", "--samples",
              "2", "--eval-limit", "4", "--epochs", "1", "--finetune", "lora", "--backend", "transformers",
              "--batch-size", "1", "--seed", "3", "--json"]  # fmt: skip
"""ReST on four one-liners, two samples each, one episode at a time (so an episode samples the same after a resume)."""
SELF_TRAIN_STAGES: tuple[Stage, ...] = ((0, "eval"), (1, "sample"), (1, "dataset"), (1, "train"), (1, "eval"))
"""Its stages in order (`SelfTrainer.run`)."""


def _finished(db: Path, run_id: str | None) -> int:
    rows = _query(db, f"SELECT COUNT(*) FROM trajectories WHERE run_id = '{run_id}' AND status = 'done'")
    return rows[0][0] if run_id and rows else 0


def test_a_self_train_run_killed_in_every_stage_resumes_to_the_uninterrupted_report(tmp_path):
    """`kintsugi self-train` (ReST): killed with SIGKILL inside the base's evaluation, the sampling, the fit and the
    tuned model's evaluation in turn (each after a random number of its episodes, the fit early on), then resumed:
    nothing finished is redone or stored twice, and the report (samples, data, loss, each held-out episode) equals
    an uninterrupted run's."""
    expected, ref_db = _reference(SELF_TRAIN, tmp_path / "ref")
    assert expected["iterations"][1]["agent_sft_size"] > 0, "no sample passed: the fit would be skipped"
    seconds = {stage: sec or 0.0 for stage, (_, sec) in _stages(ref_db).items()}
    sizes = {(0, "eval"): 4, (1, "sample"): 8, (1, "eval"): 4}
    rng = random.Random(1)
    out = tmp_path / "killed"
    db = out / "kintsugi.db"
    marks = {"eval", "sample"}
    for stage in ((0, "eval"), (1, "sample"), (1, "train"), (1, "eval")):
        if stage[1] == "train":  # early in the fit
            reached = _after(rng.uniform(0.05, 0.3) * seconds[stage])
        else:  # after k of its episodes, with at least one to go
            k = rng.randint(1, sizes[stage] - 1)
            reached = lambda stage=stage, k=k: _finished(db, _stage_run(db, stage)) >= k  # noqa: E731
        _kill_inside(SELF_TRAIN, out, stage, SELF_TRAIN_STAGES, marks, reached)
        if stage in sizes:
            assert 0 < _finished(db, _stage_run(db, stage)) < sizes[stage], stage

    report = _resume_to_end(SELF_TRAIN, out, "self-train")
    with Store(db) as store:
        assert len(store.runs()) == 1 + 3  # its base evaluation, sampling and evaluation: each run continued
    timing = {"stage_seconds"}
    for got, want in zip(report["iterations"], expected["iterations"], strict=True):
        assert {k: v for k, v in got.items() if k not in timing | {"train_loss", "adapter"}} == {
            k: v for k, v in want.items() if k not in timing | {"train_loss", "adapter"}
        }
        assert (got["train_loss"] is None) == (want["train_loss"] is None)
        if want["train_loss"] is not None:
            assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-4)
    for stage in ((0, "eval"), (1, "sample"), (1, "eval")):  # the same episodes, action for action
        assert _played(db, _stage_run(db, stage)) == _played(ref_db, _stage_run(ref_db, stage)), stage


AGENT_R = ["agent-r", "--env", "household", "--limit", "3", "--eval-limit", "2", "--eval-max-steps", "3",
           "--search-iterations", "4", "--expansions", "2", "--max-depth", "6", "--rollout", "expert", "--admissible",
           "map+fill", "--judge", "none", "--thought", "fallback", "--resolve", "expert", "--max-tokens", "16",
           "--epochs", "1", "--backend", "transformers", "--seed", "3", "--json"]  # fmt: skip
"""Agent-R on three training games: small trees (the expert values leaves and resolves splices), a short fit."""
AGENT_R_STAGES: tuple[Stage, ...] = ((0, "eval"), (1, "search"), (1, "dataset"), (1, "train"), (1, "eval"))
"""Its stages in order (`AgentRTrainer.run`)."""


def _trees_done(db: Path, run_id: str | None) -> int:
    """Trees of a search run revised to the end (the search stage's unit)."""
    rows = _query(db, f"SELECT stats FROM trees WHERE run_id = '{run_id}' AND kind = 'task'") if run_id else []
    return sum("task_report" in json.loads(stats) for (stats,) in rows)


def test_an_agent_r_run_killed_in_every_stage_resumes_to_the_uninterrupted_report(tmp_path):
    """`kintsugi agent-r`: killed with SIGKILL inside the base's evaluation, the tree search (after a random number
    of its trees), the fit and the tuned model's evaluation in turn, then resumed: the trees finished before a kill
    are kept and not searched again, nothing is stored twice, and the report equals an uninterrupted run's."""
    expected, ref_db = _reference(AGENT_R, tmp_path / "ref")
    assert expected["iterations"][1]["sft_size"] > 0, "no verified revision: the fit would be skipped"
    seconds = {stage: sec or 0.0 for stage, (_, sec) in _stages(ref_db).items()}
    steps = {s: _stage_steps(ref_db, s) for s in ((0, "eval"), (1, "eval"))}
    rng = random.Random(2)
    out = tmp_path / "killed"
    db = out / "kintsugi.db"
    marks = {"eval", "search"}
    kept: dict[str, tuple] = {}
    for stage in ((0, "eval"), (1, "search"), (1, "train"), (1, "eval")):
        if stage[1] == "train":  # early in the fit
            reached = _after(rng.uniform(0.05, 0.3) * seconds[stage])
        elif stage[1] == "search":  # after k of its trees, into the next one
            k = rng.randint(1, 2)
            reached = lambda stage=stage, k=k: _trees_done(db, _stage_run(db, stage)) >= k  # noqa: E731
        else:  # after k of its committed steps, with at least one to go
            k = rng.randint(1, steps[stage] - 1)
            reached = lambda stage=stage, k=k: _stage_steps(db, stage) >= k  # noqa: E731
        _kill_inside(AGENT_R, out, stage, AGENT_R_STAGES, marks, reached)
        if stage[1] == "search":
            search_run = _stage_run(db, stage)
            kept = {task: stats for task, stats in _query(
                db, f"SELECT task_id, stats FROM trees WHERE run_id = '{search_run}' AND kind = 'task'"
            ) if "task_report" in json.loads(stats)}  # fmt: skip
            assert 1 <= len(kept) < 3, "the kill meant for the search landed before its first tree or after its last"

    report = _resume_to_end(AGENT_R, out, "agent-r", many={search_run})
    trees = _query(db, f"SELECT task_id, stats FROM trees WHERE run_id = '{search_run}' AND kind = 'task'")
    for task, stats in kept.items():  # a tree finished before the kill is kept as it was, never grown again
        assert [s for t, s in trees if t == task] == [stats], task
    assert _trees_done(db, search_run) == 3

    def paths(db: Path, run_id: str) -> Counter:  # a search run's finished paths and revisions, by task and source
        sql = f"SELECT task_id, source FROM trajectories WHERE run_id = '{run_id}' AND status = 'done'"
        return Counter(_query(db, sql))

    assert paths(db, search_run) == paths(ref_db, _stage_run(ref_db, (1, "search")))  # none kept twice or lost
    skip = {"stage_seconds", "train_loss", "adapter", "search_run_id"}
    for got, want in zip(report["iterations"], expected["iterations"], strict=True):
        assert {k: v for k, v in got.items() if k not in skip} == {k: v for k, v in want.items() if k not in skip}
        assert (got["train_loss"] is None) == (want["train_loss"] is None)
        if want["train_loss"] is not None:
            assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-4)
    for stage in ((0, "eval"), (1, "eval")):  # the same greedy episodes: the refitted adapter is the uninterrupted one
        assert _played(db, _stage_run(db, stage)) == _played(ref_db, _stage_run(ref_db, stage)), stage


STUDY_PROGRAM = [sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "learning.py")]
STUDY = ["--parts", "code-rest,code-tt-si", "--backend", "transformers", *[
    w for setting in ("code_suite=graded:1", "code_train_tasks=4", "code_samples=2", "code_eval_limit=4",
                      "rest_iterations=1", "rest_epochs=1", "code_ttsi_inputs=2", "batch_size=1", "seed=3")
    for w in ("--set", setting)]]  # fmt: skip
"""A learning study of two parts: ReST on four one-liners (two samples each, one episode at a time, a full fine-tune)
and TT-SI on two held-out ones."""
STUDY_STAGES: tuple[Stage, ...] = (*SELF_TRAIN_STAGES, (0, "code-rest"), (0, "code-tt-si"))
"""The ReST part's trainer stages, then the study's own two."""


def test_a_learning_study_killed_inside_its_parts_resumes_to_the_uninterrupted_tables(tmp_path):
    """`benchmarks/learning.py`: killed with SIGKILL inside its ReST part's sampling (after a random number of
    samples) and fit, then inside its TT-SI part after its first input, then `--resume`d: the study continues the
    part's own trainer run (one self-train run, one TT-SI run), the TT-SI input stored before the kill is kept as it
    was, nothing is stored twice, and learning.json's results equal an uninterrupted study's."""

    def study(out: Path, *extra: str) -> dict:
        done = subprocess.run([*STUDY_PROGRAM, *extra, "--out", str(out)], capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((out / "learning.json").read_text(encoding="utf-8"))

    expected = study(tmp_path / "ref", *STUDY)
    ref_db = tmp_path / "ref" / "kintsugi.db"
    assert expected["results"]["code-rest"]["iterations"][1]["agent_sft_size"] > 0, "no sample passed: no fit"
    seconds = {stage: sec or 0.0 for stage, (_, sec) in _stages(ref_db).items()}
    rng = random.Random(4)
    out = tmp_path / "killed"
    db = out / "kintsugi.db"
    marks = {"eval", "sample", "code-rest", "code-tt-si"}
    k = rng.randint(1, 7)
    reached = lambda: _finished(db, _stage_run(db, (1, "sample"))) >= k  # noqa: E731
    _kill_inside(STUDY, out, (1, "sample"), STUDY_STAGES, marks, reached, STUDY_PROGRAM)
    assert 0 < _finished(db, _stage_run(db, (1, "sample"))) < 8
    _kill_inside(STUDY, out, (1, "train"), STUDY_STAGES, marks, _after(rng.uniform(0.05, 0.3) * seconds[(1, "train")]),
                 STUDY_PROGRAM)  # fmt: skip
    _kill_inside(STUDY, out, (0, "code-tt-si"), STUDY_STAGES, marks, lambda: len(_ttsi_inputs(db)) >= 1,
                 STUDY_PROGRAM)  # fmt: skip
    before = _ttsi_inputs(db)
    assert len(before) == 1, "the kill meant for the TT-SI part's second input landed elsewhere"

    refused = subprocess.run([*STUDY_PROGRAM, "--out", str(out), "--resume", "--set", "seed=4"], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "--set seed=4 contradicts study" in refused.stderr, refused.stderr
    report = study(out, "--resume")
    after = _ttsi_inputs(db)
    assert {task: after[task] for task in before} == before and len(after) == 2  # kept as stored, the other once
    with Store(db) as store:
        kinds = Counter(r["kind"] for r in store.runs() if r["status"] == "done")
        assert len(store.runs()) == sum(kinds.values())  # every run finished: none begun afresh and left behind
    assert kinds == Counter({"learning": 1, "self-train": 1, "tt-si": 1, "run": 3}), kinds
    for run_id, finished in _episodes(db).items():  # each (task, sample) once
        assert all(n == 1 for n in Counter((task, i) for task, i, _ in finished).values()), run_id

    skip = {"stage_seconds", "train_loss", "adapter", "run_id", "_seconds", "per_input",
            "adaptation_seconds_per_uncertain"}  # fmt: skip
    got_rest, want_rest = report["results"]["code-rest"], expected["results"]["code-rest"]
    for got, want in zip(got_rest["iterations"], want_rest["iterations"], strict=True):
        assert {k: v for k, v in got.items() if k not in skip} == {k: v for k, v in want.items() if k not in skip}
    assert got_rest["iterations"][1]["train_loss"] == pytest.approx(want_rest["iterations"][1]["train_loss"], rel=1e-4)
    got_ttsi, want_ttsi = report["results"]["code-tt-si"]["tt-si"], expected["results"]["code-tt-si"]["tt-si"]
    assert {k: v for k, v in got_ttsi.items() if k not in skip} == {k: v for k, v in want_ttsi.items() if k not in skip}
    for stage in ((0, "eval"), (1, "sample"), (1, "eval")):  # the same episodes, action for action
        assert _played(db, _stage_run(db, stage)) == _played(ref_db, _stage_run(ref_db, stage)), stage
