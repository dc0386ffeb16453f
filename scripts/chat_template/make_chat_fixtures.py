#!/usr/bin/env python3
"""Renders reference prompts for the TernChatTemplate tests with transformers' own renderer.

Every conversation below is rendered through every template in
Tests/TernChatTemplateTests/Data/templates/, with and without add_generation_prompt (and, for
templates that read it, enable_thinking true/false). The inputs are prepared exactly as
`tokenizer.apply_chat_template(..., tokenize=False)` prepares them (null-valued message keys
dropped, special tokens passed as variables) and rendered with
`transformers.utils.chat_template_utils.render_jinja_template`. A render that raises is recorded
as an expected error.

Usage: python3 scripts/chat_template/make_chat_fixtures.py
Writes Tests/TernChatTemplateTests/Data/chat_fixtures.json.
"""

import datetime
import json
import pathlib

import jinja2
import transformers
from transformers.utils.chat_template_utils import (
    _compile_jinja_template,
    _normalize_chat_messages,
    render_jinja_template,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "Tests" / "TernChatTemplateTests" / "Data"

# The special tokens each model's tokenizer_config.json declares (tokenizer.special_tokens_map).
SPECIAL_TOKENS = {
    "llama3_1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "hermes3_tool_use": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>", "pad_token": "<|end_of_text|>"},
    "llama3_2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "qwen3": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "deepseek_v3": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek_r1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "mistral_nemo": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "deepseek_v3_1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "qwen3_coder": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "gpt_oss": {"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>"},
}

# Templates that print the date get this fixed time instead of datetime.now(); the Swift tests
# render with the same time (UTC wall clock).
FIXED_NOW = datetime.datetime(2025, 3, 14, 15, 9, 26)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search documents with filters.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": "integer", "default": 10},
                "scores": {"type": "array", "items": {"type": "number"}, "nullable": True},
                "mode": {"type": "string", "enum": ["fast", "exact"], "default": "fast"},
                "filter": {"type": "object", "properties": {"year": {"type": "integer"}, "lang": {"type": "string"}},
                           "required": ["year"]},
                "target": {"oneOf": [{"type": "string", "description": "a URL"}, {"type": "number"}]},
                "ratio": {"type": "number", "default": 0.5},
                "nested": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
                "flags": {"type": ["string", "null"]},
                "verbose": {"type": "boolean"},
            },
            "required": ["query"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone (naïve «quotes» \"escaped\").",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": []},
        "return": {"type": "string"},
    },
}


def tool_call(call_id, name, arguments, as_string):
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False) if as_string else arguments},
    }


def conversations():
    sys = {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."}
    yield "single_user", [{"role": "user", "content": "Hello!"}], None, {}
    yield "system_user", [sys, {"role": "user", "content": "  What is 2+2?  "}], None, {}
    yield "multi_turn", [
        sys,
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke about \"quotes\" and 'apostrophes' \\ backslashes."},
    ], None, {}
    yield "unicode", [
        {"role": "user", "content": "Ünïcödé ✓ 日本語 🚀 tab\there"},
        {"role": "assistant", "content": "Ответ: да."},
        {"role": "user", "content": "Merci\r\nbeaucoup"},
    ], None, {}
    yield "ends_with_assistant", [
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "1, 2, 3"},
    ], None, {}
    yield "tools_no_calls", [sys, {"role": "user", "content": "What's the weather in Paris?"}], [WEATHER_TOOL, TIME_TOOL], {}
    for as_string in (False, True):
        suffix = "string_args" if as_string else "dict_args"
        yield f"tool_call_flow_{suffix}", [
            sys,
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "",
             "tool_calls": [tool_call("call12345", "get_weather", {"city": "Paris", "unit": "celsius"}, as_string)]},
            {"role": "tool", "tool_call_id": "call12345", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 21 °C and clear in Paris."},
            {"role": "user", "content": "Thanks!"},
        ], [WEATHER_TOOL], {}
        yield f"parallel_tool_calls_{suffix}", [
            {"role": "user", "content": "Weather and time in Tokyo?"},
            {"role": "assistant", "content": "",
             "tool_calls": [tool_call("callAAAAA", "get_weather", {"city": "Tokyo"}, as_string),
                            tool_call("callBBBBB", "get_time", {"tz": "Asia/Tokyo"}, as_string)]},
            {"role": "tool", "tool_call_id": "callAAAAA", "content": "rainy, 18"},
            {"role": "tool", "tool_call_id": "callBBBBB", "content": "09:30"},
        ], [WEATHER_TOOL, TIME_TOOL], {}
    # OpenAI clients send `content: null` with tool calls; apply_chat_template drops the key.
    yield "tool_call_null_content", [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None,
         "tool_calls": [tool_call("callOSLO01", "get_weather", {"city": "Oslo"}, True)]},
    ], [WEATHER_TOOL], {}
    yield "reasoning_content", [
        {"role": "user", "content": "Is 17 prime?"},
        {"role": "assistant", "content": "Yes, 17 is prime.", "reasoning_content": "Check divisors up to 4: none."},
        {"role": "user", "content": "And 21?"},
    ], None, {}
    yield "think_tags_in_content", [
        {"role": "user", "content": "Is 9 prime?"},
        {"role": "assistant", "content": "<think>\n9 = 3 * 3.\n</think>\n\nNo, 9 = 3 × 3."},
        {"role": "user", "content": "And 11?"},
        {"role": "assistant", "content": "<think>only 1 and 11</think>Yes."},
    ], None, {}
    yield "two_system_messages", [
        {"role": "system", "content": "First rule."},
        {"role": "system", "content": "Second rule."},
        {"role": "user", "content": "Go."},
    ], None, {}
    yield "bad_alternation", [
        {"role": "user", "content": "One"},
        {"role": "user", "content": "Two"},
    ], None, {}
    yield "rich_tool_schema", [
        {"role": "developer", "content": "Prefer exact search."},
        {"role": "user", "content": "Find 2024 papers on MoE."},
        {"role": "assistant", "content": "", "thinking": "Use the search tool.",
         "tool_calls": [tool_call("srch00001", "search_docs", {"query": "MoE", "filter": {"year": 2024}, "limit": 5}, False)]},
        {"role": "tool", "tool_call_id": "srch00001", "content": "[{\"title\": \"Switch\"}]"},
        {"role": "assistant", "content": "Found: Switch.", "thinking": "One result."},
    ], [SEARCH_TOOL, WEATHER_TOOL], {}
    yield "partial_assistant", [
        {"role": "user", "content": "Write a haiku about rain."},
        {"role": "assistant", "content": "Soft rain on the roof  ", "reasoning_content": "Five syllables first."},
    ], None, {}
    yield "custom_date", [sys, {"role": "user", "content": "Date?"}], None, {"date_string": "01 Jan 2025"}


def thinking_variants(template_text):
    if "enable_thinking" in template_text:
        return [{}, {"enable_thinking": True}, {"enable_thinking": False}]
    if "not thinking is defined" in template_text:
        return [{}, {"thinking": True}]
    if "reasoning_effort" in template_text:
        return [{}, {"reasoning_effort": "high", "builtin_tools": ["browser", "python"], "model_identity": "You are Tern."}]
    return [{}]


def main():
    conversation_table = {}
    cases = []
    for path in sorted((DATA / "templates").glob("*.jinja")):
        name = path.stem
        template = path.read_text(encoding="utf-8")
        compiled = _compile_jinja_template(template)
        compiled.environment.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
        for conv_name, messages, tools, extra in conversations():
            conversation_table[conv_name] = {"messages": messages, "tools": tools}
            for thinking in thinking_variants(template):
                modes = [(False, None), (True, None)]
                if messages[-1]["role"] == "assistant":
                    modes += [(False, "content")]
                    if "reasoning_content" in messages[-1]:
                        modes += [(False, "reasoning_content")]
                for add_generation_prompt, continue_field in modes:
                    kwargs = {**extra, **thinking}
                    case = {
                        "template": name,
                        "conversation": conv_name,
                        "add_generation_prompt": add_generation_prompt,
                        "extra": kwargs,
                    }
                    if continue_field:
                        case["continue_final_message"] = continue_field
                    # What apply_chat_template does before rendering.
                    chat = _normalize_chat_messages(json.loads(json.dumps(messages)))
                    template_kwargs = {**SPECIAL_TOKENS[name], **kwargs}
                    try:
                        rendered, _ = render_jinja_template(
                            conversations=[chat], tools=tools, chat_template=template,
                            add_generation_prompt=add_generation_prompt,
                            continue_final_message=continue_field or False, **template_kwargs)
                        case["expected"] = rendered[0]
                    except Exception as error:  # noqa: BLE001 - any failure is an expected error
                        case["error"] = f"{type(error).__name__}: {error}"
                    cases.append(case)
    header = {
        "generator": "scripts/chat_template/make_chat_fixtures.py",
        "transformers_version": transformers.__version__,
        "jinja2_version": jinja2.__version__,
        "now": FIXED_NOW.isoformat(),
        "special_tokens": SPECIAL_TOKENS,
        "conversations": conversation_table,
    }
    # One case per line keeps the file small and its diffs readable.
    lines = [json.dumps(header, ensure_ascii=False)[:-1] + ', "cases": [']
    lines += [json.dumps(c, ensure_ascii=False) + ("," if i + 1 < len(cases) else "") for i, c in enumerate(cases)]
    lines.append("]}")
    target = DATA / "chat_fixtures.json"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = sum("error" in c for c in cases)
    print(f"wrote {len(cases)} cases ({errors} expected errors) to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
