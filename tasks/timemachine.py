"""Character language model on H. G. Wells' The Time Machine, preprocessed as d2l does.

d2l keeps letters only (every run of other characters becomes one space), lower-cases and strips each
line, and joins the lines without separators: 170,580 characters over 27 symbols. The last 10% is the
test part and the 10% before it validation.
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks import _lm, data
from tasks.base import Dataset, Scale, Target, Task
from tasks.spec import Recipe

FILE = data.DataFile("timemachine.txt", "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516")
URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"


def read(data_dir: Path | None, cache_dir: Path | None) -> str:
    path = data.fetch("timemachine", FILE, URL, data.data_dir(data_dir), data.cache_dir(cache_dir))
    lines = path.read_text(encoding="utf-8").splitlines()
    return "".join(re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in lines)


def load(scale: Scale, data_dir: Path | None = None, cache_dir: Path | None = None) -> Dataset:
    return _lm.char_dataset(read(data_dir, cache_dir), scale, {"source": FILE.name, "sha256": [FILE.sha256]})


TASK = Task(
    name="timemachine",
    description="The Time Machine character LM (d2l preprocessing), GRU 256 (val/test perplexity)",
    metric="perplexity",
    target=Target("perplexity", 6.0, "min", source="d2l's GRU reaches training perplexity about 1.1 in 500 "
                  "epochs on this corpus; held-out perplexity is higher"),
    scales=_lm.char_scales(
        27, {"cell": "gru", "hidden_size": 256},
        Recipe(optimizer="adam", lr=2e-3, clip_norm=1.0, batch_size=32, eval_batch_size=32, epochs=20,
               sampling="consecutive"),
        {"steps": 35},
        "GRU 256 on one-hot characters, consecutive sampling, Adam 2e-3, clip 1, 20 epochs",
        reported="about 1.1 on training text (d2l's GRU, 500 epochs)",
    ),
    load=load,
    encode=_lm.encode_chars,
    data_options=_lm.CHAR_DATA_OPTIONS,
)
