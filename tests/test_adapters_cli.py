"""LoRA and QLoRA as a user runs them: `modern-llm sft --finetune ...`, then export (merged, and as a PEFT adapter that
transformers and PEFT load themselves), generation from the adapter checkpoint, and the memory plan's refusal."""
import subprocess, sys
import pytest, torch
from transformers import AutoModelForCausalLM
from modern_llm.adapters import inject_lora, load_adapter_state
from modern_llm.cli import main
from modern_llm.checkpoints import load_checkpoint
from modern_llm.loading import load_pretrained
from modern_llm.checkpoints import save_model
from modern_llm.testing import tiny_pretrained

IDS = torch.randint(0, 1000, (2, 24), generator=torch.Generator().manual_seed(0))

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "A tiny native base saved as a checkpoint (with SmolLM2's tokenizer), and its transformers export."
    d = tmp_path_factory.mktemp('base')
    pre = tiny_pretrained()
    path = save_model(pre.model, d / 'base.pt', tokenizer={'name': 'smollm2-135m', 'prompt_style': pre.prompt_style})
    assert main(['export', '--model', str(path), '--out', str(d / 'base-hf')]) == 0
    return path, d / 'base-hf'

def train(tmp_path, base_pt, finetune, *extra):
    out = subprocess.run([sys.executable, '-m', 'modern_llm', 'sft', '--config', 'local-smoke', '--base', str(base_pt),
                          '--finetune', finetune, '--lora-r', '4', '--lr', '1e-2', '--max-steps', '4', '--output-dir', str(tmp_path),
                          '--run-name', finetune, *extra], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]

def unmerged(final, base_pt):
    "Base plus adapter, not merged: what training computed."
    ck = load_checkpoint(final)
    model = inject_lora(load_pretrained(base_pt).model, ck['adapter'])
    load_adapter_state(model, ck['model_state'])
    return model.eval()

@pytest.mark.parametrize('extra', [(), ('--dora',)])
def test_lora_exports_merged_and_as_peft_adapter(tmp_path, base, extra, capsys):
    base_pt, base_hf = base
    final = train(tmp_path, base_pt, 'lora', *extra)
    with torch.no_grad():
        ref = unmerged(final, base_pt)(IDS).logits
        assert not torch.allclose(ref, load_pretrained(base_pt).model(IDS).logits)   # the adapter learned something
        assert main(['export', '--model', final, '--out', str(tmp_path / 'merged')]) == 0
        merged = AutoModelForCausalLM.from_pretrained(tmp_path / 'merged').eval()
        assert (merged(input_ids=IDS).logits - ref).abs().max() <= 1e-4
        assert main(['export', '--model', final, '--out', str(tmp_path / 'adapter'), '--format', 'adapter']) == 0
        assert (tmp_path / 'adapter' / 'adapter_config.json').exists() and (tmp_path / 'adapter' / 'adapter_model.safetensors').exists()
        from peft import PeftModel
        peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_hf), tmp_path / 'adapter').eval()
        assert (peft(input_ids=IDS).logits - ref).abs().max() <= 1e-4

def test_qlora_trains_generates_and_exports_into_the_dequantized_base(tmp_path, base, capsys):
    base_pt, _ = base
    final = train(tmp_path, base_pt, 'qlora')
    ck = load_checkpoint(final)
    assert ck['adapter']['finetune'] == 'qlora' and all('.lora_' in k for k in ck['model_state'])
    assert main(['generate', '--model', final, '--prompt', 'Say hi.', '--max-new-tokens', '4']) == 0
    capsys.readouterr()
    assert main(['export', '--model', final, '--out', str(tmp_path / 'merged')]) == 0
    assert 'de-quantized NF4 base' in capsys.readouterr().err
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(tmp_path / 'merged').eval()
        assert (merged(input_ids=IDS).logits - load_pretrained(final).model(IDS).logits).abs().max() <= 1e-4

def test_adapter_on_another_base_is_one_clear_line(tmp_path, base, capsys):
    base_pt, _ = base
    final = train(tmp_path, base_pt, 'lora')
    other = save_model(tiny_pretrained(seed=3).model, tmp_path / 'base.pt', tokenizer={'name': 'smollm2-135m', 'prompt_style': 'chat_template'})
    ck = load_checkpoint(final); ck['adapter']['base']['model'] = str(other)
    from modern_llm.checkpoints import save_checkpoint
    moved = save_checkpoint(tmp_path / 'moved.pt', **{k: v for k, v in ck.items() if k != 'format_version'})
    assert main(['generate', '--model', str(moved), '--prompt', 'hi']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'fingerprint' in err and ck['adapter']['base']['fingerprint'] in err
    assert main(['export', '--model', str(base_pt), '--out', str(tmp_path / 'x'), '--format', 'adapter']) == 2
    assert 'holds no adapter' in capsys.readouterr().err

def test_a_run_that_cannot_fit_is_refused_before_loading(tmp_path):
    "Full fine-tuning of SmolLM2-135M on 16 rows of 64k tokens needs hundreds of GB: refused in seconds, with the cheapest fix."
    cmd = [sys.executable, '-m', 'modern_llm', 'sft', '--config', 'local', '--max-length', '65536', '--batch-size', '16',
           '--micro-batch-size', '16', '--output-dir', str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and 'Traceback' not in out.stderr
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith('error: memory plan: this run needs about') and 'is available;' in err and '--force' in err
    assert not (tmp_path / 'local' / 'config.json').exists()   # nothing was trained or written
