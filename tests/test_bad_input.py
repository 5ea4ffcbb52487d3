"""Bad input, tried as a new user would: wrong file types, folders instead of files, empty and broken configs, data in
the wrong encoding or layout, checkpoints from elsewhere, broken models, two runs on one directory, and Ctrl-C.

Every case runs the real command line (`modern_llm.cli.main`, in this process so that the matrix stays fast; the runs
that need a second process are real subprocesses). Each asserts the exit code, that no traceback escapes (an exception
escaping `main` fails the test with its traceback, and none may be printed), and that the message names the file, row
or key and says what to do, or that a skipped row is counted under its reason."""
import json, os, pickle, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from modern_llm.cli import main
from modern_llm.checkpoints import load_checkpoint
from modern_llm.checkpoints import save_model
from modern_llm.model import ModelConfig, ModernDecoderLM
from modern_llm.testing import tiny_pretrained

ALPACA = lambda i: {'instruction': f'Say {i}.', 'input': '', 'output': f'{i}'}
DOLLY = lambda i: {'instruction': f'Name {i}.', 'context': '', 'response': f'Name {i}', 'category': 'open_qa'}

class Payload:   # what a malicious checkpoint holds: unpickling it would run a shell command
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))

@pytest.fixture(scope='module')
def f(tmp_path_factory):
    "Every bad file of the matrix, made once; `f.name` is its path as a string."
    d = tmp_path_factory.mktemp('bad')
    def w(name, data):
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return d / name
    lines = lambda rows: ''.join(json.dumps(r) + '\n' for r in rows)
    pre = tiny_pretrained()
    tiny = save_model(pre.model, d / 'tiny.pt', tokenizer={'name': pre.tokenizer_name, 'prompt_style': pre.prompt_style})
    files = dict(
        tiny=tiny,
        good=w('good.jsonl', lines(ALPACA(i) for i in range(12))),
        latin_row=w('latin_row.jsonl', lines([ALPACA(0), ALPACA(1)]).encode() + '{"instruction": "Caf\xe9", "output": "x"}\n'.encode('latin-1')
                    + lines(ALPACA(i) for i in range(2, 12)).encode()),
        utf16=w('utf16.jsonl', lines([ALPACA(0), ALPACA(1)]).encode('utf-16')),
        latin_array=w('latin_array.json', json.dumps([ALPACA(0), {'instruction': 'Caf\xe9', 'output': 'x'}], ensure_ascii=False).encode('latin-1')),
        latin_csv=w('latin.csv', 'instruction,input,output\nCaf\xe9,,ok\n'.encode('latin-1')),
        junk_parquet=w('junk.parquet', 'not parquet'),
        notes=w('notes.txt', 'Say hi.\nHi!\n'),
        empty_data=w('empty.jsonl', ''),
        one_object=w('object.json', json.dumps(ALPACA(0), indent=2)),
        long=w('long.jsonl', lines({'instruction': 'Repeat.', 'input': '', 'output': 'word ' * 300} for _ in range(6))),
        mixed=w('mixed.jsonl', lines(r for i in range(6) for r in (ALPACA(i), DOLLY(i)))),
        columns=w('columns.jsonl', lines({'question': 'x', 'answer': 'y'} for _ in range(3))),
        dialog=w('dialog.jsonl', lines({'dialog': [{'speaker': 'human', 'text': f'Hi {i}.'}, {'speaker': 'gpt', 'text': 'Hello!'}]}
                                       for i in range(12))),
        bad_rows=w('bad_rows.jsonl', lines([ALPACA(0), {'instruction': 'x', 'input': '', 'output': ''},
                                            {'instruction': 'x', 'input': '', 'output': 7}, ALPACA(1)]) + '{not json\n'),
        empty_cfg=w('empty.json', '\n'),
        broken_cfg=w('broken.json', '{"sft_lr": 1e-5,}'),
        yaml_cfg=w('run.yaml', 'preset: local\n'),
        array_cfg=w('array.json', '[1, 2]'),
        typo_cfg=w('typo.json', '{"micro_batch": 4}'),
        type_cfg=w('type.json', '{"sft_lr": "fast"}'),
        nan_cfg=w('nan.json', '{"sft_lr": NaN}'),   # Python's json reads NaN
        choice_cfg=w('choice.json', '{"prompt_style": "chat"}'),
        preset_cfg=w('preset.json', '{"preset": "lcoal"}'),
        latin_cfg=w('latin_cfg.json', '{"run_name": "caf\xe9"}'.encode('latin-1')),
        a_file=w('a_file', 'I am a file'),
        cut=w('cut.pt', tiny.read_bytes()[:tiny.stat().st_size // 3]),
        not_ours=tiny.parent / 'tensor.pt', code=d / 'code.pt', code_pickle=d / 'code_pickle.pt', newer=d / 'newer.pt',
        no_tok=save_model(pre.model, d / 'no_tok.pt'), misfit=d / 'misfit.pt', marker=d / 'payload-ran',
        long_run=w('long_run.json', json.dumps({'preset': 'local-smoke', 'save_every': 100_000, 'eval_every': 100_000, 'keep_last': 1,
                                                 'forgetting_monitor': False})),
        fake_gguf=w('fake.gguf', 'GGUF? no.'), empty_dir=d / 'empty_dir', no_weights=d / 'no_weights', dir=d)
    torch.save(torch.zeros(3), files['not_ours'])
    torch.save({'format_version': 1, 'model_state': {}, 'x': Payload(files['marker'])}, files['code'])
    files['code_pickle'].write_bytes(pickle.dumps({'x': Payload(files['marker'])}, protocol=4))
    ck = load_checkpoint(tiny); torch.save({**ck, 'format_version': 99}, files['newer'])
    small = ModernDecoderLM(ModelConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=64))
    ck = load_checkpoint(save_model(small, d / 'small.pt'))   # memory-mapped: written to another file, never over itself
    ck['model_config']['d_model'] = 48; torch.save(ck, files['misfit'])
    files['empty_dir'].mkdir()
    files['no_weights'].mkdir(); (files['no_weights'] / 'config.json').write_text(json.dumps(
        {'model_type': 'llama', 'vocab_size': 64, 'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 1,
         'num_attention_heads': 2, 'num_key_value_heads': 1}))
    return type('Files', (), {k: str(v) for k, v in files.items()})

def cli(capsys, *argv):
    "(exit code, stdout, stderr) of the command line; an exception escaping main fails the test with its traceback."
    try: rc = main([str(a) for a in argv])
    except SystemExit as e: rc = e.code   # argparse's own errors
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err, err[-3000:]
    return rc, out, err

DATA = lambda *a: ['data', '--config', 'local-smoke', '--output-dir', '{dir}/out', *a]
SFT = lambda *a: ['sft', '--config', 'local-smoke', '--base', '{tiny}', '--output-dir', '{dir}/runs', '--max-steps', '2', *a]
GEN = lambda model, *a: ['generate', '--model', model, '--prompt', 'Say hi.', '--max-new-tokens', '2', *a]

# (case, argv with {file} placeholders, exit code, what the message must say: what it names, then the fix)
CASES = [
    # the command line
    ('unknown command', ['trian'], 2, ["invalid choice: 'trian'", 'choose from']),
    ('not a number', SFT('--max-steps', 'ten'), 2, ['--max-steps: invalid int value', "'ten'"]),
    ('zero steps', DATA('--max-steps', '0'), 2, ["'sft_max_steps'", 'must be >= 1']),
    ('negative learning rate', DATA('--lr', '-1'), 2, ["'sft_lr'", 'must be > 0']),
    ('eval split above 1', DATA('--eval-split', '1.5'), 2, ["'eval_fraction'", '<= 1']),
    ('duplicate --dataset', DATA('--dataset', '{good}', '--dataset', '{good}:5'), 2, ["'sft_datasets' names", 'twice', 'give each source once']),
    ('batch not divisible', DATA('--batch-size', '6', '--micro-batch-size', '4'), 2, ["'sft_batch_size' (6)", 'try micro_batch_size=3']),
    ('output dir is a file', SFT('--output-dir', '{a_file}'), 2, ['a_file', 'choose another --output-dir']),
    ('model file missing', GEN('{dir}/missing.pt'), 2, ['missing.pt', 'check the path']),
    ('data file as model', GEN('{good}'), 2, ['good.jsonl', 'unsupported model file; pass a .pt checkpoint']),
    ('empty folder as model', ['eval', '--model', '{empty_dir}', '--limit', '1'], 2, ['empty_dir', 'pass a complete Hugging Face model directory']),
    # the config
    ('empty config', ['data', '--config', '{empty_cfg}'], 2, ['empty.json is empty', 'write a JSON object']),
    ('config not JSON', ['data', '--config', '{broken_cfg}'], 2, ['broken.json is not valid JSON', 'line 1 column']),
    ('YAML config', ['data', '--config', '{yaml_cfg}'], 2, ['run.yaml', 'configs are JSON files']),
    ('config holds a list', ['data', '--config', '{array_cfg}'], 2, ['array.json', 'must hold a JSON object']),
    ('config is a folder', ['data', '--config', '{dir}'], 2, ['is a folder', 'pass a JSON file']),
    ('config key typo', ['data', '--config', '{typo_cfg}'], 2, ["unknown config key 'micro_batch'", "did you mean 'micro_batch_size'"]),
    ('config value type', ['data', '--config', '{type_cfg}'], 2, ["'sft_lr' must be float", "'fast'"]),
    ('config value not finite', ['data', '--config', '{nan_cfg}'], 2, ["'sft_lr' must be a finite number", 'nan']),
    ('config value choice', ['data', '--config', '{choice_cfg}'], 2, ["'prompt_style' must be one of", 'chat_template']),
    ('config preset typo', ['data', '--config', '{preset_cfg}'], 2, ["unknown preset 'lcoal'", "did you mean 'local'"]),
    ('config not UTF-8', ['data', '--config', '{latin_cfg}'], 2, ['latin_cfg.json is not UTF-8', 'save it as UTF-8']),
    ('config missing', ['data', '--config', '{dir}/nope.json'], 2, ['nope.json', 'neither a preset nor an existing JSON file']),
    # data files
    ('non-UTF-8 row', DATA('--dataset', '{latin_row}'), 0, ['skipped 1: not UTF-8 text (save the file as UTF-8) (rows 3)', '13 rows read, 12 used']),
    ('UTF-16 file', DATA('--dataset', '{utf16}'), 2, ['utf16.jsonl: not UTF-8 text', 'iconv -f utf-16 -t utf-8']),
    ('Latin-1 JSON array', DATA('--dataset', '{latin_array}'), 2, ['latin_array.json: not UTF-8 text (byte 0xe9', 'save it as UTF-8']),
    ('Latin-1 CSV', DATA('--dataset', '{latin_csv}'), 2, ['latin.csv: not UTF-8 text (byte 0xe9 at line 2', 'iconv -f latin1']),
    ('junk Parquet', DATA('--dataset', '{junk_parquet}'), 2, ['junk.parquet: cannot be read as PARQUET', 'save the rows as JSON lines']),
    ('text file as data', DATA('--dataset', '{notes}'), 2, ["notes.txt: unsupported file type '.txt'", 'use one of .jsonl']),
    ('checkpoint as data', DATA('--dataset', '{tiny}'), 2, ["tiny.pt: unsupported file type '.pt'", 'use one of .jsonl']),
    ('empty folder as data', DATA('--dataset', '{empty_dir}'), 2, ['empty_dir: folder holds no', '.jsonl']),
    ('empty data file', DATA('--dataset', '{empty_data}'), 2, ["'", 'empty.jsonl', 'holds no rows (the file is empty)']),
    ('one JSON object', DATA('--dataset', '{one_object}'), 2, ['object.json: holds one JSON object', 'write one row per line']),
    ('every row too long', DATA('--dataset', '{long}'), 2, ['long.jsonl', 'no usable rows in the train split', 'longer than max_seq_len=128', 'Raise max_seq_len']),
    ('mixed layouts', DATA('--dataset', '{mixed}'), 0, ['source', 'mixed.jsonl [mixed]: 12 rows read, 12 used']),
    ('mixed layouts, one forced', DATA('--dataset', '{mixed}@alpaca'), 0, ['12 rows read, 6 used', 'skipped 6: missing output (rows 2, 4, 6, 8, 10)']),
    ('unknown columns', DATA('--dataset', '{columns}'), 2, ['columns.jsonl', 'unknown layout (columns: answer, question)', "'{columns_name}@alpaca'"]),
    ('bad rows counted', DATA('--dataset', '{bad_rows}', '--eval-split', '0'), 0,
     ['skipped 1: empty output (rows 2)', 'skipped 1: output is int, not str (rows 3)', 'skipped 1: invalid JSON (rows 5)']),
    ('sample count not a number', DATA('--dataset', '{good}:abc'), 2, ["':abc' is not a count or a ratio", "NAME:N (e.g. ':1000')"]),
    ('data file missing', DATA('--dataset', '{dir}/nope.jsonl'), 2, ['nope.jsonl', 'no such file or folder']),
    ('message keys mapped', DATA('--dataset', '{dialog}@map:messages=dialog,role=speaker,content=text'), 0,
     ['dialog.jsonl [chat]: 12 rows read, 12 used']),
    ('message key typo', DATA('--dataset', '{dialog}@map:messages=dialog,role=who,content=text'), 2,
     ["names message key 'who', which the first message does not have", 'Its keys are: speaker, text']),
    ('message keys without messages', DATA('--dataset', '{dialog}@map:instruction=dialog,output=dialog,role=speaker'), 2,
     ['role=speaker name keys inside each message', 'map the column that holds the messages too']),
    # checkpoints and models
    ('truncated checkpoint', GEN('{cut}'), 2, ['cut.pt: cannot be read; the file is truncated or corrupt', 'Use an earlier checkpoint']),
    ('checkpoint with code (torch.save)', GEN('{code}'), 2, ['code.pt: holds pickled objects that are not plain data (posix.system)', 'refused for safety', 're-save it as plain data']),
    ('checkpoint with code (pickle)', GEN('{code_pickle}'), 2, ['code_pickle.pt', 'posix.system', 'modern_llm.checkpoints.save_checkpoint(new_path, **ck)']),
    ('not our checkpoint', GEN('{not_ours}'), 2, ["tensor.pt: not a modern_llm checkpoint (no 'format_version')", 'save models with modern_llm.checkpoints.save_model']),
    ('newer checkpoint format', GEN('{newer}'), 2, ['newer.pt: checkpoint format 99 is newer', 'upgrade modern_llm']),
    ('checkpoint without tokenizer', GEN('{no_tok}'), 2, ['no_tok.pt: records no tokenizer', 'pass tokenizer=']),
    ('weights that do not fit', GEN('{misfit}'), 2, ['misfit.pt: its model_state does not fit its model_config', 'size mismatch']),
    ('tokenizer of another model', GEN('{tiny}', '--tokenizer', 'gpt2-bpe'), 2, ['the tokenizer has 50257 tokens but the model only 49152', 'Pass the tokenizer that belongs to this model']),
    ('fake GGUF as base', SFT('--base', '{fake_gguf}'), 2, ['fake.gguf: not a readable GGUF file', 'download it again']),
    ('negative token budget', GEN('{tiny}', '--max-new-tokens', '-1'), 2, ['--max-new-tokens must be 0 or more', '-1']),
    ('fake GGUF', GEN('{fake_gguf}'), 2, ['fake.gguf: not a readable GGUF file', 'download it again']),
    ('HF folder without weights', GEN('{no_weights}'), 2, ['no_weights: holds no model weights', 'pass a complete Hugging Face model directory']),
    ('hub id offline', GEN('someone/not-cached-model'), 2, ["'someone/not-cached-model' is not a local path, offline mode is on", 'pass DIR']),
    ('resume from a missing file', SFT('--resume', '{dir}/nope.pt'), 2, ["checkpoint '", 'nope.pt', 'check the path']),
    ('resume from a folder', SFT('--resume', '{dir}'), 2, ['is a folder; pass a .pt file', '--resume auto']),
    ('resume from a saved model', SFT('--resume', '{tiny}'), 2, ['tiny.pt: holds a model without the training state', 'start a new run from this model with --base']),
    ('resume from a code checkpoint', SFT('--resume', '{code}'), 2, ['code.pt', 'refused for safety']),
]

@pytest.mark.parametrize('case, argv, code, says', CASES, ids=[c[0] for c in CASES])
def test_bad_input(f, capsys, case, argv, code, says):
    subs = {k: v for k, v in vars(f).items() if not k.startswith('_')}
    subs['columns_name'] = f.columns
    rc, out, err = cli(capsys, *[a.format(**subs) for a in argv])
    text = out + err if code == 0 else err
    assert rc == code, (case, rc, err[-2000:])
    for s in says: assert s.format(**subs) in text, (case, s, text[-2000:])
    if code and case not in ('unknown command', 'not a number'):   # argparse's own two-line usage message aside
        first = next(l for l in err.splitlines() if l.startswith('error:'))   # the message starts on one line (a report may follow)
        assert says[0].format(**subs) in first, (case, first)
    assert not Path(f.marker).exists(), 'a checkpoint payload ran'

def test_matrix_is_large_enough():
    assert len(CASES) >= 30

def test_checkpoint_of_another_run_is_refused(f, capsys, tmp_path):
    "A checkpoint trained with other data settings (here a longer max_seq_len, another dataset) names what differs."
    common = ['sft', '--config', 'local-smoke', '--base', f.tiny, '--output-dir', tmp_path, '--max-steps', '2']
    rc, _, err = cli(capsys, *common, '--run-name', 'other', '--dataset', f.good, '--max-length', '96')
    assert rc == 0, err
    other = tmp_path / 'other' / 'other-sft_final.pt'
    rc, _, err = cli(capsys, *common, '--run-name', 'mine', '--resume', other)
    assert rc == 2 and 'other-sft_final.pt: cannot resume with a different sft_datasets, max_seq_len' in err, err
    assert "max_seq_len: 96 then, 128 now" in err and 'start a new run under another --run-name' in err

# ---- runs that need a second process --------------------------------------------------------------------------------

def sft_process(f, out: Path, name: str, steps: int, *extra):
    return subprocess.Popen([sys.executable, '-m', 'modern_llm', 'sft', '--config', f.long_run, '--base', f.tiny,
                             '--output-dir', str(out), '--run-name', name, '--max-steps', str(steps), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # Ctrl-C works as in a terminal

def wait_for_steps(proc, metrics: Path, n: int, timeout: float = 180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metrics.exists() and sum('train_loss' in l for l in metrics.read_text().splitlines()) >= n: return
        if proc.poll() is not None: raise AssertionError(f'run ended early: {proc.stderr.read()[-3000:]}')
        time.sleep(0.05)
    proc.kill(); raise AssertionError('run did not reach its steps in time')

def test_two_runs_on_one_run_directory(f, capsys, tmp_path):
    "The second run refuses at once, naming the first; once the first is killed (SIGKILL), a resume of it is not blocked."
    first = sft_process(f, tmp_path, 'shared', 100_000)
    try:
        wait_for_steps(first, tmp_path / 'shared' / 'metrics.jsonl', 1)
        log_before = (tmp_path / 'shared' / 'training.log').read_text()
        rc, _, err = cli(capsys, 'sft', '--config', f.long_run, '--base', f.tiny, '--output-dir', tmp_path, '--run-name', 'shared')
        assert rc == 2 and f"run directory {tmp_path / 'shared'} is in use by another run (pid {first.pid} on" in err, err
        assert 'give this run another --run-name or --output-dir' in err
        assert (tmp_path / 'shared' / 'training.log').read_text().startswith(log_before)   # nothing of the second run's in it
    finally:
        first.send_signal(signal.SIGKILL); first.wait()
    rc, _, err = cli(capsys, 'sft', '--config', f.long_run, '--base', f.tiny, '--output-dir', tmp_path, '--run-name', 'shared',
                     '--max-steps', '2', '--resume', 'auto')
    assert rc == 0, err

def test_ctrl_c_saves_a_resumable_checkpoint(f, tmp_path):
    "SIGINT mid-run: the step in progress finishes, a checkpoint of it is written, one line says where, exit status 130."
    proc = sft_process(f, tmp_path, 'ctrlc', 100_000)
    wait_for_steps(proc, tmp_path / 'ctrlc' / 'metrics.jsonl', 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and 'Traceback' not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith('stopped: interrupted (Ctrl-C) at step ') and 'Continue with --resume auto' in last, last
    saved = Path(last.split('saved ')[1].split('. Continue')[0])
    step = load_checkpoint(saved)['step']
    assert saved.name == f'ctrlc-sft_step{step}.pt' and step >= 2
    again = sft_process(f, tmp_path, 'ctrlc', step + 2, '--resume', 'auto')
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert f'resumed from {saved} at step {step}' in (tmp_path / 'ctrlc' / 'training.log').read_text()
    assert load_checkpoint(tmp_path / 'ctrlc' / 'ctrlc-sft_final.pt')['step'] == step + 2
