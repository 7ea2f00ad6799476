"""Finding a dataset as a new user's machine does: no RNNBENCH_DATA_DIR, an empty cache, no network.

The README's main command names no mirror; ``tasks.data`` takes ``shared/data`` beside the checkout when
it exists, downloads where it does not, and with neither ends in the one-line error naming both ways.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from harness import launcher
from tasks import data, tinyshakespeare


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network: every connection attempt fails as a machine without a resolver does, and is counted."""
    tried: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        tried.append(str(args[0]) if args else "?")
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    return tried


def test_the_mirror_beside_the_checkout_is_the_default(offline: list[str], tmp_path: Path,
                                                        mirror: Path) -> None:
    if data.DEFAULT_MIRROR.resolve() != mirror.resolve():
        pytest.skip(f"the mirror of this run ({mirror}) is not the default one beside the checkout")
    assert data.data_dir() == data.DEFAULT_MIRROR
    path = data.fetch("tinyshakespeare", tinyshakespeare.FILE, tinyshakespeare.URL, data.data_dir(),
                      tmp_path / "empty-cache")
    assert path == data.DEFAULT_MIRROR / "tinyshakespeare" / tinyshakespeare.FILE.name
    assert tinyshakespeare.read(None, tmp_path / "empty-cache").startswith("First Citizen")
    assert offline == []  # nothing was downloaded
    assert not (tmp_path / "empty-cache" / "downloads").exists()


def test_no_mirror_and_no_network_is_one_line_naming_both_ways(offline: list[str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path / "no-such-mirror")
    assert data.data_dir() is None
    with pytest.raises(data.DataError) as caught:
        tinyshakespeare.read(None, tmp_path / "empty-cache")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {tinyshakespeare.URL}")
    assert "Name or service not known" in message
    assert "--data-dir or RNNBENCH_DATA_DIR" in message
    assert offline == [tinyshakespeare.URL]
    assert not list((tmp_path / "empty-cache" / "downloads").glob("*"))  # no partial file left


def test_an_empty_variable_turns_the_default_mirror_off(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path)
    monkeypatch.setenv("RNNBENCH_DATA_DIR", "")
    assert data.data_dir() is None
    monkeypatch.setenv("RNNBENCH_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.data_dir() == tmp_path / "elsewhere"
    assert data.data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("RNNBENCH_DATA_DIR")
    assert data.data_dir() == tmp_path


def test_a_default_mirror_missing_a_file_says_how_to_download(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path)
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    with pytest.raises(data.DataError, match=r"tinyshakespeare data not found: expected .*input.txt; .*"
                                             r"set RNNBENCH_DATA_DIR= \(empty\) to download"):
        tinyshakespeare.read(None, tmp_path / "cache")


def test_children_inherit_the_default_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bench worker in another checkout (``--against``'s worktree) reads the mirror this process found."""
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path)
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    assert launcher.child_env()["RNNBENCH_DATA_DIR"] == str(tmp_path)
    monkeypatch.setenv("RNNBENCH_DATA_DIR", "")
    assert launcher.child_env()["RNNBENCH_DATA_DIR"] == ""
