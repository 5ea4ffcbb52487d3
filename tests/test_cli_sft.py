"""`modern-llm pipeline/sft/generate/eval/export` end to end on a tiny native model, as a user runs them."""
import json, subprocess, sys
from pathlib import Path
import pytest
from modern_llm.checkpoints import save_model
from modern_llm.checkpoints import load_checkpoint
from modern_llm.testing import tiny_pretrained

def cli(*args, ok=True):
    p = subprocess.run([sys.executable, '-m', 'modern_llm', *args], capture_output=True, text=True, timeout=600)
    if ok: assert p.returncode == 0, p.stderr[-3000:]
    return p

@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    d = tmp_path_factory.mktemp('base')
    pre = tiny_pretrained()
    return save_model(pre.model, d / 'tiny.pt', tokenizer={'name': pre.tokenizer_name, 'prompt_style': pre.prompt_style})

def test_pipeline_generate_eval_export(tiny_base, tmp_path):
    common = ['--config', 'local-smoke', '--base', str(tiny_base), '--output-dir', str(tmp_path), '--run-name', 'cli',
              '--max-steps', '4', '--lr', '1e-3']
    p = cli('pipeline', '--stage', 'sft', *common)
    final = Path(p.stdout.strip().splitlines()[-1])
    assert final == tmp_path / 'cli' / 'cli-sft_final.pt' and final.exists()
    run = tmp_path / 'cli'
    for f in ('training.log', 'metrics.jsonl', 'config.json', 'loss_curve.png'): assert (run / f).exists(), f
    assert 'step 4/4' in (run / 'training.log').read_text()
    again = cli('pipeline', '--stage', 'sft', *common)
    assert 'exists, skipped' in again.stderr and again.stdout.strip() == str(final)

    d = cli('data', '--config', 'local-smoke', '--base', str(final), '--output-dir', str(tmp_path), '--run-name', 'data')
    assert 'tokenizer smollm2-135m' in d.stdout   # the tokenizer recorded in the checkpoint
    g = cli('generate', '--model', str(final), '--prompt', 'Say hi.', '--max-new-tokens', '5')
    assert g.stderr.strip().endswith('tokens]')
    e = cli('eval', '--model', str(final), '--base-model', str(tiny_base), '--limit', '1')
    report = json.loads((run / 'eval.json').read_text())
    assert set(report['models']) == {'sft', 'base'} and report['models']['sft']['tasks']['accuracy']['all']['n'] == 12
    x = cli('export', '--model', str(final), '--out', str(tmp_path / 'hf'))
    cfg = json.loads((tmp_path / 'hf' / 'config.json').read_text())
    assert cfg['model_type'] == 'llama' and (tmp_path / 'hf' / 'tokenizer.json').exists()

def test_resume_auto_and_errors(tiny_base, tmp_path):
    common = ['--config', 'local-smoke', '--base', str(tiny_base), '--output-dir', str(tmp_path), '--run-name', 'r', '--lr', '1e-3']
    cli('sft', *common, '--max-steps', '3')
    p = cli('sft', *common, '--max-steps', '6', '--resume', 'auto')
    assert 'resumed from' in (tmp_path / 'r' / 'training.log').read_text()
    assert load_checkpoint(tmp_path / 'r' / 'r-sft_final.pt')['step'] == 6
    bad = cli('sft', *common, '--max-steps', '6', '--resume', str(tmp_path / 'nope.pt'), ok=False)
    assert bad.returncode == 2 and 'nope.pt' in bad.stderr and 'Traceback' not in bad.stderr
    mism = cli('sft', *common, '--max-steps', '9', '--max-length', '96', '--resume', 'auto', ok=False)
    assert mism.returncode == 2 and 'different max_seq_len' in mism.stderr
