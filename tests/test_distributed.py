"""torchrun with two CPU processes (gloo) is the same run as one process: a run resumed under torchrun from a
single-process checkpoint continues with the same losses, gradient norms and weights, and only process 0 writes; and
two torchrun "nodes" on this machine (one process each, c10d rendezvous over loopback) train like one process too.
Under FSDP2 (`--distributed fsdp`) 2 and 4 processes train like one, full and LoRA; its sharded step checkpoints resume under
4 processes and under 1 plain process, and a single-file checkpoint resumes under fsdp."""
import json, shutil, socket, subprocess, sys
from pathlib import Path
import pytest
from modern_llm.config import preset, save_config
from modern_llm.checkpoints import save_model
from modern_llm.checkpoints import load_checkpoint
from modern_llm.testing import tiny_pretrained

TORCHRUN = [sys.executable, '-m', 'torch.distributed.run']

def sft(*args, procs=1):
    launcher = [*TORCHRUN, '--standalone', f'--nproc_per_node={procs}'] if procs > 1 else [sys.executable]
    p = subprocess.run([*launcher, '-m', 'modern_llm', 'sft', *args], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p

def sft_on_nodes(*args, nodes=2):
    "`sft` as `nodes` torchrun nodes of one process each, meeting at a free port of 127.0.0.1; node 0's output."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    rdzv = ['--nnodes', str(nodes), '--nproc_per_node', '1', '--rdzv-backend', 'c10d', '--rdzv-endpoint', f'127.0.0.1:{port}']
    ps = [subprocess.Popen([*TORCHRUN, *rdzv, '--node_rank', str(i), '-m', 'modern_llm', 'sft', *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(nodes)]
    outs = [p.communicate(timeout=600) for p in ps]
    for p, (_, err) in zip(ps, outs): assert p.returncode == 0, err[-3000:]
    return outs[0][0]

def records(run_dir):
    return [json.loads(l) for l in (run_dir / 'metrics.jsonl').read_text().splitlines()]

@pytest.fixture(scope='module')
def one_process_run(tmp_path_factory):
    "The config file of a tiny 4-step run, and that run's directory, trained by one process (once for the tests here)."
    tmp_path = tmp_path_factory.mktemp('runs')
    pre = tiny_pretrained()
    base = save_model(pre.model, tmp_path / 'tiny.pt', tokenizer={'name': pre.tokenizer_name, 'prompt_style': pre.prompt_style})
    # 4 micro-batches of 2 rows per step: each of 2 processes runs 2 of them
    cfg = preset('local-smoke', base_model=str(base), output_dir=str(tmp_path), sft_batch_size=8, micro_batch_size=2, sft_max_steps=4,
                 sft_lr=1e-3, mixed_precision='fp32', save_every=2, eval_every=2, log_every=1)
    save_config(cfg, tmp_path / 'cfg.json')
    sft('--config', str(tmp_path / 'cfg.json'), '--run-name', 'one')
    return tmp_path / 'cfg.json', tmp_path / 'one'

def assert_same_training(one, two):
    "Runs `one` and `two` logged the same steps, losses and gradient norms (1e-5) and ended with the same weights."
    a, b = records(one), records(two)
    assert [r['step'] for r in a] == [r['step'] for r in b]
    for x, y in zip(a, b):
        for k in ('train_loss', 'val_loss', 'general_loss'):
            if k in x: assert abs(x[k] - y[k]) < 1e-5, (x['step'], k, x[k], y[k])
        if 'grad_norm' in x:   # a gradient averaged instead of summed over processes would be half as long
            assert abs(x['grad_norm'] - y['grad_norm']) < 1e-5 * x['grad_norm'], (x['step'], x['grad_norm'], y['grad_norm'])
            assert x['trained_tokens'] == y['trained_tokens']
    wa = load_checkpoint(one / f'{one.name}-sft_final.pt')['model_state']
    wb = load_checkpoint(two / f'{two.name}-sft_final.pt')['model_state']
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5

def test_torchrun_resume_matches_single_process(one_process_run):
    cfg, one = one_process_run
    two = one.parent / 'two'
    two.mkdir(); shutil.copy(one / 'one-sft_step2.pt', two / 'two-sft_step2.pt')   # as if run 'two' had stopped at step 2
    p = sft('--config', str(cfg), '--run-name', 'two', '--resume', 'auto', '--report-to', 'tensorboard', procs=2)

    assert p.stdout.splitlines().count(str(two / 'two-sft_final.pt')) == 1, p.stdout   # printed by process 0 alone
    log = (two / 'training.log').read_text()
    assert log.count('resumed from') == 1 and '2 processes' in log and log.count('finished at step 4') == 1
    # the history up to step 2 comes from the checkpoint, then one record per step
    assert_same_training(one, two)
    assert load_checkpoint(two / 'two-sft_final.pt')['step'] == 4
    # only process 0 reports, and a resumed run reports from the step it resumed at
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    assert len(list((two / 'tensorboard').glob('events.out.tfevents.*'))) == 1
    ea = EventAccumulator(str(two / 'tensorboard')); ea.Reload()
    assert sorted({e.step for e in ea.Scalars('train_loss')}) == [3, 4]
    assert [e.value for e in ea.Scalars('train_loss')] == pytest.approx([r['train_loss'] for r in records(two) if r['step'] > 2 and 'train_loss' in r])

def test_two_nodes_train_like_one_process(one_process_run):
    cfg, one = one_process_run
    out = sft_on_nodes('--config', str(cfg), '--run-name', 'nodes')
    nodes = one.parent / 'nodes'
    assert out.splitlines().count(str(nodes / 'nodes-sft_final.pt')) == 1, out   # printed by the first node's process alone
    assert '2 processes' in (nodes / 'training.log').read_text()
    assert_same_training(one, nodes)

@pytest.fixture(scope='module')
def fsdp_two_run(one_process_run):
    "The same run trained by FSDP2 over 2 processes: its directory, with a sharded step checkpoint at step 2."
    cfg, one = one_process_run
    sft('--config', str(cfg), '--run-name', 'fsdp2', '--distributed', 'fsdp', procs=2)
    return one.parent / 'fsdp2'

def test_fsdp_two_processes_train_like_one(one_process_run, fsdp_two_run):
    _, one = one_process_run
    run = fsdp_two_run
    assert '2 processes' in (run / 'training.log').read_text()
    step = run / 'fsdp2-sft_step2'   # a directory of shards beside where the file would be; the final checkpoint stays one file
    assert step.is_dir() and (step / '.metadata').is_file() and (step / 'train_state.pt').is_file()
    assert not (run / 'fsdp2-sft_step2.pt').exists() and (run / 'fsdp2-sft_final.pt').is_file()
    assert set(load_checkpoint(run / 'fsdp2-sft_final.pt')) >= {'model_state', 'optimizer_state', 'config', 'step', 'rng'}
    assert_same_training(one, run)

def test_fsdp_four_processes_train_like_one(one_process_run):
    cfg, one = one_process_run
    sft('--config', str(cfg), '--run-name', 'fsdp4', '--distributed', 'fsdp', procs=4)
    assert_same_training(one, one.parent / 'fsdp4')

@pytest.mark.parametrize('procs', [4, 1])
def test_fsdp_step_checkpoint_resumes_under_another_world(one_process_run, fsdp_two_run, procs):
    cfg, one = one_process_run
    run = one.parent / f'resumed{procs}'
    run.mkdir(); shutil.copytree(fsdp_two_run / 'fsdp2-sft_step2', run / f'{run.name}-sft_step2')   # written by 2 processes
    sft('--config', str(cfg), '--run-name', run.name, '--resume', 'auto', *(['--distributed', 'fsdp'] if procs > 1 else []), procs=procs)
    assert f'resumed from {run / run.name}-sft_step2 at step 2' in (run / 'training.log').read_text()
    assert_same_training(one, run)

def test_fsdp_resumes_single_file_checkpoint(one_process_run):
    cfg, one = one_process_run
    run = one.parent / 'fsdp_from_file'
    run.mkdir(); shutil.copy(one / 'one-sft_step2.pt', run / 'fsdp_from_file-sft_step2.pt')   # written by one process
    sft('--config', str(cfg), '--run-name', run.name, '--resume', 'auto', '--distributed', 'fsdp', procs=2)
    assert_same_training(one, run)

def test_fsdp_lora_trains_like_one_process(one_process_run):
    cfg, one = one_process_run
    # no adapter dropout: each process draws its own masks, so with dropout no two layouts of the work draw the same ones
    lora = ['--config', str(cfg), '--finetune', 'lora', '--lr', '1e-2', '--lora-dropout', '0']
    sft(*lora, '--run-name', 'lora1')
    sft(*lora, '--run-name', 'lora2', '--distributed', 'fsdp', procs=2)
    a, b = one.parent / 'lora1', one.parent / 'lora2'
    assert_same_training(a, b)
    final = load_checkpoint(b / 'lora2-sft_final.pt')
    assert final['adapter']['finetune'] == 'lora' and all('.lora_' in k for k in final['model_state'])   # the adapters alone
