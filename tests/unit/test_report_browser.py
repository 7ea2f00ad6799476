"""report.html in a real browser (headless Chromium): the overview on top, every plot decoded.

Chromium is Debian's ``chromium`` package; ``.ci/run`` installs it where it is missing. The page is the
report as written; the test adds only a script that reads what the browser laid out and writes it into the
page, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from harness import records
from harness.report import command as report_command
from tests.fakes import make_bench_record, make_record

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian's chromium is not installed (.ci/run installs it)")

PROBE = """<script>
window.addEventListener("load", () => {
  const overview = document.getElementById("overview");
  const images = [...document.images];
  const firstH2 = document.querySelector("h2");
  const out = {
    first_h2: firstH2 ? firstH2.textContent : null,
    overview_rows: overview ? overview.tBodies[0].rows.length : 0,
    overview_top: overview ? overview.getBoundingClientRect().top : null,
    first_image_top: images.length ? images[0].getBoundingClientRect().top : null,
    images: images.length,
    decoded: images.filter(i => i.complete && i.naturalWidth > 100).length,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(*args: str, profile) -> str:
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def page(tmp_path):
    runs, bench = tmp_path / "runs", tmp_path / "bench"
    for backend, acc in (("torch", 0.86), ("keras", 0.85), ("mxnet", 0.87)):
        for seed in range(2):
            r = make_record(backend=backend, seed=seed, accuracy=acc, scale="full", epochs=10)
            records.write_atomic(runs / f"{r['run_id']}.json", r)
    for backend in ("torch", "keras", "mxnet"):
        records.dump_atomic(bench / f"{backend}.json", make_bench_record("imdb-full", backend))
    out = tmp_path / "report"
    report_command.write(str(runs), str(out), None, str(bench))
    return out / "report.html"


def test_report_opens_in_chromium_with_the_overview_on_top_and_every_plot_decoded(page, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    assert found["first_h2"] == "Overview" and found["overview_rows"] == 1
    assert found["images"] == 2 and found["decoded"] == 2  # the curves and the bars of imdb / full
    assert found["overview_top"] < found["first_image_top"]

    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri(), profile=tmp_path / "profile")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1000, 1400) and float(np.std(pixels)) > 0.01  # a page, not a blank
