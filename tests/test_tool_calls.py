"""Native tool calls: the text form and its inverse, the agent graph's tool node, the store and the TRL export."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from agents.export import trajectory_record
from agents.runner import RunConfig, run_agent
from agents.store import Store
from agents.tool_calls import (
    call_text,
    native_messages,
    parse_tool_calls,
    plain_messages,
    reply_text,
    supports_tools,
    tools_block,
)
from agents.types import Completion
from environments.base import get_entry

TOOLS = get_entry("tools")


def _expert_conversation(task: Any) -> list[dict[str, str]]:
    """The text-form conversation of the expert playing `task` (system, task with its tools, replies, results)."""
    env = TOOLS.make(task)
    obs, _ = env.reset()
    messages = [{"role": "system", "content": TOOLS.system_prompt}, {"role": "user", "content": obs}]
    for reply in TOOLS.expert(env):
        obs, *_ = env.step(reply)
        messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": obs}]
    return messages[:-1]


def test_a_call_round_trips_through_the_text_form():
    call = {"id": "x", "type": "function", "function": {"name": "calculate", "arguments": '{"expression": "2 * 3"}'}}
    text = reply_text("Let me compute it.", [call])
    assert (
        text
        == 'Let me compute it.\n<tool_call>\n{"name": "calculate", "arguments": {"expression": "2 * 3"}}\n</tool_call>'
    )
    content, calls = parse_tool_calls(text)
    assert content == "Let me compute it." and len(calls) == 1
    assert calls[0]["function"] == {"name": "calculate", "arguments": '{"expression": "2 * 3"}'}
    assert parse_tool_calls(call_text(call).removesuffix("</tool_call>"))[1][0]["function"]["name"] == "calculate"
    assert parse_tool_calls('<tool_call>\n```json\n{"name": "f"}\n```\n</tool_call>')[1][0]["function"]["name"] == "f"


@pytest.mark.parametrize(
    "text",
    [
        "no call at all",
        "<tool_call>{not json}</tool_call>",
        '<tool_call>["f"]</tool_call>',
        "<tool_call>{}</tool_call>",
    ],
)
def test_a_reply_without_a_well_formed_call_has_no_calls_and_keeps_its_text(text):
    assert parse_tool_calls(text) == (text, [])


def test_native_messages_invert_the_text_form_on_every_template():
    tasks = TOOLS.load_tasks(None, "test", None)
    for template in sorted({t.data["template"] for t in tasks}):
        task = next(t for t in tasks if t.data["template"] == template)
        text = _expert_conversation(task)
        tools = TOOLS.tool_specs(task)
        native = native_messages(text, tools)
        assert plain_messages(native, tools) == text, template
        assert tools_block(tools) not in native[1]["content"] and native[1]["content"].startswith("Task: ")
        calls = [m for m in native if m.get("tool_calls")]
        results = [m for m in native if m["role"] == "tool"]
        assert len(calls) == len(results) == len(task.data["calls"]), template
        assert [r["tool_call_id"] for r in results] == [c["tool_calls"][0]["id"] for c in calls]


def test_supports_tools_reads_the_chat_template():
    smollm2 = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']}}{% endfor %}"
    )
    assert not supports_tools(smollm2) and not supports_tools(None)
    assert supports_tools("{% if tools %}{{ tools | tojson }}{% endif %}")


class NativeToolModel:
    """A scripted model at the `LLM` boundary that answers like a tool-calling server: the expert's next step as
    `tool_calls` (empty content), or its final answer as content. It records what it was sent."""

    model_id = "scripted-native"
    adapter = None

    def __init__(self) -> None:
        self.requests: list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None]] = []

    def generate_batch(
        self, conversations: Sequence[Any], *, tools: Sequence[Any] | None = None, **_: Any
    ) -> list[list[Completion]]:
        outs = []
        for i, messages in enumerate(conversations):
            offered = None if tools is None else tools[i]
            self.requests.append((list(messages), offered))
            task = next(
                t for t in TOOLS.load_tasks(None, "test", 3)
                if any(m["content"].startswith(f"Task: {t.instruction}") for m in messages)
            )  # fmt: skip
            done = sum(1 for m in messages if m["role"] == "tool")
            calls = task.data["calls"]
            if done < len(calls):
                function = {"name": calls[done]["name"], "arguments": json.dumps(calls[done]["arguments"])}
                call = {"id": f"srv-{done}", "type": "function", "function": function}
                outs.append([Completion(text="", tool_calls=(call,))])
            else:
                outs.append([Completion(text=task.data["answer"])])
        return outs


def test_the_graph_offers_tools_natively_and_stores_the_text_form(tmp_path):
    llm = NativeToolModel()
    with Store(tmp_path / "k.db") as store:
        result = run_agent(llm, store, RunConfig(env="tools", split="test", limit=3, prompt="compact"))  # type: ignore[arg-type]
        trajectories = store.trajectories(result.run_id)
    assert result.metrics["success_rate"] == 1.0
    tasks = TOOLS.load_tasks(None, "test", 3)
    for traj in trajectories:
        task = next(t for t in tasks if t.task_id == traj.task_id)
        env = TOOLS.make(task)
        env.reset()
        assert [s.model_output for s in traj.steps] == TOOLS.expert(env)  # the text form, as a text agent writes it
        assert traj.initial_observation.endswith(tools_block(TOOLS.tool_specs(task)))
        assert traj.meta["tools"] == TOOLS.tool_specs(task)
        stored_calls = [s.info["tool_calls"][0]["function"]["name"] for s in traj.steps if "tool_calls" in s.info]
        assert stored_calls == [c["name"] for c in task.data["calls"]]
    later = [(m, t) for m, t in llm.requests if any(x["role"] == "tool" for x in m)]
    assert later and all(t for _, t in llm.requests)  # every request offered the task's tools
    messages, offered = later[0]
    assert tools_block(offered) not in messages[1]["content"]  # natively: the tools are not in the text
    assert messages[2]["tool_calls"][0]["function"]["name"] and messages[3]["role"] == "tool"


def test_the_export_writes_trl_tool_calling_records(tmp_path):
    with Store(tmp_path / "k.db") as store:
        config = RunConfig(env="tools", split="test", limit=1, prompt="compact")
        run = run_agent(NativeToolModel(), store, config)  # type: ignore[arg-type]
        traj = store.trajectories(run.run_id)[0]
    text = trajectory_record(traj)
    native = trajectory_record(traj, tool_calls="native")
    assert "tools" not in text and text["messages"][-1]["content"] == traj.steps[-1].model_output
    assert native["tools"] == traj.meta["tools"]
    roles = [m["role"] for m in native["messages"]]
    assert roles.count("tool") == len([s for s in traj.steps if "tool_calls" in s.info]) and roles[-1] == "assistant"
    json.dumps(native)  # a jsonl line
    from transformers import PreTrainedTokenizerFast

    # TRL renders these records with the tokenizer's chat template: one that renders tools shows every call and
    # result and the tools (a small real template, since SmolLM2's has no tools).
    template = (
        "{% if tools %}TOOLS {{ tools | tojson }}\n{% endif %}{% for m in messages %}{{ m['role'] }}: "
        "{% if m.get('tool_calls') %}{{ m['tool_calls'][0]['function'] | tojson }}{% else %}{{ m['content'] }}"
        "{% endif %}\n{% endfor %}"
    )
    from tokenizers import Tokenizer, models

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")))
    tok.chat_template = template
    rendered = tok.apply_chat_template(native["messages"], tools=native["tools"], tokenize=False)
    assert rendered.startswith("TOOLS [") and "tool: " in rendered and '"name": "' in rendered
    with pytest.raises(ValueError, match="unknown tool-call format"):
        trajectory_record(traj, tool_calls="xml")
