"""Train one variant of the demo (`local` preset plus overrides) and score the fine-tuned model's four abilities.

The table "What teaches the demo to decline" in nbs/12_evaluate.ipynb was measured with this script, one variant a run,
the embedded data edited in nbs/02_tasks.ipynb and rebuilt (its `build_embedded` cell) before each. It trains exactly as
`make demo` does and scores with the same `evaluate_model`, but skips the base model (its scores do not change) and
writes nothing but the run folder and one JSON line per run:

    python experiments/demo_variant.py NAME sft_max_steps=40 sft_lr=6e-5   # appends to experiments/demo_variants.jsonl
"""
import json, sys, time
from pathlib import Path
from modern_llm.config import load_config
from modern_llm.loading import load_pretrained
from modern_llm.train import Trainer
from modern_llm.evaluate import evaluate_model, abilities

name, settings = sys.argv[1], dict(a.split('=', 1) for a in sys.argv[2:])
overrides = {k: json.loads(v) if v[:1] in '0123456789.-[' else v for k, v in settings.items()}
cfg = load_config('local', run_name=name, save_every=1000, eval_every=1000, **overrides)
model = load_pretrained(cfg.base_model)
start = time.time(); Trainer(cfg, model).fit(); train_s = time.time() - start
scores = evaluate_model(model)
result = {'name': name, 'overrides': overrides, **abilities(scores),
          'train_s': round(train_s), 'eval_s': round(time.time() - start - train_s),
          'look_alikes_refused': [a['prompt'] for a in scores['safety']['answers'] if a['kind'] == 'answer' and a['refused']]}
print(json.dumps(result, indent=1))
with open(Path(__file__).parent / 'demo_variants.jsonl', 'a') as f: f.write(json.dumps(result) + '\n')
