"""The embedded transformers backend with the real SmolLM2-135M model."""

import math

import pytest

pytestmark = pytest.mark.slow

ASK = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]


def test_greedy_is_deterministic_and_reports_logprobs(llm):
    a = llm.generate(ASK, max_tokens=40)[0]
    b = llm.generate(ASK, max_tokens=40)[0]
    assert a.text == b.text and a.text.strip()
    assert len(a.token_logprobs) == len(a.tokens) == a.completion_tokens > 0
    assert all(lp <= 0 for lp in a.token_logprobs)
    assert a.prompt_tokens > 10
    assert a.finish_reason in ("stop", "length")


def test_batched_greedy_equals_one_by_one(llm):
    other = [{"role": "user", "content": "Name a colour."}]
    single = [llm.generate(m, max_tokens=24)[0].text for m in (ASK, other)]
    batched = [g[0].text for g in llm.generate_batch([ASK, other], max_tokens=24)]
    assert batched == single


def test_sampling_is_seeded_and_varied(llm):
    first = [c.text for c in llm.generate(ASK, n=4, temperature=1.0, max_tokens=24, seed=7)]
    again = [c.text for c in llm.generate(ASK, n=4, temperature=1.0, max_tokens=24, seed=7)]
    assert first == again
    assert len(set(first)) > 1


def test_stop_sequences_cut_the_text(llm):
    c = llm.generate(ASK, max_tokens=60, stop=["return"])[0]
    assert "return" not in c.text and c.finish_reason == "stop"


def test_max_tokens_bounds_the_reply(llm):
    c = llm.generate([{"role": "user", "content": "Count from 1 to 100."}], max_tokens=5)[0]
    assert c.completion_tokens == 5 and c.finish_reason == "length"


def test_score_agrees_with_generation_logprobs_and_ranks_sense_above_noise(llm):
    c = llm.generate(ASK, max_tokens=30)[0]
    [s] = llm.score(ASK, [c.text])
    # generation's logprobs cover the same tokens (plus the end token when it stopped)
    gen_nll = -sum(c.token_logprobs[: s.num_tokens])
    assert s.nll == pytest.approx(gen_nll, rel=0.02, abs=0.05)
    good, noise = llm.score(ASK, ["def add(a, b):\n    return a + b", "zebra quantum lantern fig"])
    assert good.mean_nll < noise.mean_nll
    assert math.isfinite(good.nll) and good.num_tokens > 5


def test_context_overflow_is_a_clear_error(llm):
    with pytest.raises(ValueError, match="context"):
        llm.generate([{"role": "user", "content": "word " * 9000}], max_tokens=10)


def test_lora_adapter_changes_outputs_and_base_view_is_untouched(llm, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agents.llm.embedded import converted_model_dir

    base_model = AutoModelForCausalLM.from_pretrained(converted_model_dir())
    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base_model, config).save_pretrained(tmp_path / "adapter")

    before = llm.score(ASK, ["def add(a, b):\n    return a + b"])[0].nll
    tuned = llm.with_adapter(str(tmp_path / "adapter"))
    assert tuned.adapter == str(tmp_path / "adapter") and tuned.model_id == llm.model_id
    with_adapter = tuned.score(ASK, ["def add(a, b):\n    return a + b"])[0].nll
    assert abs(with_adapter - before) > 1e-3
    assert llm.score(ASK, ["def add(a, b):\n    return a + b"])[0].nll == pytest.approx(before, abs=1e-5)
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json"):
        llm.with_adapter(str(tmp_path))


def test_shared_prefix_cache_gives_the_same_replies_as_plain_batching(llm):
    from dataclasses import replace

    from agents.llm.transformers_backend import TransformersLLM

    rules = "You answer in one short line. " + "Rules: be brief, be exact, no lists. " * 12
    convs = [
        [{"role": "system", "content": rules}, {"role": "user", "content": q}]
        for q in ("Name a fruit.", "Name a colour that is not red.", "What is 2 + 3?")
    ]
    plain = TransformersLLM(replace(llm.config, prefix_cache_min_tokens=0), _engine=llm._engine)
    cached = llm.generate_batch(convs, max_tokens=16)
    assert [g[0].text for g in cached] == [g[0].text for g in plain.generate_batch(convs, max_tokens=16)]
    assert [g[0].text for g in cached] == [llm.generate(c, max_tokens=16)[0].text for c in convs]
    for a, b in zip(cached, plain.generate_batch(convs, max_tokens=16), strict=True):
        assert a[0].token_logprobs == pytest.approx(b[0].token_logprobs, abs=1e-3)


def test_scoring_a_long_conversation_encodes_it_once_with_the_same_nlls(llm):
    from dataclasses import replace

    from agents.llm.transformers_backend import TransformersLLM

    rules = "You answer in one short line. " + "Rules: be brief, be exact, no lists. " * 12
    conv = [{"role": "system", "content": rules}, {"role": "user", "content": "Name a fruit."}]
    candidates = ["Apple.", "A banana, of course.", "zebra quantum lantern fig", "Pear"]
    plain = TransformersLLM(replace(llm.config, prefix_cache_min_tokens=0), _engine=llm._engine)
    chunked = TransformersLLM(replace(llm.config, max_batch_sequences=3), _engine=llm._engine)
    expected = plain.score(conv, candidates)
    for got in (llm.score(conv, candidates), chunked.score(conv, candidates)):
        assert [s.num_tokens for s in got] == [s.num_tokens for s in expected]
        assert [s.nll for s in got] == pytest.approx([s.nll for s in expected], abs=1e-3)
    assert llm.score(conv, []) == []


def test_tools_reach_a_model_without_tool_support_in_the_text_form_and_calls_come_back(llm, tools_conversation):
    """SmolLM2's template has no tools: a native conversation (tool calls, `tool` results, `tools=`) renders to the
    very prompt a text agent sends, and a reply's call comes back in `tool_calls`."""
    from agents.tool_calls import native_messages

    text, tools = tools_conversation
    native = native_messages(text, tools)
    assert native[2]["tool_calls"] and native[3]["role"] == "tool"
    assert llm.render(native, tools=tools) == llm.render(text)
    whole = llm.generate_batch([native], max_tokens=48, stop=["</tool_call>"], tools=[tools])[0][0]
    assert llm.generate(text, max_tokens=48, stop=["</tool_call>"])[0].text == whole.text  # the same prompt
    from agents.tool_calls import parse_tool_calls

    assert whole.tool_calls == tuple(parse_tool_calls(whole.text)[1])
