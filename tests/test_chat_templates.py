"""Every chat template that TRL ships with a training twin (`*_training.jinja`, marked with `{% generation %}`): the tokens
we train equal TRL's assistant mask, token for token, apart from differences we make on purpose, each named below."""
import copy, difflib, functools, json, re, shutil, subprocess, sys
from pathlib import Path
import pytest
from modern_llm.data import DataError, Example, Turn
from modern_llm.tokenizer import load_tokenizer, encode_segments
from modern_llm.chat_templates import trl_chat_templates, chat_plan, stop_token_ids, _messages, _CALL, _WEATHER
from modern_llm.chat_turns import training_examples, chat_segments_of

FOLDER = trl_chat_templates()
# vision templates read each message's content as a list of typed parts (text and images); our turns hold text
VISION = {'idefics3', 'llava_next', 'smolvlm'}
FAMILIES = sorted(p.name[:-len('_training.jinja')] for p in FOLDER.glob('*_training.jinja'))
SPECIAL = re.compile(r"<\|[^|'\"\s{}]{1,40}\|>|<｜[^｜'\"]{1,40}｜>|<[a-z_/]{2,20}>|\[gMASK\]|<[A-Z_]{3,40}>|<\|[a-z_]+>|<[a-z_]+\|>")

CONVERSATIONS = {
    'single': Example([Turn('user', 'What is 2+2?'), Turn('assistant', 'It is 4.')]),
    'multi': Example([Turn('user', 'Hi there'), Turn('assistant', 'Hello! How can I help?'), Turn('user', 'Name a color.'),
                      Turn('assistant', 'Blue.')]),
    'system': Example([Turn('user', 'Hi there'), Turn('assistant', 'Hello!'), Turn('user', 'Name a color.'), Turn('assistant', 'Blue.')],
                      system='Be brief.'),
    'reasoning': Example([Turn('user', 'What is 2+2?'), Turn('assistant', 'It is 4.', reasoning='Two plus two is four.'),
                          Turn('user', 'And 3+3?'), Turn('assistant', 'It is 6.', reasoning='Three plus three is six.')]),
    'tools': Example([Turn('user', 'Weather in Oslo?'), Turn('assistant', '', tool_calls=_CALL),
                      Turn('tool', '{"sky": "clear"}', extra={'name': 'get_weather', 'tool_call_id': 'call_1'}),
                      Turn('assistant', 'Clear skies in Oslo.')], tools=_WEATHER)}

# The differences we make on purpose. Our run starts where inference's prompt ends and stops at the end-of-turn marker; TRL's
# mask is what its twin wraps in {% generation %}. A difference is the text only TRL trains before and after the shared text, the
# text only we train before and after it, and whether the shared text is the same tokens.
def D(head='', tail='', ours_head='', ours_tail='', same=True): return (head, tail, ours_head, ours_tail, same)
SAME = D()
NEWLINE = D(tail='\n')                    # TRL also trains the newline the template writes after the end-of-turn marker
PHI3_END = D(tail='\n<|im_end|>')         # ... and after Phi-3's last turn the newline and EOS (SmolLM2's <|im_end|> here)
QWEN25 = D('\n', '\n')                    # TRL's Qwen2.5 twin also trains the newline that ends the generation prompt
HEADER = D('<|start|>assistant')          # TRL trains the assistant header that inference's generation prompt holds
PREFILL = D('<think>\n', '\n')             # TRL trains the `<think>\n` that the generation prompt prefills
# TRL trains the empty think block the no-think generation prompt prefills; and where the reply starts right after the prompt,
# BPE merges whitespace across that boundary in TRL's one encoding, which inference (its prompt encoded alone) never sees
NOTHINK = D('<think>\n\n</think>\n\n', '\n')
NOTHINK_MERGED = D('<think>\n\n</think>\n\n', '\n', same=False)
PREFILL_MERGED = D('<think>\n', '\n', same=False)  # as PREFILL, with TRL's one '\n\n' token across the prompt's end
TOOL_STOP = D(ours_tail='<|tool_response>')          # we train the token a Gemma 4 tool call stops on; TRL does not
# after a tool result Gemma 4's generation prompt is empty, yet its render opens the reply with a model header: we train what
# the template writes after the prompt, header included; TRL trains the reply's text only
TOOL_HEADER = D(tail='\n', ours_head='<|turn>model\n')
# after a tool result DeepSeek's generation prompt is empty and ends with the marker closing the outputs: TRL trains it
OUTPUTS_END = D('<｜tool▁outputs▁end｜>')

# A template that cannot write tool calls renders a calling reply as its bare end-of-turn marker. TRL trains that marker, which
# teaches the model to meet a question with silence; we keep such a reply as untrained context (and warn), so TRL's run for it
# has no counterpart in ours.
UNWRITTEN_CALL = 'a calling reply the template cannot write: TRL trains its bare marker, we keep it as context'

def refused(text): return ('refused', text)
PREFIX = "where its prompt for that reply goes on with '<think>\\n'"   # the generation prompt prefills what no render continues
ALTERNATE = 'Conversation roles must alternate'                       # the template itself raises on a tool turn

EXPECTED = {   # family: (path, {conversation: verdict} where it is not SAME for every conversation)
    'cohere': ('one render', dict(tools=refused(ALTERNATE))),
    'cohere2': ('one render', dict(tools=refused(ALTERNATE))),
    'deepseek_r1_distill': ('per turn', {**dict.fromkeys(CONVERSATIONS, refused(PREFIX)), 'tools': {UNWRITTEN_CALL, OUTPUTS_END}}),
    'deepseekv3': ('per turn', {**dict.fromkeys(CONVERSATIONS, refused(PREFIX)), 'tools': refused('can only concatenate str')}),
    'diffusion_gemma': ('per turn', {**dict.fromkeys(CONVERSATIONS, {NEWLINE}), 'tools': {TOOL_HEADER, TOOL_STOP}}),
    'gemma': ('one render', {**dict.fromkeys(CONVERSATIONS, {NEWLINE}), 'system': refused('System role not supported'),
                             'tools': refused(ALTERNATE)}),
    'gemma3': ('one render', {**dict.fromkeys(CONVERSATIONS, {NEWLINE}), 'tools': refused(ALTERNATE)}),
    'glm4moe': ('per turn', {}),
    'gptoss': ('per turn', dict.fromkeys(CONVERSATIONS, {HEADER})),
    'lfm2': ('one render', {**dict.fromkeys(CONVERSATIONS, {NEWLINE}), 'tools': {UNWRITTEN_CALL, NEWLINE}}),
    'lfm2_v2': ('one render', dict.fromkeys(CONVERSATIONS, {NEWLINE})),
    'llama3': ('one render', {'tools': {UNWRITTEN_CALL, SAME}}),
    'muse_glimmer': ('per turn', dict.fromkeys(CONVERSATIONS, {HEADER})),
    **{f'nemotron_3_{size}': ('per turn', {**dict.fromkeys(CONVERSATIONS, refused(PREFIX)),
                                           'reasoning': {PREFILL}}) for size in ('5_lightning', 'nano', 'super', 'ultra')},
    'phi3': ('one render', {'single': {PHI3_END}, **dict.fromkeys(['multi', 'system', 'reasoning'], {NEWLINE, PHI3_END}),
             'tools': {UNWRITTEN_CALL, PHI3_END}}),
    'phi3_5': ('one render', {'single': {PHI3_END}, **dict.fromkeys(['multi', 'system', 'reasoning'], {NEWLINE, PHI3_END}),
               'tools': {UNWRITTEN_CALL, PHI3_END}}),
    'qwen2_5': ('one render', dict.fromkeys(CONVERSATIONS, {QWEN25})),
    'qwen2_5_vl': ('one render', {**dict.fromkeys(CONVERSATIONS, {NEWLINE}), 'tools': {UNWRITTEN_CALL, NEWLINE}}),
    'qwen3': ('per turn', dict.fromkeys(CONVERSATIONS, {NEWLINE})),
    'qwen3_5_nothink': ('per turn', {**dict.fromkeys(CONVERSATIONS, {NOTHINK_MERGED}), 'tools': {NOTHINK, NOTHINK_MERGED},
                                     'reasoning': refused("where its prompt for that reply goes on with '<think>\\n\\n</think>")}),
    **{f: ('per turn', {**dict.fromkeys(CONVERSATIONS, {PREFILL_MERGED}), 'reasoning': {PREFILL}})
       for f in ('qwen3_5_think', 'qwen3_6', 'qwen3_8')},
    'qwen3_instruct_2507': ('one render', dict.fromkeys(CONVERSATIONS, {NEWLINE})),
    'qwen3_vl': ('one render', dict.fromkeys(CONVERSATIONS, {NEWLINE})),
}

@functools.cache
def family_tokenizer(family: str):
    "SmolLM2's tokenizer with the family's special tokens added and its original template: no download."
    tok = copy.deepcopy(load_tokenizer('smollm2-135m'))
    text = (FOLDER / f'{family}.jinja').read_text() + (FOLDER / f'{family}_training.jinja').read_text()
    tok.add_tokens(sorted(set(SPECIAL.findall(text))), special_tokens=True)
    tok.chat_template = (FOLDER / f'{family}.jinja').read_text()
    return tok

def runs(mask) -> list:
    "(start, end) of each run of trained positions."
    edges = [i for i in range(len(mask) + 1) if (i < len(mask) and mask[i]) != (i > 0 and mask[i - 1])]
    return list(zip(edges[::2], edges[1::2]))

def trl_runs(tok, twin: str, ex: Example) -> list:
    out = tok.apply_chat_template(_messages(ex, len(ex.turns)), chat_template=twin, tools=ex.tools, tokenize=True,
                                  return_dict=True, return_assistant_tokens_mask=True)
    return [out['input_ids'][a:b] for a, b in runs(out['assistant_masks'])]

def difference(tok, ids, a, b, theirs) -> tuple:
    "How TRL's run `theirs` differs from ours, `ids[a:b]`; an AssertionError showing both where that is not a named kind."
    mine, text = tok.decode(ids[a:b]), tok.decode(theirs)
    m = difflib.SequenceMatcher(None, mine, text, autojunk=False).find_longest_match(0, len(mine), 0, len(text))
    ours_head, ours_tail, head, tail = mine[:m.a], mine[m.a + m.size:], text[:m.b], text[m.b + m.size:]
    ok = (m.size and not (ours_head and head) and not (ours_tail and tail) and tok.decode(ids[:a]).endswith(head)
          and (tok.decode(ids[b:]).startswith(tail) or b == len(ids)))   # TRL's extra text is our prompt's end, or what follows
    assert ok, f'ours {mine!r} {ids[a:b]} vs TRL {text!r} {theirs}'
    count = lambda s: len(tok(s, add_special_tokens=False).input_ids) if s else 0
    same = ids[a + count(ours_head):b - count(ours_tail)] == theirs[count(head):len(theirs) - count(tail)]
    return D(head, tail, ours_head, ours_tail, same)

def verdict(family: str, ex: Example):
    "The set of differences from TRL over `ex`'s trained runs, or ('refused', message)."
    tok, twin = family_tokenizer(family), (FOLDER / f'{family}_training.jinja').read_text()
    try:
        units, plan = training_examples(ex, tok), chat_plan(tok)
        found = set()
        for unit, segs in zip(units, chat_segments_of(units, tok)):
            ids, trained = encode_segments(segs, tok)
            mine, theirs = runs(trained), trl_runs(tok, twin, unit)
            calls = [bool(t.tool_calls) for t in unit.turns if t.role == 'assistant']
            if not plan.tools and any(calls):
                theirs = [r for r, call in zip(theirs, calls) if not call]; found.add(UNWRITTEN_CALL)
            if len(units) > 1 or not chat_plan(tok).one_render: mine, theirs = mine[-1:], theirs[-1:]   # the unit's own reply
            assert len(mine) == len(theirs), f'{len(mine)} trained runs, TRL {len(theirs)}'
            found |= {difference(tok, ids, a, b, t) for (a, b), t in zip(mine, theirs)}
        return found
    except DataError as e: return ('refused', str(e))

def test_every_family_is_covered():
    assert set(EXPECTED) == set(FAMILIES) - VISION, set(FAMILIES) - VISION ^ set(EXPECTED)

@pytest.mark.parametrize('family', sorted(EXPECTED))
def test_trained_tokens_match_trl(family, capsys):
    path, verdicts = EXPECTED[family]
    assert ('one render' if chat_plan(family_tokenizer(family)).one_render else 'per turn') == path
    for name, ex in CONVERSATIONS.items():
        want, got = verdicts.get(name, {SAME}), verdict(family, ex)
        if isinstance(want, tuple):   # a refusal: one line naming the template and the fix
            assert isinstance(got, tuple) and want[1] in got[1] and '\n' not in got[1] and family in got[1], (name, got)
            assert 'prompt_style' in got[1], got[1]
        else: assert got == want, (name, got)

EXE = shutil.which('modern-llm') or str(Path(sys.executable).parent / 'modern-llm')

def chat_rows(path: Path, n: int = 6) -> Path:
    rows = [{'messages': [{'role': 'user', 'content': f'Double {i}.'}, {'role': 'assistant', 'content': str(2 * i), 'reasoning_content': 'Add it to itself.'},
                          {'role': 'user', 'content': 'And triple?'}, {'role': 'assistant', 'content': str(3 * i), 'reasoning_content': 'Add it twice.'}]}
            for i in range(n)]
    path.write_text('\n'.join(map(json.dumps, rows)) + '\n')
    return path

def test_cli_refuses_a_template_in_one_line(tmp_path):
    data = chat_rows(tmp_path / 'chat.jsonl')
    for cmd, added in (('data', True), ('sft', False)):   # sft loads SmolLM2's weights: its vocabulary, no tokens added
        tok = family_tokenizer('deepseek_r1_distill') if added else load_tokenizer('smollm2-135m')
        tok.chat_template = (FOLDER / 'deepseek_r1_distill.jinja').read_text()
        tok.save_pretrained(tmp_path / cmd)
        p = subprocess.run([EXE, cmd, '--config', 'local-smoke', '--tokenizer', str(tmp_path / cmd), '--dataset', str(data),
                            '--output-dir', str(tmp_path / 'runs'), '--max-steps', '1'], capture_output=True, text=True, timeout=300)
        lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith('warning:')]
        assert p.returncode == 2 and 'Traceback' not in p.stderr and len(lines) == 1, (cmd, p.returncode, p.stderr[-2000:])
        assert 'deepseek_r1_distill' in lines[0] and 'prompt_style="classic"' in lines[0], lines[0]

def test_cli_reports_the_per_turn_cost(tmp_path):
    tok_dir = tmp_path / 'qwen3'
    family_tokenizer('qwen3').save_pretrained(tok_dir)
    p = subprocess.run([EXE, 'data', '--config', 'local-smoke', '--tokenizer', str(tok_dir), '--dataset', str(chat_rows(tmp_path / 'chat.jsonl', 20)),
                        '--output-dir', str(tmp_path / 'runs'), '--run-name', 'q'], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.loads((tmp_path / 'runs' / 'q' / 'data_report.json').read_text())
    per_turn = [m['per_turn'] for m in rep['masking'].values()]
    assert sum(x['extra_examples'] for x in per_turn) == 20 and all(x['extra_tokens'] > 0 for x in per_turn), rep['masking']
    assert 'one example per reply' in p.stdout
