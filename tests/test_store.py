import itertools
import sqlite3

import pytest

from agents.store import Store, StoreError
from agents.types import Source, Step, Trajectory


def _step(i: int, reward: float = 0.0, terminated: bool = False) -> Step:
    return Step(
        index=i,
        model_output=f"out {i}",
        action=f"act {i}",
        observation=f"obs {i}",
        reward=reward,
        terminated=terminated,
        truncated=False,
        feedback="failed" if not reward else None,
        logprob_sum=-3.0,
        logprob_mean=-0.5,
        num_tokens=6,
        info={"attempt": i + 1},
    )


def _traj(run_id: str, tid: str = "t1", **kw) -> Trajectory:
    return Trajectory(
        id=tid, run_id=run_id, task_id="easy/000", env="code", system_prompt="sys", initial_observation="task", **kw
    )


def test_steps_round_trip_in_order_and_trajectory_outcome(tmp_path):
    with Store(tmp_path / "k.db") as store:
        run = store.create_run({"samples": 1}, model="m")
        store.start_trajectory(_traj(run))
        store.add_step("t1", _step(0))
        store.add_step("t1", _step(1, reward=1.0, terminated=True))
        done = store.finish_trajectory("t1")
        assert done.status == "done" and done.success and done.reward == 1.0
        back = store.get_trajectory("t1")
        assert [s.index for s in back.steps] == [0, 1]
        assert back.steps[0] == _step(0)
        assert store.trajectories(run, success=True)[0].id == "t1"
        assert store.count_steps(run) == 2


def test_duplicate_or_out_of_order_steps_are_refused(tmp_path):
    with Store(tmp_path / "k.db") as store:
        run = store.create_run({})
        store.start_trajectory(_traj(run))
        store.add_step("t1", _step(0))
        with pytest.raises(StoreError, match="got step index 0"):
            store.add_step("t1", _step(0))
        with pytest.raises(StoreError, match="got step index 2"):
            store.add_step("t1", _step(2))
        store.finish_trajectory("t1")
        with pytest.raises(StoreError, match="takes no more steps"):
            store.add_step("t1", _step(1))
        assert store.count_steps() == 1


def test_every_step_is_visible_to_another_connection_at_once(tmp_path):
    path = tmp_path / "k.db"
    store = Store(path)
    run = store.create_run({})
    store.start_trajectory(_traj(run))
    store.add_step("t1", _step(0))
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 1
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    store.close()


def test_provenance_and_filters(tmp_path):
    with Store(tmp_path / "k.db") as store:
        run = store.create_run({}, kind="run")
        store.start_trajectory(_traj(run, "parent"))
        store.finish_trajectory("parent")
        child = _traj(
            run,
            "child",
            source=Source.REFLECTED,
            parent_id="parent",
            meta={"reflection": "I should"},
            steps=(_step(0, 1.0, True),),
        )
        store.start_trajectory(child)
        store.finish_trajectory("child")
        got = store.trajectories(run, source="reflected")
        assert [t.id for t in got] == ["child"]
        assert got[0].parent_id == "parent" and got[0].meta["reflection"] == "I should"
        assert store.latest_run()["id"] == run
        assert store.latest_run(unfinished=True)["id"] == run
        store.finish_run(run, {"success_rate": 0.5})
        assert store.latest_run(unfinished=True) is None
        assert store.get_run(run)["metrics"] == {"success_rate": 0.5}
        with pytest.raises(StoreError, match="no run"):
            store.get_run("nope")


def test_conversation_export_shape():
    traj = _traj("r", steps=(_step(0), _step(1, 1.0, True)))
    msgs = traj.to_messages()
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[3]["content"] == "obs 0"
    assert traj.to_messages(open_ended=True)[-1] == {"role": "user", "content": "obs 1"}


def test_two_processes_writing_one_store_at_once_lose_nothing(tmp_path):
    """Two writers (say a run and a viewer's neighbour job) interleave their commits: SQLite's WAL plus the store's
    busy timeout serialise them; every trajectory and step of both arrives once."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "k.db"
    Store(path).close()
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).resolve().parents[1])!r})
        from agents.store import Store
        from agents.types import Step, Trajectory
        import pathlib, time
        name = sys.argv[1]
        pathlib.Path({str(tmp_path)!r}, "ready-" + name).touch()
        while len(list(pathlib.Path({str(tmp_path)!r}).glob("ready-*"))) < 2:  # start together
            time.sleep(0.01)
        with Store({str(path)!r}) as store:
            run = store.create_run({{"writer": name}})
            for t in range(150):
                tid = f"{{name}}-{{t}}"
                store.start_trajectory(Trajectory(id=tid, run_id=run, task_id=f"task/{{t}}", env="code",
                                                  system_prompt="s", initial_observation="o"))
                for i in range(5):
                    store.add_step(tid, Step(i, "m", "a", "o", 0.0, False, False))
                store.finish_trajectory(tid)
            store.finish_run(run, {{}})
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE) for name in "ab"]
    errors = [w.communicate(timeout=300)[1].decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    with Store(path) as store:
        runs = store.runs()
        assert len(runs) == 2 and all(r["status"] == "done" for r in runs)
        for r in runs:
            trajectories = store.trajectories(r["id"], status="done")
            assert len(trajectories) == 150 and all(len(t.steps) == 5 for t in trajectories)
            assert [s.index for s in trajectories[0].steps] == [0, 1, 2, 3, 4]
        order = [row[0][0] for row in store.db.execute("SELECT id FROM trajectories ORDER BY rowid")]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches > 2, "the writers did not overlap, so this run tested nothing concurrent"
