"""Which language does a surname come from: the PyTorch tutorial's names data with the spiking LSTM of
seed 000 (spikingjelly's SpikingLSTM, hidden 256, Linear, softmax, MSE against one-hot, Adam 1e-4).

Data: 18 ``<Language>.txt`` files, 20,074 names, folded to ASCII as the tutorial does (NFD, accents
dropped, only ``string.ascii_letters + " .,;'-"`` kept: 58 symbols, the seed's ``n_letters``). Each
language's names are split 80/20 in file order as the seed does; every 10th name of the 80% is held out
for validation, so training sees 72%. Names of different lengths are batched by length (the harness
buckets them), so every model reads exactly its name, with no padding.

The seed draws a language uniformly, then a name of it, one name per step for 1M steps (``seed`` scale,
batch 1). ``full`` batches 16 names drawn uniformly over names instead, 40 epochs (~45k steps), and
says so; ``--cell lstm|gru|rnn`` runs the same recipe with a plain cell.

The test split is each file's last 20% (the seed's split; for most languages the end of the alphabet,
Russian from "Tobolkin" on), which the validation names (every 10th of the rest) do not sample, so test
accuracy moves far more than validation accuracy: at full scale, 24 runs over six backends and up to six
seeds reached validation 0.803-0.815 and test 0.46-0.63, no framework apart (results/checks/names-seeds/,
experiments/names_trajectory.py). Compare backends on the median over seeds, not on one seed.
"""

from __future__ import annotations

import string
import unicodedata
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from tasks import data
from tasks.base import Dataset, Scale, Split, Target, Task
from tasks.spec import Dense, ModelSpec, Recipe

LETTERS = string.ascii_letters + " .,;'-"
SHA256 = {
    "Arabic": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
}
URL = "https://download.pytorch.org/tutorial/data.zip"
TEST_FRACTION = 0.2
VAL_EVERY = 10


def fold(name: str) -> str:
    """The tutorial's ``unicodeToAscii``: accents dropped, anything outside ``LETTERS`` removed."""
    return "".join(c for c in unicodedata.normalize("NFD", name)
                   if unicodedata.category(c) != "Mn" and c in LETTERS)


def encode(name: str, info: dict | None = None) -> list[int]:
    ids = [LETTERS.index(c) for c in fold(name)]
    if not ids:
        raise ValueError(f"no letters of {LETTERS!r} in it")
    return ids


def _read(data_dir: Path | None, cache_dir: Path | None) -> dict[str, list[str]]:
    """language -> names in file order, every file checked once by its sha256 (mirror or zip member)."""
    root = data.data_dir(data_dir)
    texts: dict[str, tuple[str, bytes]] = {}  # language -> (where it was read, its bytes)
    if root is not None:
        for lang in SHA256:
            path = root / "names" / f"{lang}.txt"
            if not path.exists():
                raise data.DataError(f"names data not found: expected {path}; fix --data-dir or "
                                     "RNNBENCH_DATA_DIR, or set RNNBENCH_DATA_DIR= (empty) to download "
                                     f"{URL}")
            texts[lang] = (str(path), path.read_bytes())
    else:
        archive = data.download(data.Upstream(URL, "names-data.zip", None), data.cache_dir(cache_dir))
        with zipfile.ZipFile(archive) as z:
            for lang in SHA256:
                member = f"data/names/{lang}.txt"
                texts[lang] = (f"{member} in {archive}", z.read(member))
    out = {}
    for lang, (where, raw) in texts.items():
        actual = data.sha256_bytes(raw)
        if actual != SHA256[lang]:
            raise data.DataError(f"checksum mismatch for {where}: sha256 {actual}, expected {SHA256[lang]}; "
                                 "the file is corrupt or a different version: replace it with the original")
        out[lang] = [line for line in raw.decode("utf-8").split("\n") if line]
    return out


def _split(rows: list[tuple[list[int], int]], maxlen: int) -> Split:
    x = np.zeros((len(rows), maxlen), dtype=np.int32)
    for i, (ids, _) in enumerate(rows):
        x[i, maxlen - len(ids):] = ids  # padded at the front; the harness cuts each batch to its length
    return Split(x, np.array([c for _, c in rows], dtype=np.int32),
                 lengths=np.array([len(ids) for ids, _ in rows], dtype=np.int32))


def load(scale: Scale, data_dir: Path | None = None, cache_dir: Path | None = None) -> Dataset:
    names = _read(data_dir, cache_dir)
    classes = list(names)
    parts: dict[str, list[tuple[list[int], int]]] = {"train": [], "val": [], "test": []}
    dropped = 0
    for c, lang in enumerate(classes):
        items = names[lang]
        cut = int(len(items) * (1 - TEST_FRACTION))
        for i, name in enumerate(items):
            ids = [LETTERS.index(ch) for ch in fold(name)]
            if not ids:
                dropped += 1
                continue
            part = "test" if i >= cut else "val" if i % VAL_EVERY == VAL_EVERY - 1 else "train"
            parts[part].append((ids, c))
    limit = scale.data.get("limit")
    if limit:
        parts = {k: v[:: max(1, len(v) // (limit if k == "train" else limit // 4))] for k, v in parts.items()}
    maxlen = max(len(ids) for rows in parts.values() for ids, _ in rows)
    info = {"source": "mirror" if data.data_dir(data_dir) else URL, "classes": classes, "letters": LETTERS,
            "names": {k: len(v) for k, v in parts.items()}, "dropped_empty": dropped,
            "batching": "names bucketed by length, no padding",
            "sampling": "uniform over training names (the seed: a uniform language, then a name)"}
    return Dataset(*(_split(parts[k], maxlen) for k in ("train", "val", "test")), info=info)


MODEL = ModelSpec(cell="spiking-lstm", vocab_size=len(LETTERS), input="onehot", hidden_size=256,
                  head=(Dense(18),), loss="softmax_mse", init="torch")
RECIPE = Recipe(optimizer="adam", lr=1e-4, eps=1e-8, batch_size=16, eval_batch_size=256, epochs=40)
NAME_LEN = 7  # median length of the training surnames: the bench's synthetic batches
SMOKE = replace(MODEL, hidden_size=16)
SMOKE_RECIPE = replace(RECIPE, lr=3e-3, eval_batch_size=64, epochs=2)
SEED_RECIPE = replace(RECIPE, batch_size=1, epochs=62)

TASK = Task(
    name="names",
    description="surname -> one of 18 languages, spiking LSTM of seed 000 (accuracy; --cell for plain cells)",
    metric="accuracy",
    target=Target("accuracy", 0.5, "max", source="seed 000: test accuracy 0.512 after 1M single-name steps"),
    seed_source="shared/seeds/000_57b4420bb7ab8a12.txt",
    scales={
        "smoke": Scale("smoke", "hidden 16 on ~800 names, 2 epochs: seconds on a CPU", SMOKE, SMOKE_RECIPE,
                       {"limit": 800}),
        "full": Scale("full", "the seed's model, 16 names a batch (bucketed by length), 40 epochs",
                      MODEL, RECIPE, reported="0.512 (the seed scale's 1M batch-1 steps)"),
        "seed": Scale("seed", "the seed's schedule: one name a step, 1M steps (62 epochs of batch 1)",
                      MODEL, SEED_RECIPE, reported="0.512"),
    },
    load=load,
    seq_len=NAME_LEN,
    encode=encode,
    data_options={"limit": int},
)
