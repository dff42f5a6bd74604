"""The tools environment: solvable by its expert, strict about calls without ever raising, deterministic."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from environments.base import TaskSpec, get_entry
from environments.tools import (
    SPLIT_SIZES,
    TEMPLATE_TASKS,
    ToolCall,
    ToolsEnv,
    close_tool_call,
    expert_action,
    expert_replies,
    first_observation,
    generate,
    load_tasks,
    make_env,
    parse_reply,
    render_call,
)
from environments.tools.arith import evaluate
from environments.tools.judge import contains
from environments.tools.schema import ToolError

UNSEEN_TEMPLATES = {"fact_to_file", "price_message", "file_message"}


def _all_tasks() -> list[TaskSpec]:
    return load_tasks(split="train") + load_tasks(split="test")


def _task(template: str, split: str = "train", where=lambda t: True) -> TaskSpec:
    return next(t for t in load_tasks(split=split) if t.data["template"] == template and where(t))


def _call(tool: str, /, **arguments) -> str:
    return render_call(ToolCall(tool, arguments))


def _play(env: ToolsEnv, replies: list[str]) -> tuple[str, float, bool, bool, dict]:
    env.reset()
    out = None
    for reply in replies:
        out = env.step(reply)
    assert out is not None
    return out


def test_the_expert_wins_every_train_and_test_task_and_so_does_the_oracle_step_by_step() -> None:
    for task in _all_tasks():
        env = make_env(task)
        _, reward, terminated, truncated, info = _play(env, expert_replies(env))
        assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True), (task.task_id, info)
        env.reset()
        replies = []
        while (reply := expert_action(env)) is not None:
            replies.append(reply)
            *_, info = env.step(reply)
        assert info["won"] and replies == expert_replies(env), task.task_id


def test_split_sizes_template_counts_and_unknown_names() -> None:
    assert SPLIT_SIZES == {"train": 300, "test": 100}
    for column, split in enumerate(("train", "test")):
        counts = Counter(t.data["template"] for t in load_tasks(split=split))
        assert counts == {k: v[column] for k, v in TEMPLATE_TASKS.items() if v[column]}
    assert load_tasks() == load_tasks("apis", "train")
    assert len(load_tasks(split="test", limit=7)) == 7
    assert [t.task_id for t in load_tasks(limit=2)] == ["tools/train/0000", "tools/train/0001"]
    with pytest.raises(ValueError, match="known splits: train, test"):
        load_tasks(split="valid")
    with pytest.raises(ValueError, match="known suites: apis"):
        load_tasks("tau")
    with pytest.raises(ValueError, match="limit"):
        load_tasks(limit=-1)


def test_tasks_are_fixed_by_seed() -> None:
    before = _all_tasks()
    generate._split_tasks.cache_clear()
    generate.schedule.cache_clear()
    again = _all_tasks()
    assert again == before and again[5] is not before[5]
    task = before[17]
    a, b = ToolsEnv(task), ToolsEnv(task)
    assert a.reset()[0] == b.reset(seed=123)[0] == first_observation(task)
    assert expert_replies(a) == expert_replies(b)


def test_splits_are_disjoint_and_test_has_tool_combinations_train_never_has() -> None:
    train, test = load_tasks(split="train"), load_tasks(split="test")
    assert not {t.task_id for t in train} & {t.task_id for t in test}
    assert not {t.instruction for t in train} & {t.instruction for t in test}
    assert len({t.instruction for t in train}) == len(train)
    train_templates = {t.data["template"] for t in train}
    assert {t.data["template"] for t in test} - train_templates == UNSEEN_TEMPLATES
    train_combos = {tuple(c["name"] for c in t.data["calls"]) for t in train}
    for task in test:
        if task.data["template"] in UNSEEN_TEMPLATES:
            assert tuple(c["name"] for c in task.data["calls"]) not in train_combos


def test_each_task_offers_its_needed_tools_and_two_to_four_others() -> None:
    for task in _all_tasks():
        offered, needed = task.data["tools"], task.data["needed"]
        assert {c["name"] for c in task.data["calls"]} <= set(needed) <= set(offered)
        assert len(set(offered)) == len(offered) and max(2, 3 - len(needed)) <= len(offered) - len(needed) <= 4


def test_the_first_observation_is_the_task_then_one_function_spec_per_line() -> None:
    task = _task("delete_event")
    obs, info = ToolsEnv(task).reset()
    lines = obs.splitlines()
    assert lines[0] == f"Task: {task.instruction}" and lines[1] == "Tools:"
    specs = [json.loads(line) for line in lines[2:]]
    assert [s["function"]["name"] for s in specs] == task.data["tools"]
    assert all(s["type"] == "function" and s["function"]["parameters"]["type"] == "object" for s in specs)
    assert info == {"won": False, "steps": 0, "tool_call": None, "calls": 0}


def _bad_call_cases() -> list[tuple[str, str, str]]:
    stocked = _task("order")
    item = stocked.data["calls"][1]["arguments"]["item_id"]
    return [
        ("add_event", _call("calender_add", date="2025-03-04"), "error: unknown tool 'calender_add'; tools: "),
        (
            "add_event",
            '<tool_call>\n{"name": "calendar_add", "arguments": {"date": }\n</tool_call>',
            "error: the tool call is not valid JSON",
        ),
        ("add_event", '<tool_call>\n{"arguments": {}}\n</tool_call>', 'has no "name"'),
        (
            "add_event",
            '<tool_call>\n{"name": "calendar_add", "arguments": [1]}\n</tool_call>',
            '"arguments" must be a JSON object',
        ),
        ("add_event", _call("calendar_add", date="2025-03-04", time="10:00"), "missing argument 'title'"),
        (
            "add_event",
            _call("calendar_add", date="2025-03-04", time="10:00", title="x", when="now"),
            "unknown argument 'when'",
        ),
        (
            "add_event",
            _call("calendar_add", date="3 March", time="10:00", title="x"),
            "error: calendar_add: argument 'date' must be a date YYYY-MM-DD, got '3 March'",
        ),
        ("add_event", _call("calendar_add", date="2025-02-30", time="10:00", title="x"), "must be a date"),
        ("add_event", _call("calendar_add", date="2025-03-04", time="2pm", title="x"), "must be a time HH:MM"),
        ("order", _call("shop_order", item_id=item, quantity="2"), "argument 'quantity' must be an integer, got '2'"),
        ("order", _call("shop_order", item_id=item, quantity=0), "must be at least 1"),
        ("order", _call("shop_order", item_id=item, quantity=999), "in stock, cannot order 999"),
        ("order", _call("shop_order", item_id="p999", quantity=1), "no item 'p999'"),
        ("cancel_order", _call("order_cancel", order_id="ord99"), "no order 'ord99'"),
        ("message", _call("messages_send", to="Ann Lee", body="hi"), "must be an email address"),
        ("calculate", _call("calculate", expression="__import__('os')"), "only numbers, + - * / // % ** and"),
        ("calculate", _call("calculate", expression="1 / 0"), "division by zero"),
        ("convert", _call("convert_units", value=3, from_unit="km", to_unit="kg"), "cannot convert km (length)"),
        ("convert", _call("convert_units", value=True, from_unit="km", to_unit="mi"), "must be a number"),
    ]


@pytest.mark.parametrize(("template", "reply", "error"), _bad_call_cases())
def test_a_bad_call_is_answered_with_an_error_and_the_episode_goes_on(template: str, reply: str, error: str) -> None:
    env = ToolsEnv(_task(template))
    env.reset()
    before = env.world.state()
    obs, reward, terminated, truncated, info = env.step(reply)
    assert obs.startswith("error: ") and error in obs
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["calls"] == 0 and info["feedback"] and env.world.state() == before
    _, reward, terminated, *_ = _play(env, expert_replies(env))
    assert (reward, terminated) == (1.0, True)


def test_garbage_replies_never_raise() -> None:
    env = ToolsEnv(_task("message"))
    env.reset()
    nasty = ["", "<tool_call>", "<tool_call></tool_call>", "<tool_call>null</tool_call>", "<tool_call>[]",
             '<tool_call>{"name": 5}', '<tool_call>{"name": "files_read", "arguments": {"path": {"a": 1}}}',
             "<tool_call>```json\n{\"name\": \"x\"}\n```</tool_call>", "<tool_call>" + "[" * 5000, None]  # fmt: skip
    for reply in nasty[:-1]:
        obs, _, terminated, _, _ = env.step(reply)
        assert obs.startswith("error: ") or (reply == "" and terminated)
        env.reset()
    assert env.step(nasty[-1])[2] is True  # not a string: an empty final answer


def test_a_valid_call_returns_json_and_counts_only_the_first_call_of_a_reply() -> None:
    task = _task("message")
    name = task.data["calls"][0]["arguments"]["name"]
    env = ToolsEnv(task)
    env.reset()
    search = _call("contacts_search", name=name)
    obs, reward, terminated, _, info = env.step("I look the contact up first.\n" + search + "\n" + search)
    assert json.loads(obs)[0]["name"] == name and (reward, terminated) == (0.0, False)
    assert info["calls"] == 1 and info["tool_call"] == {"name": "contacts_search", "arguments": {"name": name}}
    assert "feedback" not in info


def test_a_wrong_final_answer_scores_zero_and_says_what_differed() -> None:
    fact = _task("fact")
    value = fact.data["answer_checks"][0][0]
    env = ToolsEnv(fact)
    _, reward, terminated, _, info = _play(env, [*expert_replies(env)[:-1], "I do not know."])
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert info["feedback"] == f"the answer does not contain '{value}'"
    _, reward, *_ = _play(env, [*expert_replies(env)[:-1], f"It is {value.upper()}!"])
    assert reward == 1.0

    message = _task("message")
    to = message.data["calls"][1]["arguments"]["to"]
    env = ToolsEnv(message)
    *_, info = _play(env, ["Done."])
    assert info["feedback"] == f"no message was sent to {to}"
    *_, info = _play(env, [_call("messages_send", to=to, body="something else"), "Sent."])
    assert info["feedback"].startswith(f"the message to {to} does not contain")
    body = message.data["calls"][1]["arguments"]["body"]
    _, reward, *_ = _play(env, [_call("messages_send", to=to.upper(), body=f"Hi! {body.capitalize()}."), "Sent."])
    assert reward == 1.0


def test_deleting_the_wrong_event_is_named_in_the_feedback() -> None:
    task = _task("delete_event")
    target = task.data["calls"][1]["arguments"]["event_id"]
    other = next(e for e in ToolsEnv(task).world.events if e != target)
    env = ToolsEnv(task)
    *_, info = _play(env, [_call("calendar_delete", event_id=other), "Done."])
    assert f"event {target} (" in info["feedback"] and "was expected to be deleted" in info["feedback"]
    assert f"event {other} (" in info["feedback"] and "should stay" in info["feedback"]


def test_an_ask_task_wins_by_asking_for_the_date_and_loses_after_acting() -> None:
    task = _task("ask_date")
    title = task.instruction.split("'")[1]
    env = ToolsEnv(task)
    _, reward, terminated, *_ = _play(env, ["On which date should I add it?"])
    assert (reward, terminated) == (1.0, True)
    _, reward, *_ = _play(env, ["When is it?"])
    assert reward == 1.0
    _, reward, _, _, info = _play(env, ["I added it."])
    assert reward == 0.0 and "date" in info["feedback"]
    add = _call("calendar_add", date="2025-03-10", time="10:00", title=title)
    _, reward, _, _, info = _play(env, [add, "Which date did you want?"])
    assert reward == 0.0
    assert info["feedback"] == "a tool changed the world though the task needed asking for the date"


def test_a_refuse_task_wins_by_saying_it_cannot() -> None:
    env = ToolsEnv(_task("refuse"))
    _, reward, terminated, *_ = _play(env, ["I cannot book flights, sorry."])
    assert (reward, terminated) == (1.0, True)
    _, reward, _, _, info = _play(env, ["Sure, done!"])
    assert reward == 0.0 and "can't" in info["feedback"]


def test_snapshot_and_restore_round_trip() -> None:
    task = _task("cancel_order")
    env = ToolsEnv(task)
    env.reset()
    replies = expert_replies(env)
    env.step(replies[0])
    snap = env.snapshot()
    state, steps = env.world.state(), env.steps
    env.step(replies[1])
    assert env.world.state() != state
    env.restore(snap)
    assert env.world.state() == state and env.steps == steps and len(env.history) == 1
    assert expert_action(env) == replies[1]
    env.step(replies[1])
    env.restore(snap)  # restoring twice gives the same state: the snapshot was not mutated
    assert env.world.state() == state
    with pytest.raises(ValueError, match="snapshot is of task"):
        ToolsEnv(_task("order")).restore(snap)


def test_the_oracle_takes_the_agents_equivalent_calls_into_account() -> None:
    task = _task("message")
    search, send = expert_replies(ToolsEnv(task))[:2]
    args = task.data["calls"][1]["arguments"]
    env = ToolsEnv(task)
    env.reset()
    env.step(_call("messages_send", to=args["to"], body="wrong text"))
    env.step(search)
    assert expert_action(env) == send  # a send without the task's text does not count
    env.reset()
    env.step(_call("messages_send", to=args["to"], body=f"Note: {args['body']}!"))
    assert expert_action(env) == search  # this send does what the plan's send does; the lookup is still to come
    env.step(search)
    assert expert_action(env) == task.data["answer"]
    env.step(task.data["answer"])
    assert env.won and expert_action(env) is None


def test_max_steps_truncates_and_steps_after_the_end_do_nothing() -> None:
    task = _task("message")
    env = make_env(task, max_steps=3, sandbox=None)
    env.reset()
    search = _call("contacts_search", name="a")
    assert env.step(search)[3] is False and env.step(search)[3] is False
    _, reward, terminated, truncated, info = env.step(search)
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert "step limit (3)" in info["feedback"]
    env.reset()
    env.step("Done.")
    obs, reward, terminated, _, _ = env.step(expert_replies(env)[0])
    assert (obs, reward, terminated) == ("The task is finished.", 0.0, True)
    with pytest.raises(ValueError, match="max_steps"):
        make_env(task, max_steps=0)


def test_calculate_does_arithmetic_only() -> None:
    assert evaluate("3 * 4.5") == 13.5 and evaluate("(2 + 3) * 4") == 20 and evaluate("0.1 + 0.2") == 0.3
    assert evaluate("7 / 2") == 3.5 and evaluate("6 / 3") == 2 and evaluate("-2 ** 2") == -4
    for bad in ("__import__('os')", "x + 1", "2 ** 1000", "9 ** 9 ** 9", "(-8) ** 0.5", "1e308 * 10", "[1] * 3",
                "1 if 1 else 2", "3 x 4", "1" * 300, "True + 1"):  # fmt: skip
        with pytest.raises(ToolError):
            evaluate(bad)


def test_phrases_and_numbers_are_matched_sensibly() -> None:
    assert contains("The total is 12.5", "12.50") and contains("It costs $74.97.", "74.97")
    assert contains("12 km is 7.4565 mi", "7.46") and contains("about 68,000,000 people", "68000000")
    assert not contains("It is 7.5", "7.46") and not contains("391.4", "391") and contains("-4 degrees", "-4")
    assert contains("The symbol is Fe.", "Fe") and not contains("I feel fine", "Fe")
    assert contains("I CAN\u2019T do that", "can't") and contains("Capital: paris", "Paris")


def test_replies_parse_and_a_cut_closing_tag_is_restored() -> None:
    call = parse_reply('think\n<tool_call>\n{"name": "files_list"}')
    assert call == ToolCall("files_list", {})
    assert parse_reply("  The answer is 4.  ").text == "The answer is 4."  # type: ignore[union-attr]
    entry = get_entry("tools")
    cut = '<tool_call>\n{"name": "files_list", "arguments": {}}\n'
    assert entry.complete_reply(cut) == cut.rstrip() + "\n</tool_call>" == close_tool_call(cut)
    assert entry.complete_reply(cut + "</tool_call>") == cut + "</tool_call>"
    assert entry.complete_reply("Paris.") == "Paris."
    assert parse_reply(entry.complete_reply(cut)) == ToolCall("files_list", {})


def test_registry_entry_prompts_and_few_shot() -> None:
    entry = get_entry("tools")
    assert entry.stop == ("</tool_call>",) and entry.parse_action("  x ") == "  x " and entry.max_tokens == 128
    assert entry.suites == ("apis",) and entry.splits == ("train", "test") and entry.eval_split == "test"
    assert (
        entry.expert is expert_replies
        and entry.oracle is expert_action
        and entry.prompt_names() == ("default", "compact")
    )
    assert entry.default_suite == "apis" and entry.max_steps == 10
    assert "<tool_call>" in entry.system_prompt and len(entry.system_prompt) < 700
    assert entry.prompt("compact").few_shot == () and "<tool_call>" in entry.prompt("compact").system
    turns = entry.few_shot
    assert [t["role"] for t in turns[:2]] == ["user", "assistant"] and turns[-1]["role"] == "assistant"
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(turns))
    assert sum("<tool_call>" in t["content"] for t in turns if t["role"] == "assistant") == 2
    assert sum(t["content"].startswith("Task: ") or "\n\nTask: " in t["content"] for t in turns) == 2
