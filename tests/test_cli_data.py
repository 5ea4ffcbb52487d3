"""The `modern-llm data` command as a user runs it: a real subprocess, real files, real exit codes."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest
from modern_llm.hub_network import hub_reachable

EXE = shutil.which('modern-llm') or str(Path(sys.executable).parent / 'modern-llm')

def run(*args, env=None, cwd=None):
    t0 = time.time()
    p = subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    return p, time.time() - t0

def test_mixed_local_sources_with_bad_rows(tmp_path):
    alpaca = tmp_path / 'alpaca.jsonl'
    lines = [json.dumps({'instruction': f'Say {i}', 'input': '', 'output': f'{i}'}) for i in range(30)]
    lines += [json.dumps({'instruction': 'empty', 'input': '', 'output': ''}), 'not json']
    alpaca.write_text('\n'.join(lines) + '\n')
    orca = tmp_path / 'orca.csv'
    orca.write_text('system_prompt,question,response\n' + ''.join(f'Be brief.,Q{i}?,A{i}.\n' for i in range(20)))
    p, _ = run('data', '--config', 'local-smoke', '--dataset', f'{alpaca}:20', '--dataset', str(orca),
               '--output-dir', str(tmp_path / 'runs'), '--run-name', 'mix')
    assert p.returncode == 0, p.stderr
    assert 'skipped 1: empty output' in p.stdout and 'skipped 1: invalid JSON (rows 32)' in p.stdout
    rep = json.loads((tmp_path / 'runs' / 'mix' / 'data_report.json').read_text())
    assert [(s['format'], s['used']) for s in rep['sources']] == [('alpaca', 20), ('openorca', 20)]
    assert rep['masking']['train']['kept'] + rep['masking']['eval']['kept'] == 40
    assert json.loads((tmp_path / 'runs' / 'mix' / 'config.json').read_text())['sft_datasets'][0].endswith(':20')

def test_user_errors_are_one_line(tmp_path):
    bad = tmp_path / 'cols.jsonl'
    bad.write_text(json.dumps({'question': 'x', 'answer': 'y'}) + '\n')
    for args, expected in [(['--dataset', str(bad)], 'unknown layout (columns: answer, question)'),
                           (['--dataset', f'{bad}@map:instruction=questoin,output=answer'], "names 'questoin', which the data does not have. Its columns are: answer, question"),
                           (['--dataset', 'Open-Orca/OpenOrca:1000'], "dataset 'Open-Orca/OpenOrca' could not be loaded (offline mode"),
                           (['--dataset', 'embedded:0.5', '--dataset', f'{bad}@map:instruction=question,output=answer:0.6'], 'must add up to 1'),
                           (['--dataset', str(tmp_path / 'missing.jsonl')], 'no such file'),
                           (['--config', 'locl'], "did you mean 'local'"),
                           (['--batch-size', '6', '--micro-batch-size', '4'], 'must be divisible')]:
        p, _ = run('data', '--output-dir', str(tmp_path), *args)
        assert p.returncode == 2 and expected in p.stderr and 'Traceback' not in p.stderr, (args, p.stderr)

@pytest.mark.skipif(hub_reachable(timeout=2), reason='the hub is reachable here; this tests the offline path')
def test_hub_name_fails_fast_offline_even_without_offline_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE')}
    p, seconds = run('data', '--config', 'local-smoke', '--dataset', 'tatsu-lab/alpaca:100', '--output-dir', str(tmp_path), env=env)
    assert p.returncode == 2 and "dataset 'tatsu-lab/alpaca'" in p.stderr and 'local file' in p.stderr
    assert seconds < 20, f'took {seconds:.0f}s to fail'

def test_trl_layouts_column_map_text_rows_and_ratio(tmp_path):
    conv = lambda i: {'prompt': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': f'Double {i}.'}],
                      'completion': [{'role': 'assistant', 'content': str(2 * i)}]}
    chat = lambda i: {'system': 'You count.', 'messages': [{'role': 'user', 'content': f'Count to {i}.'}, {'role': 'assistant', 'content': ' '.join(map(str, range(1, i + 1)))},
                                                           {'role': 'user', 'content': 'And back?'}, {'role': 'assistant', 'content': ' '.join(map(str, range(i, 0, -1)))}]}
    files = {'pc.jsonl': [conv(i) for i in range(10)], 'chat.jsonl': [chat(i) for i in range(1, 11)], 'notes.jsonl': [{'text': f'Note {i}: the tide turns.'} for i in range(10)]}
    for name, rows in files.items(): (tmp_path / name).write_text('\n'.join(map(json.dumps, rows)) + '\n')
    (tmp_path / 'qa.csv').write_text('question,answer\n' + ''.join(f'What is {i} + 1?,{i + 1} apples\n' for i in range(20)))
    data = ['--dataset', str(tmp_path / 'pc.jsonl'), '--dataset', str(tmp_path / 'chat.jsonl'),
            '--dataset', f"{tmp_path / 'qa.csv'}@map:instruction=question,output=answer", '--dataset', f"{tmp_path / 'notes.jsonl'}:0.25"]
    reports = {}
    for train_on in ('all_assistant', 'last_assistant'):
        p, _ = run('data', '--config', 'local-smoke', *data, '--eval-split', '0', '--train-on', train_on, '--output-dir', str(tmp_path / 'runs'), '--run-name', train_on)
        assert p.returncode == 0, p.stderr
        reports[train_on] = json.loads((tmp_path / 'runs' / train_on / 'data_report.json').read_text())
    rep = reports['last_assistant']
    assert [s['format'] for s in rep['sources']] == ['prompt_completion', 'chat', 'alpaca', 'text']
    assert rep['sources'][3]['mixed'] == round(0.25 * 40 / 0.75) and rep['masking']['train']['kept'] == 40 + rep['sources'][3]['mixed']
    assert '25% of the training mix: 13 examples' in p.stdout
    trained = {k: r['lengths']['train']['trained_tokens'] for k, r in reports.items()}
    assert trained['last_assistant'] < trained['all_assistant'], trained
    assert json.loads((tmp_path / 'runs' / 'last_assistant' / 'config.json').read_text())['train_on'] == 'last_assistant'

def test_sharegpt_file_with_the_rows_real_dumps_hold(tmp_path):
    say = lambda who, value: {'from': who, 'value': value}
    good = lambda i: [say('system', 'Be brief.'), say('human', f'Double {i}.'), say('gpt', str(2 * i)),
                      say('human', 'And half?'), say('gpt', str(i / 2))]
    convos = [good(i) for i in range(1, 13)]
    convos += [[say('gpt', 'Part two, as promised:'), say('human', 'Go on.'), say('chatgpt', 'Done.')],   # leading assistant: dropped
               [say('human', 'Hi'), say('bard', 'Hello'), say('human', 'Bye')],                        # trailing user: dropped
               [say('human', 'Hi'), say('narrator', 'Later that day.')], [],                             # stray role; empty
               [say('human', 'a'), say('human', 'b'), say('gpt', 'c')], [say('human', 'Anyone?')]]       # not alternating; no answer
    path = tmp_path / 'sharegpt.jsonl'
    path.write_text('\n'.join(json.dumps({'id': i, 'conversations': c}) for i, c in enumerate(convos)) + '\n')
    p, _ = run('data', '--config', 'local-smoke', '--dataset', str(path), '--eval-split', '0',
               '--output-dir', str(tmp_path / 'runs'), '--run-name', 'sg')
    assert p.returncode == 0, p.stderr
    src = json.loads((tmp_path / 'runs' / 'sg' / 'data_report.json').read_text())['sources'][0]
    assert (src['format'], src['rows'], src['used']) == ('sharegpt', 18, 14)
    reasons = {"unknown role 'narrator'": 15, 'empty conversations': 16, 'roles do not alternate user/assistant': 17, 'no assistant turn': 18}
    assert src['skipped'] == {r: 1 for r in reasons} and src['skipped_rows'] == {r: [row] for r, row in reasons.items()}
    assert src['adjusted'] == {'leading assistant message dropped': 1, 'trailing user message dropped': 1}
    assert src['adjusted_rows'] == {'leading assistant message dropped': [13], 'trailing user message dropped': [14]}
    assert 'adjusted 1: leading assistant message dropped (rows 13)' in p.stdout
    assert "skipped 1: unknown role 'narrator' (rows 15)" in p.stdout
