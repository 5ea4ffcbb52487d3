"""Data loading for this project's harness tasks: each task names its JSON-lines file, which lies beside this module."""
from pathlib import Path
import json


def load_jsonl(file: str, split: str = 'test', **metadata):
    "The rows of `file` (beside this module) as a one-split `datasets.DatasetDict`; the harness passes the task's metadata too."
    from datasets import Dataset, DatasetDict
    rows = [json.loads(line) for line in (Path(__file__).parent / file).read_text().splitlines() if line.strip()]
    return DatasetDict({split: Dataset.from_list(rows)})
