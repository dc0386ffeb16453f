#!/usr/bin/env python3
"""Renders small Jinja snippets in transformers' chat-template environment (jinja2 with
trim_blocks, lstrip_blocks, its tojson, raise_exception, namespace, dict) and records the output
or the error, so the Swift interpreter is checked feature by feature against the real thing.

Usage: python3 scripts/chat_template/make_feature_fixtures.py
Writes Tests/TernChatTemplateTests/Data/feature_fixtures.json.
"""

import json
import pathlib

import jinja2
import transformers
from transformers.utils.chat_template_utils import _compile_jinja_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = ROOT / "Tests" / "TernChatTemplateTests" / "Data" / "feature_fixtures.json"

CTX = {
    "s": "  Hello, World  ",
    "n": 7,
    "f": 2.5,
    "items": [3, 1, 2],
    "words": ["b", "A", "a", "c"],
    "d": {"z": 1, "a": [1, 2], "m": {"k": "v"}},
    "msgs": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "user", "content": "bye"},
    ],
    "empty": [],
    "nothing": None,
    "flag": True,
    "uni": "héllo ✓ 日本",
}

# (name, template). Grouped by feature; each is rendered with CTX.
SNIPPETS = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("ws_trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter"),
    ("ws_lstrip_blocks", "a\n    {% if true %}\n    x\n    {% endif %}\nb"),
    ("ws_minus_both", "a   {%- if true -%}   b   {%- endif -%}   c"),
    ("ws_var_minus", "a \n {{- 'x' -}} \n b"),
    ("ws_var_not_lstripped", "a\n    {{ 'x' }}\n"),
    ("ws_plus_disables_lstrip", "a\n    {%+ if true %}x{% endif %}"),
    ("ws_comment_trim", "a\n  {# note #}\nb"),
    ("ws_comment_minus", "a  {#- note -#}  b"),
    ("ws_trailing_newline_dropped", "x\n"),
    ("ws_two_trailing_newlines", "x\n\n"),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n"),
    ("ws_block_after_var", "{{ 'a' }}  {% if true %}b{% endif %}"),
    ("ws_first_line_lstrip", "   {% if true %}x{% endif %}"),
    ("ws_tabs", "\t\t{% for i in [1,2] %}\n\t{{ i }}\n\t\t{% endfor %}\n"),
    ("ws_raw", "{% raw %}{{ not parsed }}{% endraw %}"),
    # literals and output
    ("lit_numbers", "{{ 1 }} {{ -3 }} {{ 1.5 }} {{ 1e3 }} {{ 1_000 }} {{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 12345678901234567.0 }}"),
    ("lit_strings", "{{ 'a\\nb' }}|{{ \"q\\\"\" }}|{{ 'tab\\there' }}|{{ '\\u00e9' }}|{{ 'a' 'b' }}|{{ 'x\\\\y' }}"),
    ("lit_constants", "{{ true }} {{ True }} {{ none }} {{ None }} {{ false }}"),
    ("lit_list_dict", "{{ [1, 'a', none, true, 2.0] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} {{ (1,) }} {{ () }}"),
    ("lit_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"'] }}"),
    ("print_undefined", "[{{ missing }}]"),
    ("print_nested", "{{ d }}"),
    # arithmetic and operators
    ("op_arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 8 }} {{ 2 ** -1 }} {{ 3 * 'ab' }} {{ 1 + 2 * 3 }}"),
    ("op_float_arith", "{{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ f * 2 }} {{ 1 + true }}"),
    ("op_concat", "{{ 'a' ~ 1 ~ none ~ missing ~ [1] }}"),
    ("op_plus_lists", "{{ [1] + [2, 3] }}"),
    ("op_compare_chain", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }}"),
    ("op_in", "{{ 'ell' in 'hello' }} {{ 2 in items }} {{ 'z' in d }} {{ 'q' not in d }} {{ 1 in missing }}"),
    ("op_logic_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ not empty }} {{ not not n }}"),
    ("op_condexpr", "{{ 'y' if flag else 'n' }} {{ 'y' if nothing else 'n' }} [{{ 'y' if nothing }}]"),
    ("op_unary", "{{ -n }} {{ +n }} {{ -(1 + 2) }} {{ - f }}"),
    ("op_precedence_filter", "{{ items|length - 1 }} {{ -1|abs }} {{ 'a' ~ 'b'|upper }}"),
    ("op_str_plus_int_error", "{{ 'a' + 1 }}"),
    ("op_undefined_plus_error", "{{ missing + 1 }}"),
    ("op_div_zero_error", "{{ 1 / 0 }}"),
    ("op_compare_types_error", "{{ 1 < 'a' }}"),
    # attribute and item access
    ("access_attr_item", "{{ d.z }} {{ d['a'][1] }} {{ d.m.k }} {{ msgs[1].content }} {{ msgs[-1]['role'] }} {{ d.a.0 }}"),
    ("access_missing", "[{{ d.nope }}][{{ d['nope'] }}][{{ items[10] }}][{{ 'abc'.nope }}][{{ nothing.x }}]"),
    ("access_missing_defined", "{{ d.nope is defined }} {{ items[10] is defined }} {{ msgs[0].tool_calls is defined }}"),
    ("access_undefined_attr_error", "{{ missing.attr }}"),
    ("access_undefined_item_error", "{{ missing['k'] }}"),
    ("access_string_index", "{{ 'hello'[1] }} {{ 'hello'[-1] }}"),
    ("slice", "{{ items[1:] }} {{ items[:-1] }} {{ items[::-1] }} {{ 'hello'[1:4] }} {{ 'hello'[::-2] }} {{ items[5:] }} {{ msgs[1:3]|length }}"),
    # tests
    ("tests_types", "{{ 's' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ 1.0 is integer }} {{ 1.0 is float }}"),
    ("tests_containers", "{{ d is mapping }} {{ items is mapping }} {{ items is iterable }} {{ 's' is iterable }} {{ 1 is iterable }} {{ items is sequence }} {{ d is sequence }}"),
    ("tests_bool_none", "{{ nothing is none }} {{ missing is none }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ false is false }} {{ 0 is false }}"),
    ("tests_defined", "{{ missing is defined }} {{ missing is undefined }} {{ n is defined }} {{ missing is not defined }}"),
    ("tests_numbers", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"),
    ("tests_compare", "{{ 1 is equalto 1 }} {{ 'a' is eq 'b' }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 2 is ge 2 }} {{ 2 is in [1, 2] }} {{ nothing is sameas none }}"),
    ("tests_strings", "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'Abc' is lower }}"),
    ("tests_not_precedence", "{{ not missing is defined }} {{ not n is defined }}"),
    # filters
    ("f_trim_case", "[{{ s|trim }}] {{ s|upper }} {{ s|lower }} {{ 'hello world'|title }} {{ 'hELLO'|capitalize }} [{{ 'xxhixx'|trim('x') }}]"),
    ("f_length", "{{ items|length }} {{ 'héllo'|length }} {{ d|count }} {{ missing|length }}"),
    ("f_first_last", "{{ items|first }} {{ items|last }} {{ 'abc'|first }} [{{ empty|first }}] {{ d|first }}"),
    ("f_default", "{{ missing|default('dflt') }} {{ n|d('x') }} [{{ ''|default('e') }}] {{ ''|default('e', true) }} {{ nothing|default('none?') }}"),
    ("f_join", "{{ items|join(', ') }} {{ words|join }} {{ msgs|map(attribute='role')|join('/') }} {{ [1, 'a']|join('-') }}"),
    ("f_join_attribute", "{{ msgs|join(',', attribute='role') }}"),
    ("f_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}"),
    ("f_string_list", "{{ 12|string ~ 'x' }} {{ 'ab'|list }} {{ d|list }} {{ missing|list }}"),
    ("f_int_float", "{{ '12'|int }} {{ ' 4 '|int }} {{ '1.9'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }}"),
    ("f_round_abs", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 7|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ -3|abs }} {{ -2.5|abs }}"),
    ("f_items", "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}"),
    ("f_items_undefined", "[{% for k, v in missing|items %}x{% endfor %}]"),
    ("f_items_error", "{{ items|items|list }}"),
    ("f_tojson", "{{ d|tojson }} {{ 'é\"\\n'|tojson }} {{ nothing|tojson }} {{ [1.0, 2.5, true]|tojson }} {{ msgs[2]|tojson }}"),
    ("f_tojson_indent", "{{ d|tojson(indent=2) }}\n{{ {}|tojson(indent=2) }} {{ []|tojson(indent=4) }}"),
    ("f_tojson_options", "{{ d|tojson(separators=(',', ':')) }} {{ d|tojson(sort_keys=true) }} {{ uni|tojson(ensure_ascii=true) }}"),
    ("f_tojson_undefined_error", "{{ missing|tojson }}"),
    ("f_map_select", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }}"),
    ("f_selectattr_truthy", "{{ msgs|selectattr('tool_calls')|list|length }} {{ msgs|selectattr('tool_calls', 'defined')|map(attribute='role')|first }}"),
    ("f_select_reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 5, 9]|select('gt', 3)|list }}"),
    ("f_map_filter", "{{ words|map('upper')|list }} {{ ['1', '2']|map('int')|sum }} {{ msgs|map(attribute='missing', default='-')|list }}"),
    ("f_map_nested_attr", "{{ msgs|selectattr('tool_calls', 'defined')|map(attribute='tool_calls.0.function.name')|list }}"),
    ("f_unique_sort", "{{ words|unique|list }} {{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ items|sort(reverse=true) }} {{ msgs|sort(attribute='role')|map(attribute='content')|list }}"),
    ("f_reverse", "{{ items|reverse|list }} {{ 'abc'|reverse }}"),
    ("f_indent", "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }}"),
    ("f_misc", "{{ '<a & \"b\">'|e }} {{ 'x'|safe }} {{ 'one two  three'|wordcount }} [{{ 'hi'|center(7) }}] {{ items|max }} {{ items|min }} {{ items|sum }} {{ d|dictsort|first }}"),
    ("f_batch_unknown_error", "{{ items|nosuchfilter }}"),
    # methods
    ("m_string", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}] {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}"),
    ("m_string2", "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ 'a-b'.replace('-', '+') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }}"),
    ("m_string3", "{{ '-'.join(['a', 'b']) }} {{ '{} and {}'.format('x', 1) }} {{ '{name}!'.format(name='Bob') }} {{ 'a1'.isalnum() }} {{ '12'.isdigit() }} {{ 'hello world'.title() }} {{ 'a\nb'.splitlines() }} {{ 'a.b.c'.rsplit('.', 1) }}"),
    ("m_string_think", "{% set c = '<think>\nreason\n</think>\n\nanswer' %}[{{ c.split('</think>')[-1].lstrip('\n') }}][{{ c.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') }}]"),
    ("m_dict", "{{ d.get('z') }} {{ d.get('q', 'dflt') }} {{ d.get('q') }} {{ d.keys()|list }} {{ d.values()|list|length }} {% for k, v in d.items() %}{{ k }}{% endfor %}"),
    ("m_list", "{{ items.index(1) }} {{ items.count(3) }}"),
    ("m_append_error", "{% set x = [] %}{{ x.append(1) }}"),
    # loops
    ("loop_vars", "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}"),
    ("loop_else", "{% for x in empty %}x{% else %}empty{% endfor %}|{% for x in missing %}x{% else %}undef{% endfor %}"),
    ("loop_filter", "{% for m in msgs if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }}{{ ',' if not loop.last }}{% endfor %}"),
    ("loop_unpack", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for (k, v) in d.items() %}{{ k }}{% endfor %}"),
    ("loop_dict_string", "{% for k in d %}{{ k }}{% endfor %} {% for c in 'abc' %}{{ c }}.{% endfor %}"),
    ("loop_nested", "{% for i in [1, 2] %}{% for j in [1, 2] %}{{ loop.index }}{{ i }}{% endfor %}{{ loop.index }};{% endfor %}"),
    ("loop_prev_next", "{% for x in items %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }};{% endfor %}"),
    ("loop_cycle", "{% for x in items %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop_scope", "{% set x = 1 %}{% for i in range(3) %}{% set x = x + 1 %}[{{ x }}]{% endfor %}{{ x }}"),
    ("loop_scope_iteration", "{% for i in range(3) %}{% if i == 0 %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}"),
    ("loop_reverse_messages", "{% for m in msgs[::-1] %}{{ (msgs|length - 1) - loop.index0 }}{{ m.role[0] }}{% endfor %}"),
    ("loop_none_error", "{% for x in nothing %}{% endfor %}"),
    ("range", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}"),
    # set, namespace, dict
    ("set_basic", "{% set a = 1 %}{% set b, c = [2, 3] %}{{ a + b + c }}"),
    ("set_block", "{% set block %}Hi {{ n }}!{% endset %}[{{ block }}]"),
    ("set_block_filter", "{% set block | upper %}hi {{ n }}{% endset %}[{{ block }}]"),
    ("set_in_if_toplevel", "{% if true %}{% set v = 'in-if' %}{% endif %}{{ v }}"),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.missing is defined }}"),
    ("namespace_empty_then_set", "{% set ns = namespace() %}{% set ns.index = 0 %}{% set ns.index = ns.index + 5 %}{{ ns.index }}"),
    ("namespace_set_error", "{% set x = 1 %}{% set x.y = 2 %}"),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict(a=1).a }} {{ dict([['k', 'v']]) }}"),
    ("dict_equality", "{{ msgs[1] == {'role': 'user', 'content': 'hi'} }} {{ msgs[1] == {'content': 'hi', 'role': 'user'} }} {{ msgs[1] == msgs[3] }}"),
    # macros and call blocks
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', '?') }} {{ greet(name='Cy', punct='.') }}"),
    ("macro_whitespace", "{% macro m(x) %}\n  [{{ x }}]\n{% endmacro %}\n{{ m(1) }}{{ m(2) }}"),
    ("macro_sees_globals", "{% macro show() %}{{ n }}{% endmacro %}{{ show() }}"),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %}"),
    ("filter_block", "{% filter upper %}shout {{ n }}{% endfilter %}"),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"),
    ("generation_block", "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}"),
    # globals
    ("raise_exception", "{% if true %}{{ raise_exception('Custom failure: ' ~ n) }}{% endif %}"),
    ("strftime_defined", "{{ strftime_now is defined }} {{ strftime_now('%Y')|length }}"),
    # errors that must name a line
    ("err_unknown_tag", "line1\n{% frobnicate %}"),
    ("err_unknown_test", "{{ 1 is frobnicated }}"),
    ("err_unclosed_if", "{% if true %}\nno end"),
    ("err_unclosed_var", "{{ 1 + }}"),
    ("err_call_undefined", "{{ nosuchfunction(1) }}"),
    # edge cases of Python semantics
    ("edge_float_repr_in_list", "{{ [1e16, 1.5e-7, -0.0, 100.0, 3.14159] }} {{ 1e100 }} {{ 3.0 }}"),
    ("edge_repr_escapes", "{{ ['a\\nb', 'tab\\t', '\\x01', 'back\\\\slash'] }}"),
    ("edge_unicode_order", "{{ 'é' > 'z' }} {{ 'B' < 'a' }} {{ ['b', 'é', 'a', 'Z']|sort }}"),
    ("edge_repeat", "[{{ 'abc' * 0 }}] {{ [1, 2] * 2 }} {{ 2 * [0] }}"),
    ("edge_none_string", "{{ none|string }} {{ true|string|upper }} {{ 1.0|string }}"),
    ("edge_namespace_list", "{% set ns = namespace(acc=[]) %}{% for i in range(3) %}{% set ns.acc = ns.acc + [i * 2] %}{% endfor %}{{ ns.acc }}"),
    ("edge_slice_content", "{{ msgs[0]['content'][:2] }} {{ items[-1:0:-1] }} [{{ 'hello'[10:] }}] {{ 'abc'[1:][0] }} {{ items[::2] }}"),
    ("edge_get_chain", "{{ d.get('m', {}).get('k') }} {{ d.get('x', {}).get('k', 'none') }}"),
    ("edge_ws_text_before_tag", "text {% if true %}x{% endif %}\n  {{- 'y' }}\n  z {%- if true %} w{% endif %}"),
    ("edge_ws_multiline_comment", "a\n{# multi\nline\ncomment #}\nb\n  {#- c -#}\n  d"),
    ("edge_ws_block_set", "{%- set x -%}\n  body  \n{%- endset -%}\n[{{ x }}]"),
    ("edge_ws_plus_end", "{% if true +%}\n  x\n{% endif %}"),
    ("edge_ws_nested_loops", "<ul>\n{% for i in [1, 2] %}\n  {% for j in [3] %}\n    <li>{{ i }}{{ j }}</li>\n  {% endfor %}\n{% endfor %}\n</ul>"),
    ("edge_or_length", "{{ (missing or items)|length }} {{ (nothing or 'ab')|length }}"),
    ("edge_pow_assoc", "{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 // 3 * 3 }} {{ 7 - 2 - 1 }} {{ 2 * 3 % 4 }}"),
    ("edge_cond_chain", "{{ 'a' if 0 else 'b' if 0 else 'c' }} [{{ 1 if false }}] {{ 'x' if missing is defined else 'y' }}"),
    ("edge_in_values", "{{ 1 in d.values() }} {{ 'z' in d.keys() }} {{ 1 in (1, 2) }} {{ [1, 2] == (1, 2) }} {{ {'a': 1} == {'a': 1.0} }}"),
    ("edge_items_print", "{{ d.items()|list }} {{ d|items|list|length }} {{ d|dictsort(by='key') }}"),
    ("edge_string_escapes", "{{ '\\x41\\101\\u263a\\U0001F600' }} {{ \"a\" 'b' \"c\" }}"),
    ("edge_sum_start", "{{ [1, 2, 3]|sum(start=10) }} {{ msgs|map(attribute='content')|map('length')|sum }}"),
    ("edge_default_empty", "[{{ missing|default }}] [{{ missing|d(none) }}]"),
    ("edge_round_more", "{{ 0.1|round(1) }} {{ 1.25|round(1) }} {{ 1.35|round(1) }} {{ -2.5|round }} {{ 123.456|round(-1) }}"),
    ("edge_tojson_more", "{{ 'x'|tojson(indent=2) }} {{ msgs[:2]|tojson(indent=2) }} {{ [[], {}, [[]]]|tojson }} {{ (1, 'a')|tojson }}"),
    ("edge_loop_last_bang", "{% for x in range(3) %}{{ x }}{% if loop.last %}!{% endif %}{% endfor %} {{ msgs|map(attribute='role')|unique|list }}"),
    ("edge_split_map_join", "{{ 'Hello World'.split(' ')|map('lower')|join('_') }} {{ msgs|selectattr('content', 'string')|list|length }} {{ range(3)|reverse|list }}"),
    ("edge_loop_filter_items", "{% for k, v in {'a': 1, 'b': 0, 'c': 2}.items() if v > 0 %}{{ k }}{{ loop.length }}{% endfor %}"),
    ("edge_none_compare", "{{ none == none }} {{ none != 0 }} {{ missing == missing2 }} {{ missing == none }}"),
    ("edge_none_order_error", "{{ none < 1 }}"),
    ("edge_macro_loop_caller_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}"),
    ("edge_macro_defaults_expr", "{% macro m(a, b=a * 2, c=none) %}{{ a }},{{ b }},{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, c='z') }}"),
    ("edge_set_tuple_paren", "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 2) %}{{ t }} {{ t[0] }}"),
    ("edge_string_methods_more", "{{ 'a,b'.split(',', 0) }} {{ '  x  y '.split(None, 1) }} {{ 'abc'.startswith('') }} {{ ''.split(',') }} {{ 'aXbXc'.split('X', -1) }}"),
    ("edge_title_capitalize", "{{ \"they're bill's\"|title }} {{ 'hello-world foo_bar'|title }} {{ 'ÉCOLE'|lower }} {{ 'straße'|upper }}"),
    ("edge_is_tests_more", "{{ (1, 2) is sequence }} {{ none is iterable }} {{ d.z is number }} {{ 'a' is in 'abc' }} {{ 3 is not divisibleby 2 }}"),
    ("edge_length_unicode", "{{ '👍🏽'|length }} {{ 'e\u0301'|length }} {{ '日本語'[1] }}"),
    ("edge_format_filter", "{{ '%s-%d'|format('a', 3) }} {{ '%05.2f|%r|%%'|format(3.14159, 'q') }}"),
    ("edge_int_big", "{{ 9007199254740993 }} {{ 2 ** 62 }}"),
    # Markup (|safe, |e): escapes what is added to it with +, prints as text
    ("markup_plus", "{{ ('<b>'|safe) + '<i>' }} {{ '<i>' + ('<b>'|safe) }} {{ ('<b>'|safe) + ('<i>'|safe) }} {{ '<x>'|e + '&' }}"),
    ("markup_tilde_output", "{{ ('<b>'|safe) ~ '<i>' }} {{ '<b>'|safe }} {{ '<b>'|e }} {{ ('a'|safe) * 2 + '<' }}"),
    ("markup_compare_len_json", "{{ ('ab'|safe) == 'ab' }} {{ ('ab'|safe)|length }} {{ ('a\"b'|safe)|tojson }} {{ 'a' in ('abc'|safe) }} {{ ('x'|safe) is string }}"),
    ("markup_set_then_plus", "{% set v = {'k': 1}|tojson|safe %}{{ '<p>' + v }}"),
    ("markup_escape_twice", "{{ '<'|e|e }} {{ ('<'|safe)|e }} {{ ('<'|e)|string + '<' }}"),
    ("err_endif_alone", "{% endif %}"),
    ("err_filter_missing_name", "{{ x | }}"),
    ("err_for_missing_in", "{% for x %}{% endfor %}"),
    ("err_unbalanced_paren", "{{ foo( }}"),
]


def main():
    cases = []
    for name, source in SNIPPETS:
        case = {"name": name, "template": source}
        try:
            case["expected"] = _compile_jinja_template(source).render(**CTX)
        except Exception as error:  # noqa: BLE001 - any failure is an expected error
            case["error"] = f"{type(error).__name__}: {error}"
        cases.append(case)
    out = {
        "generator": "scripts/chat_template/make_feature_fixtures.py",
        "transformers_version": transformers.__version__,
        "jinja2_version": jinja2.__version__,
        "context": CTX,
        "cases": cases,
    }
    TARGET.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} snippets ({sum('error' in c for c in cases)} expected errors)")


if __name__ == "__main__":
    main()
