"""Checkpoints when the machine misbehaves, on a real size-limited file system (a small tmpfs) and with real signals:
a disk too small for the run is refused before training; a disk that fills up mid-run stops the run with one line,
keeps the previous checkpoint whole and resumes from it; SIGKILL in the middle of a checkpoint write leaves the
previous checkpoint loadable and no temporary file that breaks `--resume auto`."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from modern_llm.checkpoints import load_checkpoint
from modern_llm.checkpoints import save_model
from modern_llm.testing import tiny_pretrained
from modern_llm.training_state import checkpoint_bytes

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    pre = tiny_pretrained()
    return save_model(pre.model, tmp_path_factory.mktemp('base') / 'tiny.pt', tokenizer={'name': pre.tokenizer_name,
                                                                                        'prompt_style': pre.prompt_style})

@pytest.fixture
def small_disk(tmp_path):
    "A function mounting a tmpfs of `mb` megabytes in tmp_path; skips when this machine cannot mount one."
    mounted = []
    def mount(mb: int) -> Path:
        d = tmp_path / f'disk{len(mounted)}'; d.mkdir()
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={mb}m', 'tmpfs', str(d)], capture_output=True, text=True)
        if p.returncode: pytest.skip(f'cannot mount a size-limited tmpfs here (needs root and mount rights): {p.stderr.strip()}')
        mounted.append(d)
        return d
    yield mount
    for d in mounted: subprocess.run(['umount', '-l', str(d)], capture_output=True)

def config(d: Path, **kw) -> Path:
    cfg = {'preset': 'local-smoke', 'sft_max_steps': 6, 'save_every': 2, 'keep_last': 1, 'eval_every': 100,
           'forgetting_monitor': False, 'mixed_precision': 'fp32', **kw}
    (d / 'cfg.json').write_text(json.dumps(cfg))
    return d / 'cfg.json'

def cli(*args, script=None, timeout=300):
    pre = ['-c', script] if script else ['-m', 'modern_llm']
    return subprocess.run([sys.executable, *pre, 'sft', *map(str, args)], capture_output=True, text=True, timeout=timeout)

def test_preflight_refuses_a_disk_too_small(tiny, small_disk, tmp_path):
    full, best = checkpoint_bytes(tiny_pretrained().model)
    disk = small_disk(int((2 * full + full + best) / 2**20) - 10)   # steps 2 and 4 at a time, the final, the best: 10 MB short
    p = cli('--config', config(tmp_path), '--base', tiny, '--output-dir', disk, '--run-name', 'r')
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-3000:]
    err = p.stderr.strip().splitlines()[-1]
    assert err.startswith(f"error: not enough disk space in {disk / 'r'}: ") and 'this run writes about' in err, err
    assert 'keep fewer step checkpoints (keep_last=1, a larger save_every), or choose another --output-dir' in err
    assert not list((disk / 'r').glob('*.pt')) and not (disk / 'r' / 'metrics.jsonl').exists()   # refused before any step

# Fill the disk (leaving 1 MB for the logs) right after step 3: the step-4 checkpoint then cannot be written. The filler is
# a callback of the run, added to the standard ones as a user would add their own.
FILL_AFTER_STEP_3 = """
import shutil, sys
from modern_llm import train
from modern_llm.cli import main
class FillDisk:
    def after_step(self, trainer, record):
        if trainer.step != 3: return
        free = shutil.disk_usage(trainer.cfg.run_dir).free
        with open(trainer.cfg.run_dir.parent / 'ballast', 'wb') as f: f.write(b'\\0' * (free - 2**20))
standard = train.standard_callbacks
train.standard_callbacks = lambda cfg: standard(cfg) + [FillDisk()]
sys.exit(main(sys.argv[1:]))
"""

def test_full_disk_mid_run_keeps_the_previous_checkpoint_and_resumes(tiny, small_disk, tmp_path):
    full, best = checkpoint_bytes(tiny_pretrained().model)
    disk = small_disk(int((3 * full + best) / 2**20) + 20)   # the preflight passes: the run fits on the empty disk
    args = ['--config', config(tmp_path), '--base', tiny, '--output-dir', disk, '--run-name', 'r']
    p = cli(*args, script=FILL_AFTER_STEP_3)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-3000:]
    err = p.stderr.strip().splitlines()[-1]
    run = disk / 'r'
    assert err.startswith(f"error: could not write checkpoint {run / 'r-sft_step4.pt'} at step 4 (no space left on the device: "), err
    assert f"the newest earlier checkpoint, {run / 'r-sft_step2.pt'}, is intact; training stopped" in err and '--resume auto' in err
    assert sorted(x.name for x in run.iterdir() if x.suffix in ('.pt', '.tmp')) == ['r-sft_step2.pt']   # nothing partial left
    assert load_checkpoint(run / 'r-sft_step2.pt')['step'] == 2
    (disk / 'ballast').unlink()
    p = cli(*args, '--resume', 'auto')
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"resumed from {run / 'r-sft_step2.pt'} at step 2" in (run / 'training.log').read_text()
    assert load_checkpoint(run / 'r-sft_final.pt')['step'] == 6

def test_sigkill_during_a_checkpoint_write(tiny, tmp_path):
    """Kill the run while a checkpoint's temporary file exists (the write in progress): the previous checkpoint loads,
    and `--resume auto` ignores and removes the stray temporary file and finishes the run."""
    args = ['--config', config(tmp_path, sft_max_steps=12, save_every=1, keep_last=2), '--base', tiny, '--output-dir', tmp_path / 'runs']
    for attempt in range(8):
        name = f'k{attempt}'
        run = tmp_path / 'runs' / name
        proc = subprocess.Popen([sys.executable, '-m', 'modern_llm', 'sft', *map(str, args), '--run-name', name],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline, tmp = time.time() + 240, None
        while time.time() < deadline and proc.poll() is None and tmp is None:
            if (run / f'{name}-sft_step1.pt').exists():   # a previous checkpoint exists: wait for the next write to begin
                tmp = next((e.path for e in os.scandir(run) if e.name.endswith('.tmp') and '-sft_step' in e.name), None)
            if tmp is None: time.sleep(0.001)
        if tmp is not None: proc.send_signal(signal.SIGKILL)
        proc.wait()
        if tmp is not None and Path(tmp).exists(): break   # killed while the file was being written
    else: pytest.fail('no kill landed inside a checkpoint write in 8 attempts')
    assert proc.returncode == -signal.SIGKILL
    steps = sorted(int(p.stem.rsplit('step', 1)[1]) for p in run.glob(f'{name}-sft_step*.pt'))
    assert steps and all(load_checkpoint(run / f'{name}-sft_step{s}.pt')['step'] == s for s in steps)   # all whole
    p = cli(*args, '--run-name', name, '--resume', 'auto')
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"resumed from {run / f'{name}-sft_step{steps[-1]}.pt'} at step {steps[-1]}" in (run / 'training.log').read_text()
    assert not list(run.glob('.*.tmp')) and load_checkpoint(run / f'{name}-sft_final.pt')["step"] == 12
