"""The run notebook in batch, as a user runs it: papermill with tiny parameters; the executed copy is the report."""
import json, os, subprocess, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]

def test_run_notebook_produces_a_report(tmp_path):
    out = tmp_path / 'report.ipynb'
    env = {**os.environ, 'IN_TEST': '1'}
    cmd = [sys.executable, '-m', 'papermill', str(ROOT / 'nbs' / 'sft_run.ipynb'), str(out), '--cwd', str(tmp_path),
           '-p', 'preset', 'local-smoke', '-p', 'max_steps', '2', '-p', 'eval_limit', '1', '-p', 'max_new_tokens', '8',
           '-p', 'output_dir', str(tmp_path / 'runs'), '-p', 'run_name', 'pm',
           '-y', 'report_to: [tensorboard]', '-p', 'neftune_alpha', '5', '-p', 'harness', 'mllm_choice', '-p', 'harness_limit', '2']
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    nb = nbformat.read(out, as_version=4)
    text = '\n'.join(o.get('text', '') if 'text' in o else json.dumps(o.get('data', {}).get('text/markdown', ''))
                     for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []))
    assert 'source embedded' in text and 'val loss' in text and '| model |' in text
    images = sum('image/png' in o.get('data', {}) for c in nb.cells for o in c.get('outputs', []))
    assert images >= 3   # length histogram, loss curve, accuracy comparison
    run = tmp_path / 'runs' / 'pm'
    for f in ('pm-sft_final.pt', 'eval.json', 'samples.md', 'eval_accuracy.png', 'loss_curve.png', 'training.log', 'harness.md'):
        assert (run / f).exists(), f
    report = json.loads((run / 'eval.json').read_text())
    assert set(report['harness']) == {'base', 'sft'} and 'instructions' in report['models']['sft']   # the harness and IFEval ran
    events = list((run / 'tensorboard').glob('events.out.tfevents.*'))   # report_to reached the trainer, then took the harness table
    assert events and any(b'harness_table' in e.read_bytes() for e in events) and any(b'val_loss' in e.read_bytes() for e in events)
    from modern_llm.checkpoints import load_checkpoint
    assert load_checkpoint(run / 'pm-sft_final.pt')['config']['neftune_alpha'] == 5
