"""model.head from --set and from [[model.head]] in a config file, and the bad inputs a new user met:
a report of a folder that does not exist, a tox environment that does not exist."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tasks
from harness.common import config, overrides
from harness.errors import UserError
from harness.test import command as test_command
from tasks.spec import Dense, Dropout
from tests.conftest import ROOT


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_head_line_form_names_its_layers_and_round_trips():
    head = overrides.parse_head("dense:250:relu, dropout:0.5, dense:1")
    assert head == (Dense(250, "relu"), Dropout(0.5), Dense(1, "linear"))
    assert overrides.head_text(head) == "dense:250:relu,dropout:0.5,dense:1:linear"
    assert overrides.parse_head("none") == () and overrides.head_text(()) == "none"
    assert overrides.parse_settings(["model.head=dense:1"]) == {"model.head": "dense:1:linear"}


@pytest.mark.parametrize("text,message", [
    ("dense:0", "model.head layer 0 ('dense:0'): a Dense layer needs at least 1 unit"),
    ("conv:3", "model.head layer 0 ('conv:3'): unknown layer; give dense:UNITS"),
    ("dense:8:tanh,dense:1", "layer 0 ('dense:8:tanh'): unknown activation 'tanh'; use linear or relu"),
    ("dense:8,dropout:1.5,dense:1", "layer 1 ('dropout:1.5'): a dropout rate lies in [0, 1)"),
    ("dense:x", "model.head layer 0 ('dense:x'): not a number"),
    ("dense:8,dropout:0.2", "the head must end with a Dense layer, the logits"),
])
def test_a_bad_head_is_one_line_naming_the_layer(text, message):
    with pytest.raises(UserError, match="^") as err:
        overrides.parse_head(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_head_must_keep_the_tasks_output_width():
    task = tasks.get("imdb")
    scale = task.scale("full")
    done = overrides.apply(scale, {"model.head": "dense:125:relu,dense:1"}, task)
    assert done.model.head == (Dense(125, "relu"), Dense(1))
    with pytest.raises(UserError, match=r"its logits are 2 wide; this task's labels and loss "
                                        r"\(binary_crossentropy\) need 1: end the head with dense:1"):
        overrides.apply(scale, {"model.head": "dense:2"}, task)


def test_a_config_file_gives_the_head_as_tables(tmp_path):
    path = tmp_path / "gru.toml"
    path.write_text('task = "imdb"\n[model]\ncell = "gru"\n[data]\nmaxlen = 150\n'
                    '[[model.head]]\ntype = "dense"\nunits = 16\nactivation = "relu"\n'
                    '[[model.head]]\ntype = "dropout"\nrate = 0.25\n'
                    '[[model.head]]\ntype = "dense"\nunits = 1\n')
    loaded = config.load(path)
    assert "model.head=dense:16:relu,dropout:0.25,dense:1" in loaded.settings
    parsed = overrides.parse_settings(loaded.settings, tasks.get("imdb"))
    assert parsed["model.head"] == "dense:16:relu,dropout:0.25,dense:1:linear"


@pytest.mark.parametrize("tables,message", [
    ('[[model.head]]\ntype = "conv"\nunits = 1\n',
     "table 0 needs type = \"dense\" or \"dropout\" (got 'conv')"),
    ('[[model.head]]\ntype = "dense"\nunits = 1\nwidth = 3\n', "table 0 (dense): unknown key(s) width"),
    ('[[model.head]]\ntype = "dropout"\n', "table 0 (dropout) needs rate"),
])
def test_bad_head_tables_name_the_table(tmp_path, tables, message):
    path = tmp_path / "bad.toml"
    path.write_text(tables)
    with pytest.raises(UserError) as err:
        config.load(path)
    assert message in str(err.value)


def test_the_shipped_comparison_config_parses_for_imdb():
    loaded = config.load(ROOT / "experiments" / "imdb-gru-comparison.toml")
    task = tasks.get("imdb")
    settings = overrides.parse_settings(loaded.settings, task)
    scale = overrides.apply(task.scale("full"), settings, task)
    assert (scale.model.cell, scale.model.embed_dim, scale.model.hidden_size) == ("gru", 125, 100)
    assert scale.model.head == (Dense(1),)
    assert scale.data["num_words"] == 30000 and scale.data["maxlen"] == 150
    assert scale.model.vocab_size == 30000 and scale.recipe.epochs == 3


def test_a_report_of_a_missing_folder_and_an_unknown_tox_environment_are_errors():
    done = harness("report", "--runs", "no/such/folder")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("--runs no/such/folder: no such folder; give the "
                                                         "folder of result records (default results/runs, "
                                                         "where run and matrix write them)")
    done = harness("test", "-e", "core,nope")
    assert done.returncode == 2
    assert "test -e nope: no such tox environment; choose from lint, core, torch" in done.stderr
    assert test_command.asked_environments(["-ecore", "--env=jax", "-e", "a,b", "--", "-e", "x"]) == \
        ["core", "jax", "a", "b"]
