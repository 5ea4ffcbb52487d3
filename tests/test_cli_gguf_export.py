"""`modern-llm export --format gguf` on a tiny native checkpoint: the file carries the model, tokenizer and chat template,
our importer reads back the weights the quantization keeps, and bad requests are one line with exit code 2."""
import subprocess, sys
import gguf, pytest, torch
from modern_llm.checkpoints import save_model
from modern_llm.loading import load_model
from modern_llm.tokenizer import load_tokenizer
from modern_llm.testing import tiny_pretrained

def cli(*args):
    return subprocess.run([sys.executable, '-m', 'modern_llm', *args], capture_output=True, text=True, timeout=600)

def test_export_gguf_q8_0(tmp_path, monkeypatch):
    monkeypatch.setenv('MODERN_LLM_CACHE', str(tmp_path / 'cache'))   # our importer's conversion of the file stays here
    pre = tiny_pretrained()
    ck = save_model(pre.model, tmp_path / 'tiny.pt', tokenizer={'name': pre.tokenizer_name, 'prompt_style': pre.prompt_style})
    out = tmp_path / 'tiny-q8.gguf'
    p = cli('export', '--model', str(ck), '--out', str(out), '--format', 'gguf', '--quant', 'q8_0')
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip().splitlines()[-1] == str(out)

    r = gguf.GGUFReader(out)
    field = lambda k: r.fields[k].contents()
    assert field('general.architecture') == 'llama' and field('general.file_type') == gguf.LlamaFileType.MOSTLY_Q8_0
    assert (field('tokenizer.ggml.model'), field('tokenizer.ggml.pre'), field('tokenizer.ggml.eos_token_id')) == ('gpt2', 'gpt-2', 2)
    assert field('tokenizer.chat_template') == pre.tokenizer.chat_template
    kinds = {t.name: t.tensor_type for t in r.tensors}
    assert kinds['blk.0.attn_q.weight'] == gguf.GGMLQuantizationType.Q8_0 and kinds['blk.0.attn_norm.weight'] == gguf.GGMLQuantizationType.F32

    back, Q8 = load_model(out), gguf.GGMLQuantizationType.Q8_0
    for k, v in pre.model.state_dict().items():
        kept = v if v.dim() == 1 else torch.from_numpy(gguf.dequantize(gguf.quants.quantize(v.numpy(), Q8), Q8))
        assert torch.equal(back.state_dict()[k], kept), k
    text = 'Exported: 42 tokens, emoji 🎉.'
    assert load_tokenizer(str(out))(text).input_ids == pre.tokenizer(text).input_ids

def test_export_gguf_refusals(tmp_path):
    pre = tiny_pretrained()
    ck = save_model(pre.model, tmp_path / 'tiny.pt', tokenizer={'name': pre.tokenizer_name, 'prompt_style': pre.prompt_style})
    for args, says in [(['--out', str(tmp_path / 'hf'), '--quant', 'q8_0'], '--quant applies to --format gguf only'),
                       (['--out', str(tmp_path / 'dir'), '--format', 'gguf'], 'give a path ending in .gguf')]:
        p = cli('export', '--model', str(ck), *args)
        assert p.returncode == 2 and p.stderr.strip().splitlines() == [f'error: {p.stderr.strip()[7:]}'] and says in p.stderr, p.stderr

@pytest.mark.parametrize('family', ['qwen2', 'qwen3'])
def test_export_gguf_qwen(tmp_path, family):
    "A fine-tuned tiny Qwen2 (biases) or Qwen3 (Q/K norms) as llama.cpp's qwen2/qwen3: transformers' GGUF reader gets our logits."
    from modern_llm.tiny_hf import tiny_hf_model
    from modern_llm.loading import load_pretrained
    from modern_llm.gguf_export import transformers_gguf, logit_gap
    from modern_llm.cli import main   # in this process: the imports once, not per command
    base = tiny_hf_model(family, tmp_path / 'base')
    assert main(['sft', '--config', 'local-smoke', '--base', str(base), '--max-steps', '2', '--lr', '1e-2', '--output-dir', str(tmp_path),
                 '--run-name', 'r']) == 0
    final, out = str(tmp_path / 'r' / 'r-sft_final.pt'), tmp_path / f'{family}.gguf'
    assert main(['export', '--model', final, '--out', str(out), '--format', 'gguf']) == 0
    assert gguf.GGUFReader(out).fields['general.architecture'].contents() == family
    ours, ids = load_pretrained(final).model, torch.randint(3, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): scale = ours.eval()(ids).logits.abs().max().item()
    gap = logit_gap(ours, transformers_gguf(out), ids)
    print(f'{family} GGUF f16: max |Δlogits| {gap:.2e} (logits up to {scale:.2f})')   # shown by pytest -s
    assert gap < 5e-3 * scale
    assert (out.parent / 'README.md').exists() and 'library_name: gguf' in (out.parent / 'README.md').read_text()

def test_export_gguf_refuses_other_architectures(tmp_path):
    from modern_llm.tiny_hf import tiny_hf_model
    p = cli('export', '--model', str(tiny_hf_model('gemma3', tmp_path / 'base')), '--out', str(tmp_path / 'g.gguf'), '--format', 'gguf')
    assert p.returncode == 2 and 'Traceback' not in p.stderr and not (tmp_path / 'g.gguf').exists()
    assert p.stderr.strip().splitlines()[-1].startswith("error: GGUF export writes Llama-architecture models (SmolLM2, TinyLlama, Llama 3.x), "
                                                        "Qwen2 and Qwen3; this is a 'gemma3_text' model."), p.stderr[-500:]
