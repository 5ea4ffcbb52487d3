"""Integration tests of the native model against transformers on the real SmolLM2-135M weights, and of load errors.

The reference model is transformers' own `LlamaForCausalLM`, filled by transformers' own GGUF reader, so that our
GGUF conversion (dequantisation, Q/K un-permutation, names) is checked independently and not just compared with itself.
"""
import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

import gguf, pytest, torch
from modern_llm.generate import generate, left_pad, prompt_ids
from modern_llm.checkpoints import CheckpointError, load_checkpoint
from modern_llm.model import ModelLoadError
from modern_llm.transformers_models import export_hf
from modern_llm.loading import load_model, load_pretrained
from modern_llm.checkpoints import save_model
from modern_llm.model import ModelConfig, ModernDecoderLM
from modern_llm.tokenizer import smollm2_gguf_path

PROMPTS = ['What is the capital of France?', 'Write a haiku about the sea.',
           'Explain in one sentence why the sky is blue.', 'List three prime numbers.']


@pytest.fixture(scope='module')
def smol():
    return load_pretrained('smollm2-135m')


@pytest.fixture(scope='module')
def reference():
    "transformers' LlamaForCausalLM with weights read by transformers' GGUF loader (about 30 s)."
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    path = str(smollm2_gguf_path())
    cfg = {k: v for k, v in load_gguf_checkpoint(path)['config'].items() if k != 'model_type'}
    ref = LlamaForCausalLM(LlamaConfig(**cfg, attn_implementation='sdpa'))
    state = load_gguf_checkpoint(path, return_tensors=True, model_to_load=ref)['tensors']
    ref.load_state_dict(state, strict=False)  # the tied head is not a separate tensor in the file
    ref.tie_weights()
    return ref.eval()


@pytest.fixture(scope='module')
def batch(smol):
    "The prompts rendered in the model's chat template, right-padded as training batches are."
    rows = [prompt_ids(p, smol.tokenizer, smol.prompt_style) for p in PROMPTS]
    T = max(map(len, rows))
    ids = torch.tensor([r + [smol.tokenizer.pad_token_id] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    return ids, mask


@torch.no_grad()
def test_logits_match_transformers(smol, reference, batch):
    ids, mask = batch
    ours = smol.model(ids, attention_mask=mask).logits
    theirs = reference(input_ids=ids, attention_mask=mask).logits
    delta = (ours - theirs)[mask.bool()].abs().max().item()
    print(f'max |Δlogits| over {int(mask.sum())} real tokens: {delta:.2e}')
    assert delta <= 1e-4


def test_greedy_generation_matches_transformers(smol, reference, batch):
    rows = [r[m.bool()].tolist() for r, m in zip(*batch)]
    ours = generate(smol, rows, max_new_tokens=32)
    ids, mask = left_pad(rows, smol.tokenizer.pad_token_id)
    out = reference.generate(input_ids=ids, attention_mask=mask, max_new_tokens=32, do_sample=False,
                             eos_token_id=smol.tokenizer.eos_token_id, pad_token_id=smol.tokenizer.pad_token_id)
    for mine, theirs in zip(ours, out[:, ids.shape[1]:].tolist()):
        eos = smol.tokenizer.eos_token_id
        theirs = theirs[:theirs.index(eos)] if eos in theirs else theirs
        assert mine.ids == theirs, (smol.tokenizer.decode(mine.ids), smol.tokenizer.decode(theirs))
    assert 'Paris' in ours[0].text


@torch.no_grad()
def test_export_reloads_in_transformers(smol, batch, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = export_hf(smol.model, tmp_path / 'hf', smol.tokenizer, smol.prompt_style)
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids, mask = batch
    real = mask.bool()
    assert (hf(input_ids=ids, attention_mask=mask).logits - smol.model(ids, attention_mask=mask).logits)[real].abs().max() <= 1e-5
    tok = AutoTokenizer.from_pretrained(out)
    msgs = [{'role': 'user', 'content': PROMPTS[0]}]
    assert tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False) == \
        smol.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert hf.generation_config.eos_token_id == smol.tokenizer.eos_token_id


@torch.no_grad()
def test_native_checkpoint_roundtrip(smol, batch, tmp_path):
    path = save_model(smol.model, tmp_path / 'base.pt', tokenizer={'name': 'smollm2-135m', 'prompt_style': 'classic'})
    ck = torch.load(path, weights_only=True)
    assert set(ck) >= {'format_version', 'model_state', 'model_config', 'tokenizer'}
    back = load_pretrained(path)
    assert back.prompt_style == 'classic'   # the style recorded in the checkpoint, not the tokenizer's default
    ids, mask = batch
    assert torch.equal(back.model(ids, attention_mask=mask).logits, smol.model(ids, attention_mask=mask).logits)


def test_load_errors_are_clear(smol, tmp_path):
    with pytest.raises(FileNotFoundError, match="model '.*missing.gguf' does not exist"):
        load_model(tmp_path / 'missing.gguf')
    tiny = ModernDecoderLM(ModelConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=64))
    good = save_model(tiny, tmp_path / 'good.pt')
    (tmp_path / 'cut.pt').write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match='cut.pt: cannot be read; the file is truncated or corrupt'):
        load_model(tmp_path / 'cut.pt')
    w = gguf.GGUFWriter(str(tmp_path / 'bert.gguf'), 'bert')
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    with pytest.raises(ModelLoadError, match="bert.gguf: GGUF architecture 'bert' is not supported"):
        load_model(tmp_path / 'bert.gguf')
    with pytest.raises(ModelLoadError, match="'HuggingFaceTB/not-a-cached-model' is not a local path, offline mode is on"):
        load_model('HuggingFaceTB/not-a-cached-model')
    with pytest.raises(ModelLoadError, match='the tokenizer has 50257 tokens but the model only 49152 embeddings'):
        load_pretrained('smollm2-135m', tokenizer='gpt2-bpe')


def test_wrapped_model_trains_packed_as_unpacked(tmp_path):
    "A wrapped GPT-2 trained by the Trainer on packed rows gives the losses of the same rows padded: two steps of all six rows."
    import json
    from transformers import GPT2Config, GPT2LMHeadModel
    from modern_llm.config import SFTConfig
    from modern_llm.transformers_models import HFCausalLM
    from modern_llm.prompts import Pretrained
    from modern_llm.tokenizer import load_tokenizer, resolve_style
    from modern_llm.train import Trainer
    data = tmp_path / 'rows.jsonl'
    words = 'the sea is blue and the sky is wide so we sail on past the old stone light'.split()
    data.write_text(''.join(json.dumps({'instruction': ' '.join(words[i:i + 4]), 'input': '', 'output': ' '.join(words[i:i + 3 + 2 * i])}) + '\n'
                            for i in range(6)))
    tok = load_tokenizer('smollm2-135m')

    def losses(packing: bool) -> list:
        torch.manual_seed(0)
        hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=2, n_head=4,
                                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.2))
        # no dropout, so both ways compute the same numbers; large weights, so that a leak between documents would show
        pre = Pretrained(HFCausalLM(hf, 'tiny-gpt2'), tok, resolve_style('auto', tok), 'smollm2-135m')
        # all six rows in every step: one packed row of 1,024 tokens, or six padded rows in two micro-batches
        batch = dict(sft_batch_size=1, micro_batch_size=1) if packing else dict(sft_batch_size=6, micro_batch_size=3)
        cfg = SFTConfig(run_name=f'packed-{packing}', output_dir=str(tmp_path), base_model='tiny-gpt2', sft_datasets=[str(data)],
                        eval_fraction=0.0, sft_lr=1e-3, sft_max_steps=2, max_seq_len=1024, warmup_steps=0, forgetting_monitor=False,
                        mixed_precision='fp32', device='cpu', packing=packing, check_memory=False, **batch)
        tr = Trainer(cfg, pre, quiet=True)
        try:
            assert tr.model.packing_mode == 'positions'
            tr.fit()
            return [(h['train_loss'], h['trained_tokens']) for h in tr.history if 'train_loss' in h]
        finally: tr.close()

    packed, padded = losses(True), losses(False)
    assert len(packed) == 2 and [n for _, n in packed] == [n for _, n in padded], (packed, padded)   # the same trained tokens
    assert [l for l, _ in packed] == pytest.approx([l for l, _ in padded], rel=1e-6), (packed, padded)
