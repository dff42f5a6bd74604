"""The browser viewer, driven in a real headless Chromium (Debian's `chromium` + `chromium-driver`, Selenium) over a
store made by real work: the embedded model playing household games (token log-probabilities kept), the expert on
the same games, a verified revision splice from a search tree, and a LoRA adapter trained for a few steps. The
learning page reads the learning study measured on the full warm start (tests/data/learning-ws100.json).

Screenshots of each page kind go to `test-artifacts/viewer/` (override with KINTSUGI_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agents.runner import RunConfig, run_agent
from agents.store import Store
from agents.types import Source, Step
from agents.viewer.site import Viewer, export_site
from environments.base import get_entry
from environments.household import HouseholdEnv, expert_plan
from reflection.mcts import MCTSConfig, Tree
from reflection.revision import Reviser, RevisionConfig
from reflection.tree_store import TreeStore
from training.warm_start import expert_trajectory

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - `make test` installs it
    webdriver = None
if webdriver is None or not CHROMIUM or not DRIVER:  # pragma: no cover - `make test` installs them
    pytest.skip("needs chromium, chromium-driver and selenium (`make setup-browser`)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("KINTSUGI_ARTIFACTS", ROOT / "test-artifacts")) / "viewer"
ENTRY = get_entry("household")
GAMES = ENTRY.load_tasks("alfworld-like", "valid_unseen", 2)


class NoLLM:
    """The splice below is judged without a model (judge `none`, fallback thought): it must not call one."""

    model_id = "none"
    adapter = None

    def generate(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("no model call expected")

    score = generate_batch = generate


def _grow(tree: Tree, task: Any, actions: list[str]) -> int:
    env = HouseholdEnv(task)
    env.reset()
    node = tree.root
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        found = next((tree.nodes[c] for c in node.children if tree.nodes[c].action == action), None)
        node = found or tree.add_child(
            node, action=action, model_output=action, observation=obs, reward=reward, terminated=terminated,
            truncated=truncated, origin="model",
        )  # fmt: skip
    return node.id


def _revision(store: Store) -> tuple[str, str]:
    """A search tree with a solved and a failed path on a training game, revised into a verified trajectory."""
    task = ENTRY.load_tasks("alfworld-like", "train", 1)[0]
    good = expert_plan(HouseholdEnv(task))
    bad = [*good[:3], "go to sofa 1", "look"]
    env = HouseholdEnv(task)
    obs, _ = env.reset()
    tree = Tree(id="tree-viewer", task_id=task.task_id, env="household", system_prompt="You are an agent.",
                initial_observation=obs, config={"max_depth": len(good)})  # fmt: skip
    _grow(tree, task, good)
    _grow(tree, task, bad)
    run_id = store.create_run({"env": "household", "what": "viewer test splice"}, kind="agent-r")
    TreeStore(store).save_tree(tree, run_id)
    reviser = Reviser(NoLLM(), ENTRY, lambda: HouseholdEnv(task), RevisionConfig(judge="none", thought="fallback",
                      resolve="none"), MCTSConfig())  # type: ignore[arg-type]  # fmt: skip
    outcomes = reviser.revise(tree, store=store, run_id=run_id)
    verified = [o for o in outcomes if o.row.status == "verified" and o.revised is not None]
    assert verified, [o.row.reason for o in outcomes]
    store.finish_run(run_id, {"verified": len(verified)})
    return tree.id, store.trajectories(run_id, source=Source.REVISED)[0].id


@pytest.fixture(scope="module")
def site(llm, tmp_path_factory) -> dict[str, Any]:
    from training.lora import train_command

    out = tmp_path_factory.mktemp("viewer")
    db = out / "kintsugi.db"
    with Store(db) as store:
        config = RunConfig(env="household", split="valid_unseen", limit=2, max_steps=3)
        model_run = run_agent(llm, store, config).run_id
        expert_run = store.create_run({"env": "household", "split": "valid_unseen"}, model="expert:household",
                                      kind="expert")  # fmt: skip
        for task in GAMES:
            expert_trajectory(store, ENTRY, task, RunConfig(env="household", split="valid_unseen"), expert_run, {})
        store.finish_run(expert_run, {"trajectories": 2})
        tree_id, revised_id = _revision(store)
    data = out / "sft.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": f"Say hello number {i}."},
                                     {"role": "assistant", "content": f"Hello {i}!"}]}) + "\n"
            for i in range(4)
        )
    )  # fmt: skip
    train = train_command("sft", data, out=out / "adapter", lr=1e-3, rank=4, alpha=8, target_modules="q_proj,v_proj",
                          batch_size=2, max_steps=6, registry=out)  # fmt: skip
    shutil.copy(ROOT / "tests/data/learning-ws100.json", out / "learning.json")
    from training.ttsi import record_report, ttsi_command

    # what `kintsugi tt-si --out OUT` does, on the loaded model; tau = 1: every input whose candidates differ is
    # uncertain, so the one task here is adapted to
    report = ttsi_command(env="code", suite="easy", split="test", limit=1, tau=1.0, k=1, epochs=1, llm=llm)
    ttsi, _ = record_report(report, out)
    assert json.loads(ttsi.read_text())["per_input"][0]["uncertain"], ttsi.read_text()[:2000]
    return {"out": out, "db": db, "model_run": model_run, "expert_run": expert_run, "tree": tree_id,
            "revised": revised_id, "adapter": train.adapter_id, "ttsi": ttsi}  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def viewer(site):
    with Viewer(site["db"], port=0) as v:
        yield v


def shot(browser: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # the page is reloading under us
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the page")


def test_index_lists_every_run_with_its_success(site, viewer, browser):
    browser.get(viewer.url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
    by_run = {r.get_attribute("data-run"): r.text for r in rows}
    with Store(site["db"]) as store:
        assert set(by_run) == {r["id"] for r in store.runs()}
    assert "0/2 = 0.000" in by_run[site["model_run"]]  # 3 steps cannot solve a game
    assert "2/2 = 1.000" in by_run[site["expert_run"]]
    (ttsi_run,) = [r for r in rows if r.get_attribute("data-kind") == "tt-si"]
    assert "done" in ttsi_run.text
    shot(browser, "runs")


def test_run_page_shows_its_numbers_and_tasks_and_filters_by_outcome(site, viewer, browser):
    browser.get(f"{viewer.url}run-{site['model_run']}.html")
    assert "finished: 0/2 = 0.000" in browser.find_element(By.ID, "run-success").text
    tasks = [r.get_attribute("data-task") for r in browser.find_elements(By.CSS_SELECTOR, "#tasks tr[data-task]")]
    assert tasks == sorted(t.task_id for t in GAMES)
    assert browser.find_element(By.ID, "shown").text == "2"
    browser.find_element(By.CSS_SELECTOR, "#filters input[name=success][value='0']").click()  # hide the failures
    assert browser.find_element(By.ID, "shown").text == "0"
    assert not any(r.is_displayed() for r in browser.find_elements(By.CSS_SELECTOR, "#tasks tr[data-task]"))
    browser.get(f"{viewer.url}run-{site['model_run']}.html")
    shot(browser, "run")


def test_trajectory_page_shows_the_steps_in_order_with_token_shading(site, viewer, browser):
    with Store(site["db"]) as store:
        traj = store.trajectories(site["model_run"])[0]
    browser.get(f"{viewer.url}run-{site['model_run']}.html")
    browser.find_elements(By.CSS_SELECTOR, "#tasks a.traj")[0].click()
    assert browser.current_url.endswith(f"traj-{traj.id}.html")
    steps = browser.find_elements(By.CSS_SELECTOR, "#steps li.step")
    assert [s.get_attribute("data-index") for s in steps] == [str(i) for i in range(len(traj.steps))] == ["0", "1", "2"]
    for element, step in zip(steps, traj.steps, strict=True):
        assert element.find_element(By.CSS_SELECTOR, "code.action").text == step.action
        tokens = element.find_elements(By.CSS_SELECTOR, "pre.reply span.tok")
        assert len(tokens) == len(step.info["token_logprobs"]) == step.num_tokens
        assert tokens[0].get_attribute("title").startswith("logprob ")
        shown = "".join(t.get_attribute("textContent") for t in tokens)  # every generated token, end token included
        assert shown.strip().startswith(step.model_output.strip())
    shot(browser, "trajectory")


def test_lineage_links_lead_from_the_revision_to_its_parent_and_tree_and_back(site, viewer, browser):
    with Store(site["db"]) as store:
        revised = store.get_trajectory(site["revised"])
    browser.get(f"{viewer.url}traj-{revised.id}.html")
    parts = [s.get_attribute("class") for s in browser.find_elements(By.CSS_SELECTOR, "#steps li")]
    cut = parts.index("cut")
    assert all("part-prefix" in p for p in parts[:cut]) and "part-thought" in parts[cut + 1]
    assert browser.find_element(By.CSS_SELECTOR, "tr[data-key='this is'] td").text == "the revised trajectory"
    shot(browser, "lineage")
    browser.find_element(By.CSS_SELECTOR, "#parent a").click()
    assert browser.current_url.endswith(f"traj-{revised.parent_id}.html")
    back = browser.find_elements(By.CSS_SELECTOR, "#children a")
    assert [a.get_attribute("href").rsplit("/", 1)[1] for a in back] == [f"traj-{revised.id}.html"]
    browser.find_element(By.CSS_SELECTOR, f"a[href='tree-{site['tree']}.html']").click()
    assert browser.current_url.endswith(f"tree-{site['tree']}.html")
    assert site["tree"] in browser.title
    splices = browser.find_elements(By.CSS_SELECTOR, "#splices a")
    assert f"traj-{revised.id}.html" in [a.get_attribute("href").rsplit("/", 1)[1] for a in splices]
    shot(browser, "tree")


def test_compare_page_pairs_two_runs_on_their_shared_tasks(site, viewer, browser):
    browser.get(viewer.url)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.NAME, "a")).select_by_value(site["expert_run"])
    Select(browser.find_element(By.NAME, "b")).select_by_value(site["model_run"])
    browser.find_element(By.CSS_SELECTOR, "#compare button").click()
    summary = wait_for(lambda: browser.find_element(By.ID, "compare-summary").text)
    assert "only A / only B 2 / 0" in summary and "shared tasks 2" in summary
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-task tr")[1:]
    assert sorted(r.find_elements(By.TAG_NAME, "td")[0].text for r in rows) == sorted(t.task_id for t in GAMES)
    shot(browser, "compare")


def test_adapter_page_draws_the_loss_curve_it_trained_with(site, viewer, browser):
    with Store(site["db"]) as store:
        curve = json.loads(
            store.db.execute("SELECT metrics FROM adapters WHERE id = ?", (site["adapter"],)).fetchone()[0]
        )["loss_curve"]
    assert len(curve) == 6 and [s for s, _ in curve] == [1, 2, 3, 4, 5, 6]
    browser.get(f"{viewer.url}adapters.html")
    section = browser.find_element(By.ID, site["adapter"])
    points = section.find_elements(By.CSS_SELECTOR, "svg.plot circle")
    assert len(points) == len(curve)
    ys = [float(p.get_attribute("cy")) for p in points]  # SVG y grows downwards: a falling loss has rising cy
    assert (ys[-1] > ys[0]) == (curve[-1][1] < curve[0][1])
    shot(browser, "adapters")


def test_learning_page_plots_success_by_iteration_with_intervals(site, viewer, browser):
    browser.get(f"{viewer.url}learning.html")
    tips = [t.get_attribute("textContent") for t in browser.find_elements(By.CSS_SELECTOR, "svg.plot circle title")]
    assert "warm base: 0.000 (0-0.0279)" in tips and "warm warm_start: 0.582 (0.497-0.662)" in tips
    assert "rest iteration 2: 0.679 (0.596-0.752)" in tips
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#part-rest tr:nth-child(4) td")]
    assert cells[0] == "2" and cells[5] == "+0.097" and cells[7] == "0.0146"
    shot(browser, "learning")


def test_ttsi_page_shows_each_uncertain_input_with_its_examples_and_both_answers(site, viewer, browser):
    report = json.loads(site["ttsi"].read_text())
    row = report["per_input"][0]
    browser.get(viewer.url)
    browser.find_element(By.LINK_TEXT, "tt-si").click()
    block = browser.find_element(By.CSS_SELECTOR, f".ttsi-input[data-task='{row['task_id']}']")
    assert block.find_element(By.CSS_SELECTOR, "pre.before").get_attribute("textContent") == row["base_answer"]
    assert block.find_element(By.CSS_SELECTOR, "pre.after").get_attribute("textContent") == row["variant_answer"]
    shown = [e.get_attribute("textContent") for e in block.find_elements(By.CSS_SELECTOR, "details li pre")]
    assert shown == row["example_texts"] and len(shown) == row["examples"]
    heading = block.find_element(By.TAG_NAME, "h3").text
    assert ("base solved" if row["base_passed"] else "base failed") in heading
    assert (f"tt-si {'solved' if row['variant_passed'] else 'failed'}") in heading
    shot(browser, "ttsi")


def test_a_running_trajectory_page_follows_the_steps_as_they_are_committed(site, viewer, browser):
    from agents.runner import start_trajectory
    from environments.household import HouseholdEnv as Env

    with Store(site["db"]) as store:
        run_id = store.create_run({"env": "household", "what": "live"}, kind="run")
        env = Env(GAMES[0])
        traj = start_trajectory(store, env, ENTRY, GAMES[0], run_id, None, seed=0)
        browser.get(f"{viewer.url}traj-{traj.id}.html")
        assert browser.find_element(By.ID, "live").is_displayed()
        assert not browser.find_elements(By.CSS_SELECTOR, "#steps li.step")
        for index, action in enumerate(["look", "inventory"]):
            obs, reward, terminated, truncated, _ = env.step(action)
            store.add_step(traj.id, Step(index=index, model_output=action, action=action, observation=obs,
                                         reward=float(reward), terminated=terminated, truncated=truncated))  # fmt: skip
            wait_for(lambda n=index + 1: len(browser.find_elements(By.CSS_SELECTOR, "#steps li.step")) == n)
        store.finish_trajectory(traj.id)
        store.finish_run(run_id, {})
    wait_for(lambda: not browser.find_elements(By.ID, "live"))
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#steps code.action")] == ["look", "inventory"]


def test_unknown_ids_get_an_error_page_not_a_traceback(site, viewer, browser):
    import urllib.error
    import urllib.request

    for name, message in (
        ("run-nope.html", "no run 'nope'"),
        ("traj-nope.html", "no trajectory 'nope'"),
        ("tree-nope.html", "no search tree 'nope'"),
        ("whatever", "no page 'whatever'"),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(viewer.url + name)
        assert err.value.code == 404
        browser.get(viewer.url + name)
        assert message in browser.find_element(By.ID, "error").text
        assert "Traceback" not in browser.page_source
    shot(browser, "not-found")


def test_static_export_opens_from_disk_and_links_work(site, browser, tmp_path):
    dest = tmp_path / "site"
    count = export_site(site["db"], dest)
    assert count == len(list(dest.glob("*.html"))) and not (tmp_path / "site.partial").exists()
    browser.get((dest / "index.html").as_uri())
    browser.find_element(By.CSS_SELECTOR, f"a[href='run-{site['expert_run']}.html']").click()
    assert "finished: 2/2 = 1.000" in browser.find_element(By.ID, "run-success").text
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    from agents.viewer.site import ViewerError

    with pytest.raises(ViewerError, match="not empty and not an earlier export"):
        export_site(site["db"], tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    export_site(site["db"], dest)  # an earlier export is replaced
