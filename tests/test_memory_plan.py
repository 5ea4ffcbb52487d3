"""The memory plan against the memory a run really takes: two training steps of SmolLM2-135M in a fresh process, peak
RSS of the steps (full fine-tuning, LoRA and QLoRA), each within 25% of the plan made before any weights were loaded."""
import pytest
from modern_llm.config import preset
from modern_llm.memory import measure_training_peak, memory_plan, model_shape

@pytest.mark.parametrize('finetune', ['full', 'lora', 'qlora'])
def test_plan_predicts_the_measured_peak(tmp_path, finetune):
    cfg = preset('local', finetune=finetune, mixed_precision='fp32', output_dir=str(tmp_path), run_name=finetune)
    plan = memory_plan(cfg, model_shape(cfg.base_model), 'cpu')
    measured = measure_training_peak(cfg, steps=2)['peak_bytes']
    print(f'{finetune}: plan {plan.total / 1e9:.2f} GB, measured {measured / 1e9:.2f} GB')
    assert abs(plan.total - measured) <= 0.25 * measured
