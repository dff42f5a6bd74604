"""Every command against each class of bad input: exit code 2, one line that says what was wrong, no traceback.

This table is where a new command gets its cases. Each case runs the CLI's entry point (`agents.cli.main`, what
the `kintsugi` script calls) in this process with the case's argv; one case also runs it as its own process. None
should get as far as loading a model: the checks come first.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-input")
    (d / "notstore").mkdir()
    (d / "notstore" / "kintsugi.db").write_text("this is not SQLite")
    (d / "notamodel").mkdir()
    (d / "broken.jsonl").write_text('{"messages": [\n')
    (d / "wrong-columns.jsonl").write_text('{"foo": 1}\n')
    whole = gzip.compress(b'{"messages": [{"role": "user", "content": "hi"}]}\n' * 50)
    (d / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (d / "not-gzip.jsonl.gz").write_text('{"messages": []}\n')
    from agents.store import Store

    Store(d / "store" / "kintsugi.db").close()  # an empty but real store
    from dataclasses import asdict

    from agents.runner import RunConfig

    with Store(d / "unfinished" / "kintsugi.db") as store:  # a household run that stopped half-way
        store.create_run(asdict(RunConfig(env="household", split="valid_unseen", limit=1)), model="smollm2")
    from reflection.mcts import MCTSConfig
    from reflection.mcts_pipeline import SearchConfig

    with Store(d / "search" / "kintsugi.db") as store:  # a search (the CLI's defaults but 2 tasks) cut short
        config = SearchConfig(limit=2, mcts=MCTSConfig(iterations=4, expansions=4, max_depth=10, admissible="map"))
        store.create_run(json.loads(json.dumps(asdict(config), default=str)), model="smollm2", kind="search")
    return {"dir": d}


@pytest.fixture(scope="module")
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# (case id, argv with {d} for the temporary folder and {port} for a port in use, what the one line must say)
CASES = [
    ("unknown-command", "bogus-command", "No such command 'bogus-command'"),
    ("zero-samples", "run --samples 0 --out {d}/o", "Invalid value for '--samples'"),
    ("negative-limit", "run --limit -3 --out {d}/o", "Invalid value for '--limit'"),
    ("nan-temperature", "run --temperature nan --out {d}/o", "Invalid value for '--temperature'"),
    ("unknown-env", "run --env nope --limit 1 --out {d}/o", "unknown environment 'nope'"),
    ("unknown-suite", "run --env code --suite nope --limit 1 --out {d}/o", "unknown suite 'nope'"),
    ("unknown-tier", "run --env code --suite graded:7 --limit 1 --out {d}/o", "unknown tier 7 in suite 'graded:7'"),
    ("unknown-split", "run --env code --split nope --limit 1 --out {d}/o", "split 'nope' not in"),
    ("missing-task-file", "run --env code --suite {d}/missing.jsonl --out {d}/o", "does not exist"),
    ("task-file-wrong-columns", "run --env code --suite {d}/wrong-columns.jsonl --out {d}/o", "missing or non-string"),
    ("store-not-sqlite-run", "run --env code --limit 1 --out {d}/notstore", "is not a Kintsugi store"),
    ("store-not-sqlite-runs", "runs {d}/notstore", "is not a Kintsugi store"),
    ("store-not-sqlite-export", "export {d}/notstore --format jsonl", "is not a Kintsugi store"),
    ("store-not-sqlite-tree", "tree show nope --out {d}/notstore", "is not a Kintsugi store"),
    ("store-missing-runs", "runs {d}/nowhere", "no store at"),
    ("model-not-a-model", "run --env code --model {d}/notamodel --limit 1 --out {d}/o", "not a transformers model"),
    ("adapter-not-an-adapter", "run --env code --adapter {d}/notamodel --limit 1 --out {d}/o", "not a PEFT adapter"),
    ("train-missing-data", "train sft --data {d}/missing.jsonl --out {d}/a", "does not exist"),
    ("train-malformed-jsonl", "train sft --data {d}/broken.jsonl --out {d}/a", "not valid JSON"),
    ("train-truncated-gzip", "train sft --data {d}/truncated.jsonl.gz --out {d}/a", "cannot read"),
    ("train-not-gzip", "train sft --data {d}/not-gzip.jsonl.gz --out {d}/a", "Not a gzipped file"),
    ("train-wrong-columns", "train sft --data {d}/wrong-columns.jsonl --out {d}/a", "has columns foo"),
    ("train-unknown-kind", "train bogus --data {d}/wrong-columns.jsonl --out {d}/a", "unknown training kind"),
    ("tt-si-unknown-estimator", "tt-si --estimator bogus --limit 1", "unknown uncertainty estimator 'bogus'"),
    ("tt-si-unknown-variant", "tt-si --variant bogus --limit 1", "unknown TT-SI variant 'bogus'"),
    ("tt-si-unknown-variant-out", "tt-si --variant bogus --limit 1 --out {d}/t", "unknown TT-SI variant 'bogus'"),
    ("tt-si-resume-without-out", "tt-si --resume", "name its folder with --out"),
    ("tt-si-nothing-to-resume", "tt-si --resume --out {d}/store", "no unfinished TT-SI run"),
    ("tt-si-store-not-sqlite", "tt-si --limit 1 --out {d}/notstore", "is not a Kintsugi store"),
    ("self-train-unknown-method", "self-train --method bogus --out {d}/s", "unknown method 'bogus'"),
    ("warm-start-unknown-suite", "warm-start --env code --suite nope --out {d}/w", "unknown suite 'nope'"),
    ("grade-missing-problems", "grade {d}/missing.jsonl {d}/missing2.jsonl", "does not exist"),
    ("export-unknown-format", "export {d}/notstore --format bogus", "unknown format 'bogus'"),
    ("serve-port-in-use", "serve --port {port}", "cannot listen on 127.0.0.1:{port}"),
    ("resume-contradicting-env", "run --resume --env code --out {d}/unfinished", "--env code contradicts run"),
    ("resume-nothing-to-resume", "run --resume --out {d}/store", "nothing to resume"),
    ("search-nothing-to-resume", "search --resume --out {d}/store", "no unfinished search in"),
    (
        "search-resume-other-options",
        "search --resume --limit 2 --max-depth 3 --out {d}/search",
        "started with other mcts.max_depth",
    ),
    ("view-missing-store", "view {d}/nowhere", "no store at"),
    ("view-port-in-use", "view {d}/store --port {port}", "cannot listen on 127.0.0.1:{port}"),
    ("view-not-a-store", "view {d}/notstore", "is not a Kintsugi store"),
]


def _check(code: int, stdout: str, stderr: str, message: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stderr[-2000:])
    assert "Traceback" not in stderr + stdout
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_code_2(files, taken_port, argv, message, monkeypatch, capsys):
    from agents.cli import main

    fill = {"d": files["dir"], "port": taken_port}
    monkeypatch.setattr(sys, "argv", ["kintsugi", *argv.format(**fill).split()])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    _check(exited.value.code, captured.out, captured.err, message.format(**fill))


def test_the_installed_command_reports_the_same_way_in_its_own_process(files):
    done = subprocess.run([sys.executable, "-m", "agents.cli", "runs", str(files["dir"] / "notstore")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    _check(done.returncode, done.stdout, done.stderr, "is not a Kintsugi store")


@pytest.fixture(scope="module")
def mounts(tmp_path_factory):
    """A read-only file system and a full one (tmpfs mounts: the suite runs as root, which ignores file modes)."""
    root = tmp_path_factory.mktemp("mounts")
    ro, full = root / "ro", root / "full"
    ro.mkdir()
    full.mkdir()
    made = []
    try:
        for target, options in ((ro, "ro,size=64k"), (full, "size=16k")):
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
            if done.returncode != 0:
                pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
            made.append(target)
        (full / "filler").write_bytes(b"\0" * 16 * 1024)  # fill it
        yield {"ro": ro, "full": full}
    finally:
        for target in made:
            subprocess.run(["umount", str(target)], capture_output=True)


@pytest.fixture(scope="module")
def store_with_run(tmp_path_factory) -> Path:
    """A store holding one finished run of expert episodes (enough to export)."""
    from dataclasses import asdict

    from agents.runner import RunConfig, start_trajectory
    from agents.store import Store
    from environments.base import get_entry

    entry = get_entry("tools")
    out = tmp_path_factory.mktemp("with-run")
    with Store(out / "kintsugi.db") as store:
        run = store.create_run(asdict(RunConfig(env="tools")), model="expert")
        for task in entry.load_tasks(None, "train", 40):
            env = entry.make(task)
            traj = start_trajectory(store, env, entry, task, run, None, seed=0)
            from agents.types import Step

            for i, reply in enumerate(entry.expert(env)):
                obs, reward, terminated, truncated, _ = env.step(reply)
                store.add_step(traj.id, Step(i, reply, reply, obs, reward, terminated, truncated))
            store.finish_trajectory(traj.id)
        store.finish_run(run, {})
    return out


MACHINE_CASES = [
    ("run-read-only-out", "run --env tools --limit 1 --out {ro}/o", "Read-only file system"),
    ("run-full-disk", "run --env tools --limit 1 --out {full}/o", "no space left for"),
    ("export-read-only", "export {store} -o {ro}/x.jsonl", "Read-only file system"),
    ("export-full-disk", "export {store} -o {full}/x.jsonl", "No space left on device"),
    ("view-export-read-only", "view {store} --export {ro}/site", "Read-only file system"),
    ("view-export-full-disk", "view {store} --export {full}/site", "No space left on device"),
]


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in MACHINE_CASES], ids=[c[0] for c in MACHINE_CASES])
def test_a_read_only_or_full_disk_is_one_line_and_leaves_nothing_half_written(
    mounts, store_with_run, argv, message, monkeypatch, capsys
):
    from agents.cli import main

    before = {p.name for p in mounts["full"].iterdir()}
    fill = {"ro": mounts["ro"], "full": mounts["full"], "store": store_with_run}
    monkeypatch.setattr(sys, "argv", ["kintsugi", *argv.format(**fill).split()])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    _check(exited.value.code, captured.out, captured.err, message)
    left = {p.name for p in mounts["full"].iterdir()} - before
    assert not any(n.endswith((".tmp", ".partial")) for n in left), left
