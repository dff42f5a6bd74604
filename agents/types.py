"""Public data types of Kintsugi's agents: messages, completions, steps, trajectories, the LLM protocol."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, Protocol, TypedDict, runtime_checkable


class Message(TypedDict):
    """One chat message in OpenAI/TRL conversational form (`tool_calls` on an assistant's call, `tool_call_id` on a
    `tool` result: see `agents.tool_calls`)."""

    role: str
    content: str
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]


Messages = list[Message]


@dataclass(frozen=True)
class Completion:
    """One sampled continuation with its per-token log-probabilities under the model."""

    text: str
    """The generated text, cut before any stop sequence and the end-of-turn token."""
    token_logprobs: tuple[float, ...] = ()
    """Log-probability of each generated token (natural log, temperature 1)."""
    finish_reason: str = "stop"
    """`stop` (end token or stop sequence) or `length` (max_tokens reached)."""
    prompt_tokens: int = 0
    """Tokens in the rendered prompt."""
    tokens: tuple[str, ...] = ()
    """The generated tokens as text pieces (same length as `token_logprobs` where the backend reports them)."""
    tool_calls: tuple[dict[str, Any], ...] = ()
    """Tool calls in OpenAI's format, when the request offered tools and the reply calls some (`text` is then the
    content around them: the raw reply in the fallback text form, or only the content from a native server)."""

    @property
    def completion_tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def sum_logprob(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / len(self.token_logprobs) if self.token_logprobs else 0.0


@dataclass(frozen=True)
class CandidateScore:
    """Negative log-likelihood of one candidate continuation given a conversation."""

    nll: float
    """Summed negative log-likelihood (nats) of the candidate's tokens."""
    num_tokens: int
    """How many tokens the candidate has."""

    @property
    def mean_nll(self) -> float:
        return self.nll / self.num_tokens if self.num_tokens else math.inf


@runtime_checkable
class LLM(Protocol):
    """One interface over every backend (embedded transformers, litellm providers, vLLM)."""

    model_id: str
    """Identity of the base model (stored with every trajectory)."""
    adapter: str | None
    """Path or name of the LoRA adapter in use, if any."""

    def generate(
        self,
        messages: Messages,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> list[Completion]:
        """Sample `n` assistant replies to `messages`.

        When the last message is the assistant's, the reply is already begun: the completions continue it
        (vLLM's `continue_final_message`) and hold only the continuation. `tools` (OpenAI function specs) are
        offered to the model, natively where its chat template renders them, else in `agents.tool_calls`' text
        form; the calls come back in `Completion.tool_calls`.
        """
        ...

    def generate_batch(
        self,
        conversations: Sequence[Messages],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Sequence[dict[str, Any]] | None] | None = None,
    ) -> list[list[Completion]]:
        """`generate` over several conversations at once (one list of `n` completions per conversation); `tools`,
        when given, holds each conversation's tools (None for one without)."""
        ...

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        """NLL of each candidate as the assistant's reply to `messages`."""
        ...

    def with_adapter(self, path: str | None) -> LLM:
        """The same base model with the LoRA adapter at `path` (None: the bare base model)."""
        ...


class Source(StrEnum):
    """How a trajectory came to be."""

    SAMPLED = "sampled"
    EXPERT = "expert"
    REFLECTED = "reflected"
    REVISED = "revised"
    SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class Step:
    """One agent turn: what the model wrote, the action taken, and what the environment answered."""

    index: int
    """Position in the trajectory, from 0."""
    model_output: str
    """The model's full reply (thought and action)."""
    action: str
    """What was sent to `Environment.step`."""
    observation: str
    """The environment's answer to the action."""
    reward: float
    terminated: bool
    truncated: bool
    feedback: str | None = None
    """Why the action failed, when the environment says (e.g. the first failing test)."""
    logprob_sum: float | None = None
    logprob_mean: float | None = None
    num_tokens: int = 0
    """Generated tokens for this step."""
    gen_seconds: float = 0.0
    env_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    """Extra, JSON-serialisable details from the environment."""


@dataclass(frozen=True)
class Trajectory:
    """The unit of data: an episode of one task, with where it came from."""

    id: str
    run_id: str
    task_id: str
    env: str
    system_prompt: str
    initial_observation: str
    steps: tuple[Step, ...] = ()
    context: tuple[Message, ...] = ()
    """Example turns the agent saw between the system prompt and the task (few-shot demonstrations)."""
    sample_index: int = 0
    """Which of the K samples of this task this is."""
    seed: int | None = None
    """Seed used for `Environment.reset` and sampling."""
    source: Source = Source.SAMPLED
    parent_id: str | None = None
    """The trajectory this one was repaired/revised from."""
    model: str = ""
    adapter: str | None = None
    status: str = "running"
    """`running` while steps are being added, `done` once the episode ended."""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        return sum(s.reward for s in self.steps)

    @property
    def success(self) -> bool:
        """The episode ended with a terminating, rewarded step."""
        return bool(self.steps) and self.steps[-1].terminated and self.steps[-1].reward > 0

    def to_messages(self, *, open_ended: bool = False, with_context: bool = True) -> Messages:
        """The conversation in TRL's conversational format.

        The environment's answer to the last step is dropped unless `open_ended` (the form the agent continues);
        the few-shot `context` is kept unless `with_context` is False.
        """
        msgs: Messages = [
            {"role": "system", "content": self.system_prompt},
            *([dict(m) for m in self.context] if with_context else []),  # type: ignore[misc]
            {"role": "user", "content": self.initial_observation},
        ]
        for i, step in enumerate(self.steps):
            msgs.append({"role": "assistant", "content": step.model_output})
            if open_ended or i < len(self.steps) - 1:
                msgs.append({"role": "user", "content": step.observation})
        return msgs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["source"] = str(self.source)
        d["success"] = self.success
        d["reward"] = self.reward
        return d
