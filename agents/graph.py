"""The ReAct-style agent as a LangGraph state machine, advancing a batch of episodes in lock-step.

policy (one batched LLM call for every live episode) -> tools (episodes whose reply calls a tool: the call is
executed by the environment) -> act (the other replies: each env steps) -> back to policy until every episode has
terminated, truncated or run out of steps. Each step is handed to `on_step` as it happens.

The conversation is kept in the text form of `agents.tool_calls` (what the environment and the store see); an
episode with tools is offered them natively at each call (`tools=`, its messages as OpenAI tool calls and `tool`
results) wherever that form converts back to the same text, so a backend renders them with the model's own chat
template when it can and with the text form otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agents.llm.base import ContextLengthExceeded
from agents.tool_calls import CALL_START, native_messages, plain_messages, reply_text
from agents.types import LLM, Completion, Messages, Step
from environments.base import Environment


@dataclass(frozen=True)
class PolicyConfig:
    """How the policy samples its replies."""

    temperature: float = 0.0
    """Sampling temperature (0: greedy)."""
    max_tokens: int = 384
    """Most tokens per reply."""
    stop: tuple[str, ...] = ()
    """Stop sequences for a reply."""
    max_steps: int = 10
    """Steps after which an episode is cut off (truncated) whatever the environment says."""
    seed: int | None = None
    """Base seed for sampling; each turn uses seed + turn."""


@dataclass(frozen=True)
class Episode:
    """One live trajectory inside the graph's state."""

    trajectory_id: str
    messages: Messages
    steps: int = 0
    done: bool = False
    pending: Completion | None = None
    gen_seconds: float = 0.0
    last_info: dict[str, Any] = field(default_factory=dict)
    tools: tuple[dict[str, Any], ...] = ()
    """The task's tools (OpenAI function specs), offered to the model at every turn; () for none."""


class AgentState(TypedDict):
    """The graph's state: the episodes it advances and the turn counter."""

    episodes: list[Episode]
    turn: int


StepSink = Callable[[Episode, Step], None]


def build_graph(
    llm: LLM,
    envs: Mapping[str, Environment],
    parse_action: Callable[[str], str],
    config: PolicyConfig,
    on_step: StepSink,
    complete_reply: Callable[[str], str] = str,
    on_context_full: Callable[[Episode], None] = lambda _: None,
) -> Any:
    """Compile the agent graph for `envs` (keyed by trajectory id); `on_step` persists each step.

    `complete_reply` restores what a stop sequence cut off the model's reply before it is acted on and stored.
    An episode whose conversation outgrows the model's context ends there (`on_context_full`), the others go on.
    """

    def generate(episodes: list[Episode], seed: int | None) -> list[Completion | None]:
        """One reply per episode; None for an episode whose conversation no longer fits the model's context."""
        requests = [_request(e) for e in episodes]
        offered = {"tools": [t for _, t in requests]} if any(t for _, t in requests) else {}
        try:
            outs = llm.generate_batch(
                [m for m, _ in requests],
                n=1,
                temperature=config.temperature,
                max_tokens=config.max_tokens,
                stop=list(config.stop),
                seed=seed,
                **offered,
            )
            return [o[0] for o in outs]
        except ContextLengthExceeded:
            if len(episodes) == 1:
                return [None]
            return [generate([e], seed)[0] for e in episodes]  # find the ones that overflow; the rest go on

    def policy(state: AgentState) -> dict[str, Any]:
        live = [e for e in state["episodes"] if not e.done]
        seed = None if config.seed is None else config.seed + state["turn"]
        start = time.perf_counter()
        outs = generate(live, seed)
        share = (time.perf_counter() - start) / max(1, len(live))
        by_id = {}
        for e, out in zip(live, outs, strict=True):
            if out is None:
                on_context_full(e)
                by_id[e.trajectory_id] = replace(e, done=True)
            else:
                by_id[e.trajectory_id] = replace(e, pending=out, gen_seconds=share)
        return {
            "episodes": [by_id.get(e.trajectory_id, e) for e in state["episodes"]],
            "turn": state["turn"] + 1,
        }

    def step_episode(ep: Episode) -> Episode:
        completion = ep.pending
        assert completion is not None
        if completion.tool_calls and CALL_START not in completion.text:  # a native reply: content + calls
            reply = reply_text(completion.text, completion.tool_calls[:1])
        else:
            reply = complete_reply(completion.text)
        action = parse_action(reply)
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = envs[ep.trajectory_id].step(action)
        env_seconds = time.perf_counter() - start
        truncated = truncated or (not terminated and ep.steps + 1 >= config.max_steps)
        step = Step(
            index=ep.steps,
            model_output=reply,
            action=action,
            observation=obs,
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            feedback=info.get("feedback"),
            logprob_sum=completion.sum_logprob,
            logprob_mean=completion.mean_logprob,
            num_tokens=completion.completion_tokens,
            gen_seconds=ep.gen_seconds,
            env_seconds=env_seconds,
            info=_step_info(info, completion),
        )
        on_step(ep, step)
        messages = [
            *ep.messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": obs},
        ]
        return replace(
            ep,
            messages=messages,
            steps=ep.steps + 1,
            done=terminated or truncated,
            pending=None,
            last_info=info,
        )

    def calls_tool(ep: Episode) -> bool:
        return not ep.done and ep.pending is not None and bool(ep.pending.tool_calls)

    def tools(state: AgentState) -> dict[str, Any]:
        """The tool node: the environment executes each pending tool call (the first of a reply's calls)."""
        return {"episodes": [step_episode(e) if calls_tool(e) else e for e in state["episodes"]]}

    def act(state: AgentState) -> dict[str, Any]:
        """Every other pending reply (a final answer, a command, code) is the episode's action."""
        live = [not e.done and e.pending is not None for e in state["episodes"]]
        return {"episodes": [step_episode(e) if go else e for e, go in zip(state["episodes"], live, strict=True)]}

    def route_reply(state: AgentState) -> str:
        return "tools" if any(calls_tool(e) for e in state["episodes"]) else "act"

    def route(state: AgentState) -> str:
        return END if all(e.done for e in state["episodes"]) else "policy"

    graph = StateGraph(AgentState)
    graph.add_node("policy", policy)
    graph.add_node("tools", tools)
    graph.add_node("act", act)
    graph.add_edge(START, "policy")
    graph.add_conditional_edges("policy", route_reply, {"tools": "tools", "act": "act"})
    graph.add_edge("tools", "act")
    graph.add_conditional_edges("act", route, {"policy": "policy", END: END})
    return graph.compile()


def _request(ep: Episode) -> tuple[Messages, list[dict[str, Any]] | None]:
    """What the model is sent for `ep`: its conversation as native tool calls with its tools, where that converts
    back to the very same text; else the text form as it is (which lists the tools itself)."""
    if not ep.tools:
        return ep.messages, None
    native = native_messages(ep.messages, ep.tools)
    if plain_messages(native, ep.tools) != [{"role": m["role"], "content": m["content"]} for m in ep.messages]:
        return ep.messages, None
    return native, list(ep.tools)  # type: ignore[return-value]


def run_graph(graph: Any, episodes: list[Episode], max_steps: int, first_turn: int = 0) -> list[Episode]:
    """Advance `episodes` until all are done; returns their final state. Turn t samples with the policy's seed + t,
    counted from `first_turn` (a resumed episode's steps so far, so it samples as it would have uninterrupted)."""
    live = [e for e in episodes if not e.done]
    if not live:
        return episodes
    state = {"episodes": episodes, "turn": first_turn}
    result = graph.invoke(state, config={"recursion_limit": 3 * max_steps + 4})
    return result["episodes"]


def stream_graph(graph: Any, episodes: list[Episode], max_steps: int) -> Iterator[None]:
    """`run_graph`, yielding after each of the graph's super-steps (LangGraph's `stream`), so that a caller can pass
    on the steps its `on_step` callback collected while the episodes are still being played."""
    if all(e.done for e in episodes):
        return
    config = {"recursion_limit": 3 * max_steps + 4}
    for _update in graph.stream({"episodes": episodes, "turn": 0}, config=config, stream_mode="updates"):
        yield


def _step_info(info: dict[str, Any], completion: Completion) -> dict[str, Any]:
    """The env's info for the stored step, plus the reply's tokens with their log-probabilities (the viewer shades
    them) when the backend returned them."""
    out = {k: v for k, v in info.items() if k not in ("feedback", "admissible_actions")}
    if completion.tool_calls:
        out["tool_calls"] = list(completion.tool_calls)
    if completion.tokens and len(completion.tokens) == len(completion.token_logprobs):
        pairs = zip(completion.tokens, completion.token_logprobs, strict=True)
        out["token_logprobs"] = [[t, round(lp, 4)] for t, lp in pairs]
    return out
