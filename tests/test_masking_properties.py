"""Invariants 1-3 on real tokenizers (SmolLM2's and GPT-2's) over generated awkward text."""
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st
from modern_llm.data import Example, Turn, SkipRow
from modern_llm.tokenizer import load_tokenizer, encode_segments
from modern_llm.prompts import segments
from modern_llm.chat_templates import _messages
from modern_llm.masking import check_masking, truncate_example, labels_of, IGNORE
from modern_llm.tokenized import tokenize_examples

TOKENIZERS = {name: load_tokenizer(name) for name in ('smollm2-135m', 'gpt2-bpe')}

pieces = st.sampled_from([' ', '  ', '\n', '\n\n', '\t', '.', ',', '!', '?', '"', "'", '```', 'def f(x):\n    return x',
                          '😀', '日本語', 'naïve', 'café', '### Response:', '<b>', '{"a": 1}', '-', '1.5', ' 42', 'word',
                          'Word', 'the', ' and', '\\n', '#'])
text = st.lists(pieces, min_size=0, max_size=12).map(''.join)
nonblank = text.filter(lambda s: s.strip() != '')

@st.composite
def examples(draw):
    n_turns = draw(st.integers(1, 3))
    turns = []
    for _ in range(n_turns):
        turns += [Turn('user', draw(nonblank), draw(text)), Turn('assistant', draw(nonblank))]
    return Example(turns, system=draw(st.one_of(st.just(''), nonblank)))

@pytest.mark.parametrize('name', list(TOKENIZERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ex=examples())
def test_prompt_prefix_and_exact_labels(name, ex):
    check_masking(ex, TOKENIZERS[name])

@pytest.mark.parametrize('name', list(TOKENIZERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ex=examples(), flags=st.lists(st.booleans(), min_size=3, max_size=3), doc=nonblank)
def test_untrained_turns_and_text_rows_keep_the_invariants(name, ex, flags, doc):
    """Assistant turns marked untrained (TRL prompt context, train_on='last_assistant') stay prompt; text rows train every token."""
    answers = [t for t in ex.turns if t.role == 'assistant']
    for t, f in zip(answers, flags): t.train = f
    check_masking(ex, TOKENIZERS[name])
    check_masking(Example([Turn('text', doc)]), TOKENIZERS[name])

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ex=examples())
def test_one_render_cut_gives_the_prompts_inference_renders(ex):
    """Invariant 1 at the text level: cutting one render of the conversation gives, before each reply, exactly what
    apply_chat_template renders for the conversation so far with the generation prompt."""
    tok = TOKENIZERS['smollm2-135m']
    segs = segments(ex, tok)
    cut = [''.join(s.text for s in segs[:k + 1]) for k in range(0, len(segs), 2)]
    assert cut == [tok.apply_chat_template(_messages(ex, i), tokenize=False, add_generation_prompt=True)
                   for i, t in enumerate(ex.turns) if t.role == 'assistant']

@pytest.mark.parametrize('name', list(TOKENIZERS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exs=st.lists(examples(), min_size=1, max_size=6))
def test_batched_tokenization_matches_row_by_row(name, exs):
    tok = TOKENIZERS[name]
    data = tokenize_examples(exs, tok, max_seq_len=100_000)
    assert len(data) == len(exs)
    for i, ex in enumerate(exs):
        ids, trained = encode_segments(segments(ex, tok), tok)
        assert data.row(i)[0].tolist() == ids and data.row(i)[1].tolist() == trained

@pytest.mark.parametrize('name', list(TOKENIZERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ex=examples(), max_len=st.integers(16, 120))
def test_truncation_keeps_whole_responses_or_skips(name, ex, max_len):
    """Invariant 3: a row either fits with every kept response whole and trained, or is skipped with a reason."""
    tok = TOKENIZERS[name]
    try: ids, trained, _ = truncate_example(ex, tok, 'auto', max_len)
    except SkipRow as e:
        assert 'max_seq_len' in e.reason
        return
    assert len(ids) <= max_len and any(trained)
    labels = labels_of(ids, trained)
    eos = tok.eos_token_id
    assert labels[labels != IGNORE].tolist().count(eos) >= 1   # every kept response ends in a trained EOS
