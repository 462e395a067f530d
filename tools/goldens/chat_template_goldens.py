#!/usr/bin/env python3
"""Reference renderings of chat templates, made by jinja2 configured exactly as transformers'
apply_chat_template configures it, for encore's chat-template tests.

Runs with Debian's python3-jinja2, from the repository root, no arguments needed:
    /usr/bin/python3 tools/goldens/chat_template_goldens.py [--out tests/data/chat]
    /usr/bin/python3 tools/goldens/chat_template_goldens.py --bench   # time the 50-turn render

The environment (transformers, src/transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
loopcontrols]); its tojson filter (json.dumps with ensure_ascii=False, indent, separators,
sort_keys); globals raise_exception(message) and strftime_now(format); render(messages=...,
tools=..., documents=..., add_generation_prompt=..., **special_tokens, **extra_kwargs).

Inputs: every template in tests/data/chat/templates/*.jinja (real templates of public model
families, see tests/data/chat/README.md), the chat_template of
tests/data/tokenizers/{llama3,qwen3}/tokenizer_config.json, tests/data/chat/own/*.jinja (written
for these tests); the conversations written below.

Outputs in the output folder:
  goldens.json   {"jinja2": version, "templates": {name: {"file", "bos_token", "eos_token"}},
                  "conversations": {name: conversation}, "cases": [{"template", "conversation",
                  "add_generation_prompt", "extra", and "output" (the rendered text) or "error"
                  ("ExceptionType: message")}]}
  snippets.json  {"cases": [{"name", "source", "vars", "output" or "error"}]}: small templates
                 exercising one Jinja feature each (whitespace control, scoping, filters, tests,
                 methods, undefined values, errors), rendered with the same environment.
"""
import argparse
import json
import os
import sys
import time
from datetime import datetime

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


class AssistantTracker(Extension):
    """transformers' {% generation %}...{% endgeneration %} block: renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_environment()


def render(source, conversation, add_generation_prompt, special, extra):
    """transformers' render_jinja_template for one conversation; the text or the error."""
    try:
        compiled = ENV.from_string(source)
        if isinstance(conversation, list):
            conversation = {"messages": conversation}
        kwargs = {k: v for k, v in conversation.items() if k not in ("messages", "tools", "documents")}
        kwargs = {**special, **kwargs, **extra}
        return {"output": compiled.render(messages=conversation["messages"], tools=conversation.get("tools"),
                                          documents=conversation.get("documents"),
                                          add_generation_prompt=add_generation_prompt, **kwargs)}
    except Exception as e:  # noqa: BLE001 - every error is a golden
        return {"error": f"{type(e).__name__}: {e}"}


# ---- the corpus ----
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                       "required": ["a", "b"]}}},
]


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def s(text):
    return {"role": "system", "content": text}


def tool_call(name, arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS = {
    "user_only": [u("Hello!")],
    "system_user": [s("You are a helpful assistant."), u("What is 2+2?")],
    "multi_turn": [u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")],
    "system_multi_turn": [s("Be brief."), u("Name a colour."), a("Blue."), u("Another one."), a("Red."),
                          u("And one more?")],
    "ends_with_assistant": [u("Say yes."), a("Yes.")],
    "empty_user": [u("")],
    "empty_system": [s(""), u("Hi")],
    "empty_assistant": [u("Hi"), a(""), u("Still there?")],
    "non_ascii": [s("Tu es un assistant. 日本語で答えて。"),
                  u("Grüße aus Zürich! Ça va? 世界 🚀 — naïve café"), a("Très bien, merci! 👍"),
                  u("Ελληνικά, русский, العربية, हिन्दी")],
    "whitespace": [u("  padded on both sides  \n\n"), a("\n  reply with newlines\n"), u("\ttabbed\t")],
    "template_like_text": [u("{{ not a tag }} {% nor this %} {# nor a comment #}"),
                           a("<|im_end|> [INST] </s>"), u("raw braces: { } {{ }}")],
    "quotes_and_escapes": [u('He said "hi" and \'bye\' \\ backslash\nnew line\ttab'), a("ok \\n literal")],
    "content_parts": [{"role": "user", "content": [{"type": "text", "text": "Describe this."},
                                                    {"type": "text", "text": "Briefly."}]}],
    "assistant_first": [a("I speak first."), u("Hi")],
    "two_users": [u("One"), u("Two")],
    "unknown_role": [u("Hi"), {"role": "narrator", "content": "Meanwhile..."}],
    "empty_messages": [],
    "system_only": [s("System alone.")],
    "long": [u(f"question {i}") if i % 2 == 0 else a(f"answer {i}") for i in range(12)],
    "named_messages": [s("Sys"), {"role": "user", "content": "Hi", "name": "alice"}],
    "tool_calls": {"messages": [
        s("You can call tools."), u("Weather in Zürich and 2+3?"),
        {"role": "assistant", "content": "", "tool_calls": [
            tool_call("get_weather", {"city": "Zürich", "unit": "celsius"}), tool_call("add", {"a": 2, "b": 3})]},
        {"role": "tool", "content": "{\"temperature\": 21.5}"}, {"role": "tool", "content": "5"},
        a("It is 21.5 °C and 2+3=5.")], "tools": TOOLS},
    "tool_call_string_arguments": {"messages": [
        u("Add 1 and 2"), {"role": "assistant", "content": None,
                           "tool_calls": [tool_call("add", "{\"a\": 1, \"b\": 2}")]},
        {"role": "tool", "content": "3"}], "tools": TOOLS},
    "tools_no_system": {"messages": [u("What can you do?")], "tools": TOOLS},
    "reasoning_content": [u("Think first: 3*7?"),
                          {"role": "assistant", "content": "21", "reasoning_content": "3 times 7 is 21."},
                          u("And 4*6?")],
    "think_in_content": [u("Why is the sky blue?"),
                         a("<think>\nRayleigh scattering.\n</think>\n\nBecause of Rayleigh scattering."),
                         u("Thanks")],
    "tool_response_text": [u("<tool_response>\nraw\n</tool_response>"), a("noted")],
}

TEMPLATES = {
    # name: (file relative to the repo, bos_token, eos_token) — tokens as the model family sets them
    "alpaca": ("tests/data/chat/templates/alpaca.jinja", "<s>", "</s>"),
    "chatml": ("tests/data/chat/templates/chatml.jinja", None, "<|im_end|>"),
    "gemma-it": ("tests/data/chat/templates/gemma-it.jinja", "<bos>", "<eos>"),
    "granite-3.0-instruct": ("tests/data/chat/templates/granite-3.0-instruct.jinja", "<|end_of_text|>",
                             "<|end_of_text|>"),
    "llama-2-chat": ("tests/data/chat/templates/llama-2-chat.jinja", "<s>", "</s>"),
    "llama-3-instruct": ("tests/data/chat/templates/llama-3-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "mistral-instruct": ("tests/data/chat/templates/mistral-instruct.jinja", "<s>", "</s>"),
    "phi-3": ("tests/data/chat/templates/phi-3.jinja", "<s>", "<|endoftext|>"),
    "qwen2.5-instruct": ("tests/data/chat/templates/qwen2.5-instruct.jinja", None, "<|im_end|>"),
    "vicuna": ("tests/data/chat/templates/vicuna.jinja", "<s>", "</s>"),
    "zephyr": ("tests/data/chat/templates/zephyr.jinja", "<s>", "</s>"),
    "llama3": ("tests/data/tokenizers/llama3/tokenizer_config.json", "<|begin_of_text|>", "<|end_of_text|>"),
    "qwen3": ("tests/data/tokenizers/qwen3/tokenizer_config.json", None, "<|im_end|>"),
    # written for these tests (tests/data/chat/own/): tools, content parts, macros, namespaces
    "tools-demo": ("tests/data/chat/own/tools-demo.jinja", "<s>", "</s>"),
}

# Extra keyword arguments tried on some templates (transformers passes them through).
EXTRAS = {"qwen3": [{"enable_thinking": False}, {"enable_thinking": True}],
          "tools-demo": [{"enable_thinking": False}]}


def template_source(path):
    full = os.path.join(ROOT, path)
    if path.endswith(".json"):
        with open(full, encoding="utf-8") as f:
            return json.load(f)["chat_template"]
    with open(full, encoding="utf-8", newline="") as f:
        return f.read()


# Small templates, one feature each; vars are passed to render() as they are.
MSGS = [{"role": "system", "content": " sys "}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"}]
SNIPPETS = [
    ("text_only", "plain text\n", {}),
    ("trailing_newlines", "a\n\n", {}),
    ("crlf", "a\r\nb\r\n{% if true %}\r\nc\r\n{% endif %}\r\n", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("lstrip_blocks", "  {% if true %}\n  a\n  {% endif %}\n  b", {}),
    ("lstrip_not_vars", "  {{ 'x' }}\n  {# c #}\n  y", {}),
    ("lstrip_midline", "a {% if true %}b{% endif %} c", {}),
    ("plus_modifier", "  {%+ if true %}\nx{% endif +%}\ny", {}),
    ("minus_modifier", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c", {}),
    ("minus_var", "a \n {{- 'b' -}} \n c", {}),
    ("comment_ws", "a\n  {# comment #}\nb {#- x -#}  c", {}),
    ("raw", "{% raw %}{{ x }}{% endraw %}|{%- raw -%}  {% y %}  {%- endraw %}", {}),
    ("print_types", "{{ 1 }}|{{ 1.5 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ none }}|{{ true }}|{{ [1, 'a', none] }}|"
                    "{{ {'k': 'v', 'n': [1.0]} }}|{{ (1,) }}|{{ ('a', 2) }}|{{ 'it\\'s' }}|{{ [\"it's\"] }}", {}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\x41\\u00e9\\U0001F600\\q' }}|{{ \"dq\\\"\" }}|{{ 'adj' 'acent' }}", {}),
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} "
                   "{{ (1 + 2) * 3 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ -3 }} {{ 1.5 * 2 }} {{ 10 / 4 * 2 }}", {}),
    ("concat", "{{ 'a' ~ 1 ~ none ~ true ~ [1] }}|{{ 'x' ~ undefined_var ~ 'y' }}", {}),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} "
                    "{{ 'a' != 'a' }} {{ none == none }} {{ 2 >= 2 }} {{ 'b' in 'abc' }} {{ 3 not in [1, 2] }} "
                    "{{ 'k' in {'k': 1} }} {{ true == 1 }}", {}),
    ("logic", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ not 0 }}|{{ not [] }}|{{ none or [] }}|"
              "{{ 1 if 0 else 2 }}|{{ 'y' if 1 }}|{{ 'y' if 0 }}|{{ not 1 == 2 }}", {}),
    ("precedence", "{{ 'a' + 'b' | upper }}|{{ -2 ** 2 }}|{{ 1 + 2 ~ 3 }}|{{ 'x' ~ 1 + 2 }}|"
                   "{{ not true and false }}|{{ [3, 1, 2] | sort | first }}", {}),
    ("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x is even %}even"
                     "{% else %}other{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                      "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
                      "{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('x', 'y') }}|{% endfor %}", {}),
    ("for_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}no{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"
                   "{% for k, v in {'c': 3} | items %}{{ k }}={{ v }}{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {}),
    ("for_dict_string", "{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}|{% for c in 'héllo' %}{{ c }}.{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}"
                       "{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loops", "{% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }}{{ loop.depth }} {% endfor %}{% endfor %}", {}),
    ("loop_scope", "{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("if_scope", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=none) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}"
                  "{% if m.role == 'user' %}{% set ns.found = loop.index0 %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}",
     {"messages": MSGS}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}", {}),
    ("set_block", "{% set body %}\n  hello {{ name }}\n{% endset %}[{{ body }}]{% set t | upper | trim %} x {% endset %}[{{ t }}]",
     {"name": "bob"}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} "
              "{{ greet(name='c', punct='.') }}", {}),
    ("macro_call", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}{{ a is defined }}", {}),
    ("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
                         "{% else %}{{ m.content }}{% endif %}{% endfor %}", {"messages": MSGS}),
    ("attribute_vs_item", "{{ m.role }}|{{ m['role'] }}|{{ m.get('role') }}|{{ m.get('missing', 'dflt') }}|{{ m.get('missing') }}|"
                          "{{ m.missing }}|{{ m['missing'] is defined }}|{{ l[0] }}|{{ l[-1] }}|{{ l[5] }}|{{ l.0 }}",
     {"m": {"role": "user", "content": "hi"}, "l": [10, 20, 30]}),
    ("dict_methods", "{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}|{{ d | length }}",
     {"d": {"b": 1, "a": [2]}}),
    ("slices", "{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[::2] }}{{ l[-2:] }}{{ s[1:3] }}{{ s[::-1] }}{{ s[-1] }}{{ l[5:] }}",
     {"l": [1, 2, 3, 4], "s": "héllo"}),
    ("slice_in_tuple_subscript", "[{{ l[1, 2:-1] }}][{{ d[1, :] }}]{{ l[1, 2:-1] is defined }}",
     {"l": [1, 2, 3, 4], "d": {"a": 1}}),
    ("string_methods", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ s.strip(' x') }}][{{ s.upper() }}]"
                       "[{{ s.lower() }}][{{ s.title() }}][{{ s.capitalize() }}][{{ s.replace('a', 'A') }}]"
                       "[{{ s.split() }}][{{ s.split('a') }}][{{ s.split('a', 1) }}][{{ s.rsplit('a', 1) }}]"
                       "[{{ s.startswith(' x') }}][{{ s.endswith(('z', ' ')) }}][{{ s.find('b') }}][{{ s.count('a') }}]"
                       "[{{ '-'.join(['a', 'b']) }}][{{ 'a\\nb\\r\\nc'.splitlines() }}][{{ s.strip().isalpha() }}]",
     {"s": " xabc aba Ünï "}),
    ("qwen3_split", "{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
     {"c": "<think>\nreason\n</think>\n\nanswer"}),
    ("filters_text", "[{{ ' a b ' | trim }}][{{ 'xxhixx' | trim('x') }}][{{ 'hello world' | title }}][{{ 'hELLO' | capitalize }}]"
                     "[{{ 'a-b c' | title }}][{{ 'abc' | upper }}][{{ 'ÀB' | lower }}][{{ 'aaa' | replace('a', 'b', 2) }}]"
                     "[{{ '<a & b>' | e }}][{{ 'x' | safe }}][{{ 'one two three' | wordcount }}][{{ 'abc' | center(9) }}]"
                     "[{{ 'a long sentence here' | truncate(9, leeway=0) }}][{{ 'abc' | reverse }}][{{ '%s-%d' | format('a', 3) }}]", {}),
    ("filters_indent", "[{{ 'a\\nb\\n\\nc' | indent }}][{{ 'a\\nb' | indent(2, true) }}][{{ 'a\\n\\nb' | indent(1, blank=true) }}]"
                       "[{{ 'x\\ny' | indent('>> ') }}]", {}),
    ("filters_seq", "{{ l | length }}{{ l | first }}{{ l | last }}{{ l | join(',') }}{{ l | sort }}{{ l | sort(reverse=true) }}"
                    "{{ l | unique | list }}{{ l | min }}{{ l | max }}{{ l | sum }}{{ l | reverse | list }}{{ l | list }}"
                    "{{ l | batch(2) | list }}{{ [] | first is defined }}{{ l | count }}",
     {"l": [3, 1, 2, 1]}),
    ("filters_attr", "{{ ms | map(attribute='role') | join(' ') }}|{{ ms | selectattr('role', 'equalto', 'user') | list | length }}|"
                     "{{ ms | rejectattr('role', 'in', ['user', 'system']) | map(attribute='content') | first }}|"
                     "{{ ms | selectattr('missing') | list }}|{{ ['a', 'B'] | map('upper') | list }}|"
                     "{{ [1, 2, 3, 4] | select('odd') | list }}|{{ [0, 1, ''] | select | list }}|{{ [1, 2] | reject('even') | list }}|"
                     "{{ ms | sort(attribute='role') | map(attribute='role') | list }}|{{ ms | map(attribute='x', default='d') | list }}",
     {"ms": MSGS}),
    ("filters_convert", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '1.5' | float }} "
                        "{{ 2 | float }} {{ 5 | string }} {{ none | string }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} "
                        "{{ 2.4 | round(method='ceil') }} {{ {'b': 1, 'a': 2} | dictsort }} {{ 'ab' | list }}", {}),
    ("filters_default", "{{ x | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | d('n') }}|"
                        "{{ x | d }}|{{ m.missing | default('m') }}", {"m": {}}),
    ("tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|"
               "{{ 'é\"<>&\\n' | tojson }}|{{ [1.0, 2.5, 1e100, none, true] | tojson }}|{{ {} | tojson(indent=4) }}|"
               "{{ [[], {}] | tojson(indent=1) }}|{{ 'é' | tojson(ensure_ascii=true) }}",
     {"d": {"name": "Zürich", "z": [1, {"k": None}], "a": True}}),
    ("tests", "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}"
              "{{ 1.0 is float }}{{ true is boolean }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}"
              "{{ 4 is divisibleby 2 }}{{ 3 is divisibleby(2) }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}"
              "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ x is not none }}{{ range is callable }}{{ true is true }}"
              "{{ 1 is true }}{{ false is false }}{{ none is sameas none }}{{ 'upper' is filter }}{{ 'odd' is test }}",
     {"x": 1}),
    ("undefined_behaviour", "[{{ u }}][{{ u | length }}][{{ u | trim }}][{{ u | list }}][{% for x in u %}x{% endfor %}]"
                            "[{{ u is defined }}][{{ not u }}][{{ u == u }}][{{ u | default('d') }}][{{ u ~ 'c' }}][{{ 'a' in u }}]", {}),
    ("undefined_attr_error", "{{ u.x }}", {}),
    ("undefined_add_error", "{{ u + 'x' }}", {}),
    ("undefined_item_error", "{{ d.missing.deeper }}", {"d": {}}),
    ("none_attr", "[{{ n.x }}][{{ n.x is defined }}]", {"n": None}),
    ("type_error_concat", "{{ 'a' + 1 }}", {}),
    ("type_error_list_concat", "{{ 'a' + l }}", {"l": [1]}),
    ("tojson_undefined_error", "{{ u | tojson }}", {}),
    ("div_zero", "{{ 1 / 0 }}", {}),
    ("raise", "{{ raise_exception('Roles must alternate: user/assistant') }}", {}),
    ("raise_in_loop", "ok\n{% for m in messages %}\n{% if m.role == 'system' %}\n{{ raise_exception('no system: ' ~ m.content) }}\n"
                      "{% endif %}\n{% endfor %}", {"messages": MSGS}),
    ("unknown_filter", "{{ x | nosuchfilter }}", {}),
    ("unknown_filter_in_if_not_taken", "{% if false %}{{ x | nosuchfilter }}{% endif %}ok", {}),
    ("unknown_filter_in_if_taken", "{% if true %}{{ x | nosuchfilter }}{% endif %}ok", {}),
    ("unknown_test", "{{ x is nosuchtest }}", {}),
    ("unknown_tag", "{% frobnicate %}", {}),
    ("unclosed_if", "{% if true %}never closed", {}),
    ("unclosed_var", "{{ 1 + ", {}),
    ("bad_token", "{{ 1 ! 2 }}", {}),
    ("bad_endfor", "{% if true %}{% endfor %}", {}),
    ("unsafe_append", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("assign_attr_non_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("do_not_enabled", "{% do x %}", {}),
    ("dict_literal_in_print", "{{ {'a': {'b': 1}} }}", {}),
    ("call_undefined", "{{ nosuchfunction() }}", {}),
    ("content_list_trim", "{{ m.content | trim }}", {"m": {"content": [{"type": "text", "text": "hi"}]}}),
    ("strftime_empty", "[{{ strftime_now('') }}]", {}),
    ("range_forms", "{{ range(3) | list }}{{ range(1, 4) | list }}{{ range(5, 0, -2) | list }}", {}),
    ("string_index_nonascii", "{{ s[0] }}{{ s | length }}{{ s[1:] }}", {"s": "日本語"}),
    ("multiline_tag", "{{\n  'a' +\n  'b'\n}}\n{%\n  if true\n%}\nc\n{% endif %}", {}),
    ("loop_in_macro", "{% macro m(xs) %}{% for x in xs %}{{ x }}{% endfor %}{% endmacro %}{{ m([1, 2]) }}", {}),
    ("tuple_print", "{{ 1, 2 }}", {}),
    ("conditional_filter", "{{ (messages | length) if messages else 0 }}", {"messages": MSGS}),
    ("messages_reverse_index", "{% for m in messages[::-1] %}{{ (messages | length - 1) - loop.index0 }}{{ m.role[0] }}{% endfor %}",
     {"messages": MSGS}),
]


def bench(n_iterations=2000):
    """Median seconds to render a 50-turn conversation with the qwen3 template (compiled once)."""
    source = template_source(TEMPLATES["qwen3"][0])
    compiled = ENV.from_string(source)
    messages = conversation_50_turns()
    times = []
    for _ in range(n_iterations):
        t0 = time.perf_counter()
        compiled.render(messages=messages, tools=None, documents=None, add_generation_prompt=True,
                        eos_token="<|im_end|>")
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], len(compiled.render(messages=messages, tools=None, documents=None,
                                                       add_generation_prompt=True, eos_token="<|im_end|>"))


def conversation_50_turns():
    """The benchmark conversation (encore bench template builds the same one)."""
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(50):
        messages.append({"role": "user", "content": f"Question number {i}: what is {i} times {i}?"})
        messages.append({"role": "assistant", "content": f"{i} times {i} is {i * i}."})
    return messages


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "chat"))
    parser.add_argument("--bench", action="store_true", help="time the 50-turn qwen3 render and exit")
    args = parser.parse_args()
    if args.bench:
        seconds, n_chars = bench()
        print(json.dumps({"jinja2": jinja2.__version__, "python": sys.version.split()[0],
                          "qwen3_50_turns_seconds": seconds, "output_chars": n_chars}))
        return

    templates, cases = {}, []
    for name, (path, bos, eos) in TEMPLATES.items():
        templates[name] = {"file": path, "bos_token": bos, "eos_token": eos}
        source = template_source(path)
        special = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
        for conv_name, conversation in CONVERSATIONS.items():
            for extra in [{}] + EXTRAS.get(name, []):
                for add_generation_prompt in (False, True):
                    case = {"template": name, "conversation": conv_name,
                            "add_generation_prompt": add_generation_prompt, "extra": extra}
                    case.update(render(source, conversation, add_generation_prompt, special, extra))
                    cases.append(case)
    snippets = []
    for name, source, variables in SNIPPETS:
        case = {"name": name, "source": source, "vars": variables}
        try:
            case["output"] = ENV.from_string(source).render(**variables)
        except Exception as e:  # noqa: BLE001
            case["error"] = f"{type(e).__name__}: {e}"
        snippets.append(case)

    os.makedirs(args.out, exist_ok=True)
    for file_name, data in (("goldens.json", {"jinja2": jinja2.__version__, "templates": templates,
                                              "conversations": CONVERSATIONS, "cases": cases}),
                            ("snippets.json", {"jinja2": jinja2.__version__, "cases": snippets})):
        path = os.path.join(args.out, file_name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        os.replace(path + ".tmp", path)
    n_errors = sum("error" in c for c in cases)
    print(f"{len(cases)} template cases ({n_errors} errors) over {len(templates)} templates, "
          f"{len(snippets)} snippets -> {args.out}")


if __name__ == "__main__":
    main()
