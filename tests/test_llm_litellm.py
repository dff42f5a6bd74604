"""The litellm backend against a real OpenAI-compatible server (`kintsugi serve`) on loopback."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from agents.llm import make_llm

pytestmark = pytest.mark.slow

ASK = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", "serve", "--port", str(port), "--name", "smollm2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as r:
                assert json.load(r)["data"][0]["id"] == "smollm2"
                break
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("kintsugi serve did not come up in 120 s")
    yield f"{url}/v1"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def remote(server):
    return make_llm("litellm", "openai/smollm2", api_base=server)


def test_greedy_reply_matches_the_embedded_backend(remote, llm):
    local = llm.generate(ASK, max_tokens=32)[0]
    [got] = remote.generate(ASK, max_tokens=32)
    assert got.text == local.text
    assert got.token_logprobs == pytest.approx(local.token_logprobs, abs=1e-4)
    assert got.prompt_tokens == local.prompt_tokens


def test_n_samples_stop_and_batch(remote):
    out = remote.generate_batch([ASK, ASK], n=2, temperature=1.0, max_tokens=16, seed=1, stop=["\n\n"])
    assert [len(g) for g in out] == [2, 2]
    texts = [c.text for g in out for c in g]
    assert all("\n\n" not in t for t in texts)
    assert len(set(texts)) > 1  # equal prompts in one batch still get different samples


def test_score_matches_the_embedded_backend(remote, llm):
    candidates = ["def add(a, b):\n    return a + b", "zebra quantum"]
    local = llm.score(ASK, candidates)
    got = remote.score(ASK, candidates)
    for a, b in zip(got, local, strict=True):
        assert a.num_tokens == b.num_tokens
        assert a.nll == pytest.approx(b.nll, abs=1e-3)


def test_server_rejects_bad_requests_with_400(server):
    req = urllib.request.Request(
        f"{server}/chat/completions", data=b'{"messages": []}', headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert "non-empty" in json.load(err.value)["error"]["message"]
