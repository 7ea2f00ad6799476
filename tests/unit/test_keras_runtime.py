"""TensorFlow's start-up banners are held back at import; anything else it prints still reaches the user."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABSL = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
NL = b"\n"
ERROR = "E0000 00:00:1.0   1 cuda_dnn.cc:8579] Unable to register cuDNN factory"


def _writes(*lines: bytes) -> str:
    """Source that writes ``lines`` straight to file descriptor 2, as C++ code does."""
    return "import os\n" + "".join(f"os.write(2, {line + NL!r})\n" for line in lines)


def _import(tmp_path: Path, module: str, source: str) -> subprocess.CompletedProcess:
    """Import ``module`` (written from ``source``) through ``quiet_import`` in a fresh interpreter."""
    (tmp_path / f"{module}.py").write_text(source)
    code = ("import sys\nfrom backends.keras.runtime import quiet_import\n"
            f"try:\n    print(quiet_import({module!r}).VALUE)\n"
            "except ImportError as exc:\n    print('caught', exc, file=sys.stderr)\n"
            "print('after', file=sys.stderr)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})


def test_quiet_import_drops_the_banners_and_keeps_other_lines(tmp_path):
    lines = [ABSL, b"I0000 00:00:1796208986.854500   31627 port.cc:153] oneDNN custom operations are on.",
             b"To enable the following instructions: AVX2 FMA, in other operations, rebuild.", ERROR.encode()]
    result = _import(tmp_path, "noisy", _writes(*lines) + "VALUE = 42\n")
    assert result.stdout.strip() == "42"
    assert result.stderr.splitlines() == [ERROR, "after"]


def test_quiet_import_gives_standard_error_back_when_the_import_fails(tmp_path):
    result = _import(tmp_path, "broken", _writes(ABSL) + "raise ImportError('no')\n")
    assert result.stderr.splitlines() == ["caught no", "after"]
