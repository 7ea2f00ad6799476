"""``python -m harness report``: tables, plots and an HTML page from result and bench records."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from harness import launcher, options
from harness.common import outdir
from harness.errors import UserError


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="tables, plots and an HTML page from result records")
    report.add_argument("--runs", default="results/runs", help="folder of result records")
    options.add_out(report, "results/report", "folder for report.md/.html and PNG plots")
    report.add_argument("--readme", help="rewrite the results section of this README")
    report.add_argument("--bench", default="results/bench",
                        help="folder of bench records (the Speed section)")
    report.add_argument("--include-smoke", action="store_true",
                        help="also the smoke-scale comparisons (left out: their figures say nothing)")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    if not Path(args.runs).is_dir():
        raise UserError(f"--runs {args.runs}: no such folder; give the folder of result records "
                        "(default results/runs, where run and matrix write them)")
    outdir.check_writable(args.out)
    print(write(args.runs, args.out, args.readme, args.bench, args.include_smoke))
    return 0


def write(runs: str, out: str, readme: str | None, bench: str | None = None,
          include_smoke: bool = False) -> str:
    """Write the report files; the Markdown (for the terminal) and where the files went.

    ``report.md`` and ``report.html``: the overview (``harness.report.overview``), the Speed section
    (``harness.bench.report``, from the bench records under ``bench``), then every comparison's table
    and plots. The README gets the overview and the training-speed table only, with a link to the rest."""
    import backends
    from harness.bench import report as bench_report
    from harness.report import overview
    from harness.report import runs as report

    out_dir = Path(out)
    rep = report.build(Path(runs), out_dir, include_smoke)
    speed = bench_report.build(Path(bench), out_dir) if bench else None
    view, speed_source = overview.table(rep.records, speed.records if speed else [], backends.names(),
                                        include_smoke)
    walls = overview.wall_times(rep.records, backends.names(), include_smoke)
    notes = overview.misses(rep.records, include_smoke)
    targets = overview.wall_times(rep.records, backends.names(), include_smoke, "time_to_target_s")
    target_md = (f"### Time to target, minutes\n\n{targets.to_markdown(index=False)}\n\n"
                 f"{overview.TARGET_NOTE}" if targets is not None else None)

    def markdown(image_dir: str | None) -> str:
        parts = [f"## Overview\n\n{overview.markdown(view, speed_source, notes)}"]
        if target_md:
            parts.append(target_md)
        if walls is not None:
            parts.append(f"### Training wall time, minutes\n\n{walls.to_markdown(index=False)}\n\n"
                         f"{overview.WALL_NOTE}")
        if speed is not None:
            parts.append(f"## Speed (bench)\n\n{speed.markdown(image_dir)}")
        parts.append(f"## Training runs\n\n{rep.markdown(image_dir)}")
        return "\n\n".join(parts)

    def short(rel: str) -> str:
        parts = [f"### Overview\n\n{overview.markdown(view, speed_source, notes)}"]
        if target_md:
            parts.append(target_md)
        if speed is not None:
            parts.append(f"### Speed (bench)\n\n{speed.markdown(None, headline_only=True)}")
        link = f"{rel}/report.html" if rel else "report.html"
        parts.append(f"Every configuration's table, curves and plots: [{link}]({link}) "
                     f"(and [report.md]({link[:-4]}md)), from `python -m harness report`.")
        return "\n\n".join(parts)

    (out_dir / "report.md").write_text(markdown("") + "\n")
    (out_dir / "report.html").write_text(rep.html(speed.html() if speed else "",
                                                  overview.html(view, speed_source, walls, targets, notes)))
    if readme:
        rel = os.path.relpath(out_dir.resolve(), Path(readme).resolve().parent)
        report.update_readme(Path(readme), short(rel))
    pngs = sum(len(i) for i in rep.images) + (sum(len(i) for i in speed.images) if speed else 0)
    speed_tables = sum(2 - (t is None) - (i is None) for t, i in speed.tables) if speed else 0
    return (f"{markdown(None)}\n\nreport: overview of {0 if view is None else len(view)} configurations, "
            f"{len(rep.comparisons)} run tables, {speed_tables} speed tables, {pngs} PNG plots, "
            f"{out_dir / 'report.md'}, {out_dir / 'report.html'}")


ENTRIES = {"report": main}
