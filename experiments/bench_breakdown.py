"""Per-step time split of `modern-llm bench`'s `ours` and `trl-packed`, interleaved in one process (one ours step after
each TRL step), so the shared machine's noise hits both alike. Same setup as the bench (`run_ours`, `trl_config`).

    OMP_NUM_THREADS=2 nice -n 5 .venv/bin/python experiments/bench_breakdown.py [--pairs 3] [--fp32]

Components: collate (ours: next micro-batch of the stream; TRL: its data collator), backbone forward (model call minus
the loss head), loss head forward, loss head backward (backward start until the head's input gradient exists),
backbone backward (the rest of backward), optimizer step (AdamW's own step), other (the step's wall time minus all
those: counting, clipping, scheduler, TRL's metrics and trainer loop)."""
import argparse, dataclasses, statistics, tempfile, time
import numpy as np
from collections import defaultdict
import torch

p = argparse.ArgumentParser()
p.add_argument('--pairs', type=int, default=3)
p.add_argument('--workdir', default='experiments/bench')
p.add_argument('--fp32', action='store_true', help='FP32 for both, instead of the faster precision the bench picks')
a = p.parse_args()
torch.set_num_threads(2)

from modern_llm.bench.spec import BenchSpec, prepare, rows_per_step, DTYPE_NAMES, fastest_dtype
from modern_llm.bench.contenders import bench_data, hf_model, hf_tokenizer_and_config
from modern_llm.bench.trl_trainer import trl_config, trl_dataset, trl_attention, batch_documents
import modern_llm.model as mm
import trl.trainer.utils as tu
import modern_llm.bench.trl_trainer as bt
if a.fp32: fastest_dtype = bt.fastest_dtype = lambda device: torch.float32

spec = BenchSpec(workdir=a.workdir, warmup=1, steps=a.pairs)
prepare(spec)
T = defaultdict(lambda: defaultdict(list))   # T[who][component] -> per-step seconds
cur = {'who': None}
acc = defaultdict(lambda: np.zeros(2))       # this step's running sums of (wall, CPU) seconds
marks = {}
def now(): return np.array([time.perf_counter(), time.process_time()])   # CPU time: all threads, robust to others' load

def add(k, dt): acc[k] += dt

def timed_head(fn):
    "Time a loss head `fn(hidden, ...)` forward, and mark when the gradient of its input `hidden` arrives."
    def run(hidden, *args, **kw):
        t = now(); out = fn(hidden, *args, **kw); add('head fwd', now() - t)
        if hidden.requires_grad: hidden.register_hook(lambda g: marks.__setitem__('head grad', now()))
        marks.setdefault('head rows', hidden.reshape(-1, hidden.shape[-1]).shape[0])   # ours sets it first
        return out
    return run

orig_shifted = mm.shifted_loss   # ours: the head scores the trained positions (CPU path)
mm.shifted_loss = lambda hidden, labels, head, chunk=mm.LOSS_CHUNK: timed_head(
    lambda h, l, hd, c: orig_shifted(h, l, hd, c))(hidden, labels, head, chunk)
# ours: count the rows the head projects (the trained positions), not the hidden states it gets
orig_trained = mm.trained_positions
def counting_trained(hidden, labels):
    h, t, n = orig_trained(hidden, labels); marks['head rows'] = h.shape[0]; return h, t, n
mm.trained_positions = counting_trained

class TimedChunked:   # TRL: its fused head's autograd function, as `add_fused_lm_head` calls it
    apply = staticmethod(timed_head(tu._ChunkedLogProbFunction.apply))
tu._ChunkedLogProbFunction = TimedChunked

orig_backward = torch.Tensor.backward
def timed_backward(self, *args, **kw):
    t = now(); orig_backward(self, *args, **kw); end = now()
    g = marks.pop('head grad', t)
    add('head bwd', g - t); add('backbone bwd', end - g)
torch.Tensor.backward = timed_backward

def time_model(model):
    "Forward hooks: the model call's time, of which the head's is subtracted later."
    model.register_forward_pre_hook(lambda m, i: marks.__setitem__('fwd', now()))
    model.register_forward_hook(lambda m, i, o: add('model fwd', now() - marks['fwd']))

def time_optimizer(opt):
    opt.register_step_pre_hook(lambda o, a, k: marks.__setitem__('opt', now()))
    opt.register_step_post_hook(lambda o, a, k: add('optimizer', now() - marks['opt']))

def close_step(who, total, real, trained):
    s = dict(acc); acc.clear()
    fwd = s.pop('model fwd'); s['backbone fwd'] = fwd - s['head fwd']
    s['other'] = total - sum(s.values()); s['step'] = total
    s['real tokens'], s['trained tokens'], s['head rows'] = real, trained, marks.pop('head rows')
    for k, v in s.items(): T[who][k].append(v)

# ours, as run_ours builds it
from modern_llm.config import SFTConfig
from modern_llm.hub import load_pretrained
from modern_llm.train import Trainer
from modern_llm.step import train_step
import modern_llm.step as ms
from modern_llm.bench.spec import LORA
ours_dir = tempfile.mkdtemp()
dtype = fastest_dtype(spec.torch_device)
cfg = SFTConfig(run_name='bench-ours', output_dir=ours_dir, base_model=str(spec.hf_dir), sft_datasets=[str(spec.data_path)],
                eval_fraction=0.0, sft_lr=spec.lr, sft_max_steps=100, max_seq_len=spec.max_len, sft_batch_size=1,
                micro_batch_size=1, warmup_steps=0, forgetting_monitor=False, seed=spec.seed,
                mixed_precision=DTYPE_NAMES[dtype], device=str(spec.torch_device), finetune='full', **LORA)
tr = Trainer(cfg, load_pretrained(spec.hf_dir), quiet=True)
n_ours = rows_per_step(spec, float(tr.data.train.lengths.mean()))
tr.stream = tr.data.stream(dataclasses.replace(cfg, sft_batch_size=n_ours, micro_batch_size=n_ours))
time_model(tr.model); time_optimizer(tr.opt)

def timed(key, fn):
    def run(*args, **kw):
        t = now(); out = fn(*args, **kw); add(key, now() - t); return out
    return run
ms.clip_gradients = timed('clip', ms.clip_gradients)

def ours_step():
    t = now(); b = next(tr.stream); add('collate', now() - t)
    r = train_step(tr.model, [b], tr.opt, tr.sched, tr.device, tr.amp, cfg.grad_clip)
    close_step('ours', now() - t, r['real_tokens'], r['trained_tokens'])

# TRL, as run_trl builds trl-packed; one ours step runs inside each of its on_step_end calls
from trl import SFTTrainer
from transformers import TrainerCallback
tok, c = hf_tokenizer_and_config(spec)
mean_len = float(bench_data(spec, tok).lengths.mean())
counts, last = [], {}

class Interleave(TrainerCallback):
    def on_train_begin(self, args, state, control, optimizer=None, **kw): time_optimizer(getattr(optimizer, 'optimizer', optimizer))
    def on_step_end(self, args, state, control, **kw):
        real, _, _, trained = counts[state.global_step - 1]
        close_step('trl', now() - last['t'], real, trained)
        ours_step()
        last['t'] = now()

with tempfile.TemporaryDirectory() as out:
    args, own = trl_config(spec, 'trl-packed', out, mean_len)
    model = hf_model(spec, attn_implementation=trl_attention(spec.torch_device, args.padding_free))
    trainer = SFTTrainer(model=model, args=args, train_dataset=trl_dataset(spec), processing_class=tok, callbacks=[Interleave()])
    time_model(trainer.model)
    trainer._clip_grad_norm = timed('clip', trainer._clip_grad_norm)
    collate = trainer.data_collator
    def counting(examples):
        t = now(); b = collate(examples); add('collate', now() - t)
        counts.append(batch_documents(b) + (int((b['labels'][:, 1:] != -100).sum()),)); return b
    trainer.data_collator = counting
    print('ours: rows/step', n_ours, 'dtype', DTYPE_NAMES[dtype], '| TRL:', own, 'attention', model.config._attn_implementation,
          'optim', args.optim, 'gradient_checkpointing', args.gradient_checkpointing, 'dtype', model.dtype)
    last['t'] = now()
    trainer.train()

ORDER = ['collate', 'backbone fwd', 'head fwd', 'head bwd', 'backbone bwd', 'clip', 'optimizer', 'other', 'step']
med = statistics.median
for clock, name in ((1, 'CPU seconds (both threads)'), (0, 'wall seconds')):
    print(f"\n{name}, median of the timed steps\n{'component':14} {'ours':>8} {'TRL':>8} {'TRL/ours':>8}   per pair")
    for k in ORDER:
        o, t = [x[clock] for x in T['ours'][k][1:]], [x[clock] for x in T['trl'][k][1:]]   # step 0 is the warm-up
        ratios = [y / x if x else float('nan') for x, y in zip(o, t)]
        print(f"{k:14} {med(o):8.3f} {med(t):8.3f} {med(ratios):8.2f}   " + ' '.join(f'{r:.2f}' for r in ratios))
for k in ['real tokens', 'trained tokens', 'head rows']:
    print(f"{k:14} ours {T['ours'][k][1:]} TRL {T['trl'][k][1:]}")
for clock, name in ((1, 'CPU'), (0, 'wall')):
    tps = lambda who: [r / s[clock] for r, s in zip(T[who]['real tokens'][1:], T[who]['step'][1:])]
    print(f'real tok/{name}-s  ours', [f'{x:.1f}' for x in tps('ours')], 'TRL', [f'{x:.1f}' for x in tps('trl')],
          'ours÷TRL median', f"{med([x / y for x, y in zip(tps('ours'), tps('trl'))]):.2f}")
