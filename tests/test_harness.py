"""lm-evaluation-harness parity: `ModernLM` on our model against the harness's own `hf` model (HFLM) on the transformers
export of the same weights, on the three local tasks: a LoRA adapter checkpoint, a wrapped GPT-2 and chat-formatted
prompts. Then `modern-llm eval --harness` end to end, and its one-line error offline."""
import json
import pytest, torch
from lm_eval.models.huggingface import HFLM
from modern_llm.adapters import inject_lora, adapter_state, target_names, weights_fingerprint
from modern_llm.checkpoints import save_checkpoint
from modern_llm.cli import main
from modern_llm.harness import LOCAL_TASKS, ModernLM, run_harness, request_outputs, task_manager, CLASSIC_CHAT_TEMPLATE
from modern_llm.transformers_models import HFCausalLM
from modern_llm.prompts import Pretrained
from modern_llm.checkpoints import model_config_dict, save_model
from modern_llm.hub_network import offline_mode
from modern_llm.testing import tiny_model
from modern_llm.tokenizer import load_tokenizer

@pytest.fixture(scope='module')
def manager(): return task_manager()

def assert_parity(ours, theirs, tasks=LOCAL_TASKS):
    "Per-request log-likelihoods within 1e-4 (FP32), identical generations, the same metrics."
    a, b = request_outputs(ours['samples']), request_outputs(theirs['samples'])
    for t in tasks:
        assert len(a[t]) == len(b[t]) > 0
        for x, y in zip(a[t], b[t]):
            if isinstance(x, str): assert x == y
            else: assert abs((x[0] if isinstance(x, (list, tuple)) else x) - (y[0] if isinstance(y, (list, tuple)) else y)) < 1e-4
        for k, v in theirs['metrics'][t].items(): assert abs(ours['metrics'][t][k] - v) <= 1e-4 * max(1, abs(v)), (t, k)

def both(ours_model, hf_dir, manager, tasks=LOCAL_TASKS, **kw):
    ours = run_harness(ours_model, tasks, log_samples=True, manager=manager, **kw)
    theirs = run_harness(HFLM(pretrained=str(hf_dir), batch_size=4, dtype='float32', device='cpu'), tasks, log_samples=True,
                         manager=manager, **kw)
    return ours, theirs

@pytest.fixture(scope='module')
def lora(tmp_path_factory):
    "A tiny native base and a LoRA adapter checkpoint on it (B non-zero, so the adapter changes the model), and the merged export."
    d = tmp_path_factory.mktemp('lora')
    tok = load_tokenizer('smollm2-135m')
    base = tiny_model(len(tok), init_std=0.3).eval()
    info = {'name': 'smollm2-135m', 'prompt_style': 'chat_template'}
    base_pt = save_model(base, d / 'base.pt', tokenizer=info)
    spec = dict(finetune='lora', r=4, alpha=8, dropout=0.0, use_dora=False, targets=target_names(base))
    fingerprint = weights_fingerprint(base)
    adapted = inject_lora(base, spec)
    torch.manual_seed(1)
    with torch.no_grad():
        for n, p in adapted.named_parameters():
            if 'lora_B' in n: p.normal_(0, 0.3)
    lora_pt = save_checkpoint(d / 'lora.pt', model_state=adapter_state(adapted), model_config=model_config_dict(tiny_model(len(tok))),
                              adapter={**spec, 'base': {'model': str(base_pt), 'fingerprint': fingerprint}}, tokenizer=info)
    assert main(['export', '--model', str(lora_pt), '--out', str(d / 'lora-hf')]) == 0
    return base_pt, lora_pt, d / 'lora-hf'

def test_lora_checkpoint_matches_hf_on_its_export(lora, manager):
    base_pt, lora_pt, hf_dir = lora
    ours, theirs = both(ModernLM(str(lora_pt), batch_size=4), hf_dir, manager)
    assert_parity(ours, theirs)
    base = run_harness(str(base_pt), ['mllm_text'], manager=manager)['metrics']['mllm_text']
    assert base['byte_perplexity'] != ours['metrics']['mllm_text']['byte_perplexity']   # the adapter is in what was scored

def test_chat_formatted_prompts_match_hf(lora, manager):
    _, lora_pt, hf_dir = lora
    ours, theirs = both(ModernLM(str(lora_pt), batch_size=4), hf_dir, manager, ['mllm_answer', 'mllm_choice'], apply_chat_template=True)
    assert_parity(ours, theirs, ['mllm_answer', 'mllm_choice'])
    assert ours['samples']['mllm_answer'][0]['arguments'][0][0].endswith('<|im_start|>assistant\n')   # rendered by its template

def test_wrapped_gpt2_matches_hf(tmp_path, manager):
    from transformers import GPT2Config, GPT2LMHeadModel
    tok = load_tokenizer('gpt2-bpe')
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=64, n_layer=2, n_head=4, initializer_range=0.3))
    model = HFCausalLM(hf.eval(), 'tiny-gpt2')
    hf.save_pretrained(tmp_path / 'gpt2')
    tok.chat_template = CLASSIC_CHAT_TEMPLATE   # what an export of a classic-style model carries
    tok.save_pretrained(tmp_path / 'gpt2')
    ours, theirs = both(ModernLM(Pretrained(model, tok, 'classic', 'gpt2-bpe'), batch_size=4), tmp_path / 'gpt2', manager)
    assert_parity(ours, theirs)

def test_cli_eval_runs_base_and_sft_side_by_side(lora, tmp_path, capsys):
    base_pt, lora_pt, _ = lora
    assert main(['eval', '--model', str(lora_pt), '--base-model', str(base_pt), '--limit', '1', '--out', str(tmp_path),
                 '--harness', 'mllm_choice,mllm_text', '--harness-limit', '4']) == 0
    rep = json.loads((tmp_path / 'eval.json').read_text())
    assert set(rep['harness']) == {'sft', 'base'} and set(rep['harness']['sft']) == {'mllm_choice', 'mllm_text'}
    assert '| mllm_choice | acc |' in (tmp_path / 'harness.md').read_text()

@pytest.mark.skipif(not offline_mode(), reason='checks the offline message (HF_HUB_OFFLINE=1, as make test sets)')
@pytest.mark.parametrize('task, says', [('arc_easy', 'offline mode is on'), ('no_such_task', 'is unknown')])
def test_cli_task_that_cannot_run_fails_in_one_line(task, says, capsys):
    assert main(['eval', '--model', 'smollm2-135m', '--harness', task]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and task in err and says in err
