"""The speed benchmark behind `modern-llm bench` (notebooks 15_bench_data to 15d_bench_harness): generated data, the
contenders (ours, a plain transformers loop, TRL's SFTTrainer), and the harness that runs each in its own process.
The library proper never imports this package; only the `bench` command does, when it runs."""
