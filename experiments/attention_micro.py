"""Attention alone, forward + backward, SmolLM2-135M's heads (9 query, 3 key/value, 64 wide) on one packed row of
1,024 tokens: ours (`document_attention`, causal SDPA per document) against what transformers runs for TRL's
padding-free batch under SDPA (one call over the row with a block-diagonal causal mask). Interleaved, CPU seconds.

    OMP_NUM_THREADS=2 nice -n 5 .venv/bin/python experiments/attention_micro.py"""
import statistics, time
import torch
import torch.nn.functional as F
from modern_llm.attention import document_attention

torch.set_num_threads(2)
torch.manual_seed(0)
lengths = [400, 180, 120, 110, 90, 60, 40, 24]          # 1,024 tokens, the bench's Alpaca-like mix of documents
T, spans = sum(lengths), []
for s, n in zip([0] + list(torch.tensor(lengths).cumsum(0)[:-1].tolist()), lengths): spans.append((0, s, s + n))
doc = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
mask = (doc[:, None] == doc[None]) & torch.ones(T, T, dtype=torch.bool).tril()   # what transformers builds from position ids

def ours(q, k, v): return document_attention(q, k, v, spans)
def dense(q, k, v): return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[None, None], enable_gqa=True)

for dtype in (torch.float32, torch.bfloat16):
    q = torch.randn(1, 9, T, 64, dtype=dtype, requires_grad=True)
    k, v = (torch.randn(1, 3, T, 64, dtype=dtype, requires_grad=True) for _ in range(2))
    times = {(n, p): [] for n in ('ours', 'dense') for p in ('fwd', 'fwd+bwd')}
    for rep in range(6):
        for name, f in (('ours', ours), ('dense', dense)):
            t = time.process_time()
            for _ in range(5): f(q, k, v)
            t1 = time.process_time()
            for _ in range(5): f(q, k, v).sum().backward()
            times[name, 'fwd'].append((t1 - t) / 5); times[name, 'fwd+bwd'].append((time.process_time() - t1) / 5)
    for part in ('fwd', 'fwd+bwd'):
        o, d = (statistics.median(times[n, part][1:]) for n in ('ours', 'dense'))
        print(f'{dtype} {part}: CPU s per layer: ours {o:.4f}, dense mask {d:.4f}, dense/ours {d / o:.2f}; '
              f'x30 layers: ours {30 * o:.2f} s, dense {30 * d:.2f} s')
