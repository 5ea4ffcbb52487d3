"""Every family the transformers wrapper serves, as a user runs it: a tiny random-weight Qwen2, Qwen3, Gemma-3, Phi-3, Mistral
and GPT-2 directory through `sft` (full and LoRA), `generate`, `eval` and `export`. The export loads in transformers (and the
adapter in PEFT, onto the exported base) with our logits, and stops generating at the template's end of turn."""
import json
import pytest, torch
from huggingface_hub import ModelCard
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from modern_llm.cli import main
from modern_llm.transformers_models import CLASSIC_CHAT_TEMPLATE
from modern_llm.tiny_hf import TINY_FAMILIES, tiny_hf_model
from modern_llm.chat_templates import stop_token_ids
from modern_llm.loading import load_pretrained

IDS = torch.randint(3, 1000, (2, 16), generator=torch.Generator().manual_seed(0))

def sft(base, out, name, *extra):
    assert main(['sft', '--config', 'local-smoke', '--base', str(base), '--max-steps', '2', '--output-dir', str(out),
                 '--run-name', name, '--lr', '1e-2', *extra]) == 0
    return out / name / f'{name}-sft_final.pt'

def gap(exported, ours) -> float:
    with torch.no_grad(): return (exported(input_ids=IDS).logits - ours(IDS).logits).abs().max().item()

@pytest.mark.parametrize('family', list(TINY_FAMILIES))
def test_family_from_sft_to_export(family, tmp_path, capsys):
    base = tiny_hf_model(family, tmp_path / 'base')
    final = sft(base, tmp_path, 'full')
    assert main(['generate', '--model', str(final), '--prompt', 'Say hi.', '--max-new-tokens', '4']) == 0
    assert main(['eval', '--model', str(final), '--limit', '1']) == 0
    assert main(['export', '--model', str(final), '--out', str(tmp_path / 'hf')]) == 0
    ours = load_pretrained(final).model.eval()
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / 'hf', dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / 'hf')
    assert type(exported).__name__ == json.loads((base / 'config.json').read_text())['architectures'][0]
    assert gap(exported, ours) <= 1e-4
    assert tok.chat_template == (AutoTokenizer.from_pretrained(base).chat_template or CLASSIC_CHAT_TEMPLATE)   # GPT-2: classic
    stops = GenerationConfig.from_pretrained(tmp_path / 'hf').eos_token_id
    stops = stops if isinstance(stops, list) else [stops]
    assert set(stop_token_ids(tok)) <= set(stops)   # EOS and the end-of-turn marker(s) training stops replies on
    card = ModelCard.load(tmp_path / 'hf' / 'README.md')   # eval ran on this checkpoint: its table is in the card
    assert card.data.library_name == 'transformers' and card.data.tags == ['modern-llm', 'sft', 'full', exported.config.model_type]
    assert 'Mode: **full**, 2 optimizer steps' in card.text and '| embedded |' in card.text and '## Evaluation' in card.text

    lora = sft(base, tmp_path, 'lora', '--finetune', 'lora', '--lora-r', '4')
    assert main(['export', '--model', str(base), '--out', str(tmp_path / 'base-hf')]) == 0
    assert main(['export', '--model', str(lora), '--out', str(tmp_path / 'merged')]) == 0
    assert main(['export', '--model', str(lora), '--out', str(tmp_path / 'adapter'), '--format', 'adapter']) == 0
    from peft import PeftModel
    ours = load_pretrained(lora).model.eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / 'merged', dtype=torch.float32).eval()
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / 'base-hf', dtype=torch.float32),
                                     tmp_path / 'adapter').eval()
    assert gap(merged, ours) <= 1e-4 and gap(peft, ours) <= 1e-4
    card = ModelCard.load(tmp_path / 'adapter' / 'README.md')
    assert card.data.library_name == 'peft' and 'lora' in card.data.tags and '| lora_r | 4 |' in card.text and 'PeftModel' in card.text
    print(f'{family}: max |Δlogits| full {gap(exported, load_pretrained(final).model.eval()):.1e}, '
          f'merged LoRA {gap(merged, ours):.1e}, PEFT adapter {gap(peft, ours):.1e}')   # shown by pytest -s

def test_export_failures_are_one_line(tmp_path, capsys):
    "A wrapped model exports (it ended in a TypeError traceback before); a destination that cannot be written is one line, exit 2."
    base = tiny_hf_model('qwen2', tmp_path / 'base')
    assert main(['export', '--model', str(base), '--out', str(tmp_path / 'hf')]) == 0
    (tmp_path / 'taken').write_text('a file, not a directory')
    capsys.readouterr()
    assert main(['export', '--model', str(base), '--out', str(tmp_path / 'taken')]) == 2
    err = capsys.readouterr().err.strip()   # after transformers' progress bars, one line
    assert 'Traceback' not in err and err.splitlines()[-1].startswith(f"error: export of '{base}' to '{tmp_path / 'taken'}' failed"), err

@pytest.mark.parametrize('family', ['qwen2', 'gpt2'])   # biased projections, and GPT-2's Conv1D ([in, out]) layers
def test_qlora_trains_and_exports_into_the_dequantized_base(family, tmp_path):
    base = tiny_hf_model(family, tmp_path / 'base')
    final = sft(base, tmp_path, 'qlora', '--finetune', 'qlora', '--lora-r', '4')
    assert main(['export', '--model', str(final), '--out', str(tmp_path / 'merged')]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / 'merged', dtype=torch.float32).eval()
    assert gap(merged, load_pretrained(final).model.eval()) <= 1e-4

def test_sigkill_then_resume_is_exact(tmp_path):
    "A Qwen2 run killed mid-way and resumed with --resume auto logs the losses of a run that never stopped."
    import signal, subprocess, sys, time
    base = tiny_hf_model('qwen2', tmp_path / 'base')
    cfg = tmp_path / 'run.json'
    cfg.write_text(json.dumps({'preset': 'local-smoke', 'save_every': 2, 'eval_every': 10, 'mixed_precision': 'fp32'}))
    run = lambda name, *extra: [sys.executable, '-m', 'modern_llm', 'sft', '--config', str(cfg), '--base', str(base),
                                '--max-steps', '16', '--output-dir', str(tmp_path), '--run-name', name, '--lr', '1e-3', *extra]
    subprocess.run(run('ref'), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(run('killed'), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (tmp_path / 'killed' / 'killed-sft_step4.pt').exists() and time.time() < deadline: time.sleep(0.05)
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert not (tmp_path / 'killed' / 'killed-sft_final.pt').exists(), 'the run finished before it was killed; the test proves nothing'
    subprocess.run(run('killed', '--resume', 'auto'), check=True, capture_output=True, timeout=300)
    losses = lambda name: {r['step']: r['train_loss'] for r in map(json.loads, (tmp_path / name / 'metrics.jsonl').read_text().splitlines())
                           if 'train_loss' in r}
    a, b = losses('ref'), losses('killed')
    assert sorted(b) == sorted(a) == list(range(1, 17)) and all(abs(a[s] - b[s]) < 1e-6 for s in a), (a, b)

def test_push_to_hub_offline_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    base = tiny_hf_model('qwen2', tmp_path / 'base')
    capsys.readouterr()
    assert main(['export', '--model', str(base), '--out', str(tmp_path / 'hf'), '--push-to-hub', 'someone/tiny']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --push-to-hub someone/tiny: offline mode is on (HF_HUB_OFFLINE); export without it, then upload the "
                   f"folder where you have internet (`hf upload someone/tiny {tmp_path / 'hf'}`)"]
    assert not (tmp_path / 'hf').exists()
