"""`--set` and `--config`: keys of three groups, parsed by the field's type, validated, recorded, and kept
apart in run ids and the report."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import tasks
from harness import records
from harness.common import config, outdir, overrides
from harness.errors import UserError
from harness.report import comparisons
from harness.run import runner
from tasks import data
from tests.fakes import make_record

IMDB = tasks.get("imdb")


def test_settings_of_every_group_are_parsed_by_the_fields_type():
    got = overrides.parse_settings(["data.maxlen=120", "model.hidden_size=64", "recipe.batch_size=128",
                                    "recipe.lr=3e-3", "model.cell=gru", "recipe.clip_norm=none",
                                    "hidden_size=32"], IMDB)
    assert got == {"data.maxlen": 120, "model.cell": "gru", "recipe.batch_size": 128, "recipe.lr": 3e-3,
                   "recipe.clip_norm": None, "model.hidden_size": 32}  # a later setting of a key wins
    assert list(got) == sorted(got)  # any order of the same settings names the same run
    assert overrides.parse_settings(["recipe.lr=1", "model.cell=gru"]) == \
        overrides.parse_settings(["model.cell=gru", "recipe.lr=1"])


@pytest.mark.parametrize("item,message", [
    ("model.hiden_size=64", "unknown key 'model.hiden_size'; model fields: cell, vocab_size"),
    ("recipe.learning_rate=1", "unknown key 'recipe.learning_rate'; recipe fields: "),
    ("data.vocab=5", "unknown key 'data.vocab'; imdb data options: num_words, maxlen, train_limit, "
                     "test_limit"),
    ("optim.lr=1", "unknown group 'optim' in 'optim.lr'; use model.*, recipe.*, data.*"),
    ("model.hidden_size=big", "model.hidden_size='big': expected int"),
    ("model.cell=transformer", "model.cell='transformer': choose one of rnn, gru, lstm, spiking-lstm"),
    ("recipe.optimizer=lamb", "recipe.optimizer='lamb': choose one of"),
    ("hidden_size", "--set 'hidden_size': expected KEY=VALUE"),
])
def test_a_bad_setting_is_one_line_naming_what_would_work(item, message):
    with pytest.raises(UserError) as err:
        overrides.parse_settings([item], IMDB)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_data_keys_need_a_task_and_are_the_tasks_own():
    with pytest.raises(UserError, match="data options belong to one task"):
        overrides.parse_settings(["data.maxlen=120"])
    with pytest.raises(UserError, match="unknown key 'data.maxlen'; five-words data options: \\(none\\)"):
        overrides.parse_settings(["data.maxlen=120"], tasks.get("five-words"))
    assert overrides.parse_settings(["data.steps=20"], tasks.get("lyrics")) == {"data.steps": 20}


def test_apply_changes_data_model_and_recipe_and_derives_the_vocabulary():
    base = IMDB.scale("full")
    scale = overrides.apply(base, overrides.parse_settings(
        ["data.num_words=30000", "data.maxlen=150", "model.hidden_size=512", "model.cell=gru",
         "recipe.batch_size=256", "recipe.lr=1e-4"], IMDB), IMDB)
    assert scale.data == {"num_words": 30000, "maxlen": 150}
    assert scale.model.vocab_size == 30000 and base.model.vocab_size == 1000  # follows num_words
    assert (scale.model.hidden_size, scale.model.cell, scale.recipe.batch_size, scale.recipe.lr) == \
        (512, "gru", 256, 1e-4)
    assert IMDB.seq_len_of(scale) == 150
    dropped = overrides.apply(IMDB.scale("smoke"), {"data.train_limit": None}, IMDB)
    assert "train_limit" not in dropped.data and dropped.data["test_limit"] == 1000


@pytest.mark.parametrize("settings,message", [
    ({"model.hidden_size": 0}, "model.hidden_size=0: give a positive number"),
    ({"data.maxlen": 0}, "data.maxlen=0: give a positive number"),
    ({"recipe.lr": -1.0}, "recipe.lr=-1.0: give a positive learning rate"),
    ({"recipe.epochs": 0}, "recipe.epochs=0: give a positive number of epochs"),
    ({"recipe.sampling": "sideways"}, "unknown sampling 'sideways'"),
])
def test_values_the_spec_rejects_are_one_line_errors(settings, message):
    with pytest.raises(UserError, match=message.replace("(", "\\(")):
        overrides.apply(IMDB.scale("full"), settings, IMDB)


def test_a_scan_mode_on_a_cell_that_reads_none_is_refused():
    """imdb's LSTM has no scan: a record and its id must not say ``scan=parallel`` for a run it did not
    change."""
    with pytest.raises(UserError) as err:
        overrides.apply(IMDB.scale("full"), {"model.scan": "parallel"}, IMDB)
    assert str(err.value) == ("model.scan=parallel: cell lstm is not a scan cell, so nothing reads it; "
                              "model.scan applies to mingru, minlstm, rglru (e.g. --cell mingru --set "
                              "model.scan=parallel)")
    scan = overrides.apply(IMDB.scale("full"), {"model.cell": "mingru", "model.scan": "sequential"}, IMDB)
    assert (scan.model.cell, scan.model.scan) == ("mingru", "sequential")


def test_a_bench_sweep_keeps_the_scan_mode_off_the_lstm_beside_the_scan_cells():
    from harness.bench import plan

    points = plan.plan(["tinyshakespeare"], "mingru", [("model.cell", ["mingru", "lstm"])],
                       ["model.scan=sequential", "shape.seq_len=64"])
    assert [p.overrides for p in points] == [
        {"model.scan": "sequential", "shape.seq_len": 64, "model.cell": "mingru"},
        {"shape.seq_len": 64, "model.cell": "lstm"}]
    assert "scan" not in points[1].id and "scan=sequential" in points[0].id
    with pytest.raises(UserError, match="model.scan=parallel: cell lstm is not a scan cell"):
        plan.plan(["imdb"], "full", [], ["model.scan=parallel"])
    with pytest.raises(UserError, match="model.scan=parallel: cell lstm is not a scan cell"):
        plan.plan(["imdb"], "full", [("model.scan", ["parallel", "sequential"])], [])


def test_shorthands_are_settings():
    assert overrides.shorthands(epochs=3, cell="gru", sampling="consecutive") == \
        ["recipe.epochs=3", "model.cell=gru", "recipe.sampling=consecutive"]
    assert overrides.shorthands() == []


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_a_config_file_gives_names_and_settings_and_the_command_line_wins(tmp_path):
    path = _write(tmp_path / "exp.toml", 'task = "imdb"\nbackend = "torch"\nscale = "smoke"\nseed = 3\n'
                  "[model]\nhidden_size = 64\ncell = \"gru\"\n[recipe]\nlr = 3e-3\nbatch_size = 128\n"
                  "clip_norm = 1\n[data]\nmaxlen = 120\n")
    args = argparse.Namespace(config=path, task=None, backend=None, scale="full", seed=None,
                              set=["model.hidden_size=32"])
    config.merge(args, required=("task", "backend"))
    assert (args.task, args.backend, args.scale, args.seed) == ("imdb", "torch", "full", 3)
    got = overrides.parse_settings(args.settings, IMDB)
    assert got["model.hidden_size"] == 32 and got["recipe.lr"] == 3e-3 and got["data.maxlen"] == 120
    assert got["recipe.clip_norm"] == 1.0 and got["model.cell"] == "gru"
    lists = argparse.Namespace(config=_write(tmp_path / "m.toml", 'tasks = ["imdb", "names"]\n'),
                               tasks=None, backends="torch", set=None)
    config.merge(lists)
    assert lists.tasks == "imdb,names" and lists.backends == "torch" and lists.settings == []


@pytest.mark.parametrize("text,message", [
    ("task = \n", "not valid TOML"),
    ("[optim]\nlr = 1\n", "unknown table [optim]; use [model], [recipe], [data], [shape]"),
    ("epochs = 3\n", "unknown key 'epochs'; use task, tasks, backend"),
    ("[model]\nhidden_size = [1, 2]\n", "model.hidden_size must be a single value"),
])
def test_a_bad_config_file_is_one_line(tmp_path, text, message):
    with pytest.raises(UserError) as err:
        config.load(_write(tmp_path / "bad.toml", text))
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="no such file"):
        config.load(tmp_path / "missing.toml")
    with pytest.raises(UserError, match="give --task \\(or `task = ...` in a --config file\\)"):
        config.merge(argparse.Namespace(config=None, task=None, set=None), required=("task",))


def test_a_run_records_its_overrides_and_its_id_keeps_it_apart(scripted, tmp_path):
    record, path = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False,
                                                epochs=2, settings=["model.hidden_size=3",
                                                                    "recipe.batch_size=4"]))
    assert record["config"]["overrides"] == {"model.hidden_size": 3, "recipe.batch_size": 4,
                                             "recipe.epochs": 2}
    assert record["config"]["model"]["hidden_size"] == 3 and record["config"]["recipe"]["batch_size"] == 4
    assert record["run_id"].startswith("synthetic-smoke-hidden_size=3+batch_size=4-scripted-cpu-s0-")
    assert json.loads(path.read_text())["config"]["overrides"]["model.hidden_size"] == 3
    assert not list(tmp_path.glob(".*.claim"))
    plain, _ = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    assert plain["config"]["overrides"] == {} and plain["run_id"].startswith("synthetic-smoke-scripted-")
    assert comparisons.scale_label(record) == "smoke hidden_size=3 batch_size=4"
    assert comparisons.scale_label(plain) == "smoke"
    titles = [c.title for c in comparisons.group(records.load_all(tmp_path))]
    assert len(titles) == 2 and any("hidden_size=3 batch_size=4" in t for t in titles)


def test_records_of_the_same_second_get_different_names(tmp_path):
    first, p1 = records.claim(tmp_path, "imdb-smoke-torch-cpu-s0-20260101T000000")
    second, p2 = records.claim(tmp_path, "imdb-smoke-torch-cpu-s0-20260101T000000")
    assert (first, second) == ("imdb-smoke-torch-cpu-s0-20260101T000000",
                               "imdb-smoke-torch-cpu-s0-20260101T000000-2")
    records.write_atomic(p1, make_record())
    records.release(p1)
    third, _ = records.claim(tmp_path, "imdb-smoke-torch-cpu-s0-20260101T000000")
    assert third.endswith("-3")  # a finished record is never replaced, a held name never taken
    assert p2 != p1


def test_report_names_each_file_that_is_not_valid_json(tmp_path, capsys):
    records.write_atomic(tmp_path / "good.json", make_record())
    (tmp_path / "broken.json").write_text('{"schema": "rnnbench.run/1", ')
    (tmp_path / "matrix.json").write_text('{"schema": "rnnbench.matrix/1"}')  # another document: quiet
    found = records.load_all(tmp_path, warn=True)
    err = capsys.readouterr().err
    assert len(found) == 1 and f"skipped {tmp_path / 'broken.json'}: not a readable JSON file" in err
    assert "matrix.json" not in err


def test_a_damaged_cache_file_is_rebuilt_with_a_warning(tmp_path, capsys):
    path = tmp_path / "imdb" / "abc.npz"
    data.save_arrays(path, {"x": np.arange(3)})
    assert data.load_arrays(path)["x"].tolist() == [0, 1, 2]
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    assert data.load_arrays(path) is None
    assert f"the cached arrays {path} are damaged" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_written_is_refused_before_work(tmp_path):
    with pytest.raises(UserError, match="--out /proc/x: cannot write there .*choose a folder you can write"):
        outdir.check_writable("/proc/x")
    assert outdir.check_writable(tmp_path / "new" / "runs").is_dir()
