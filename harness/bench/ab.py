"""A/B rows of ``bench``: one backend under two or more requirement sets (``--variant NAME=REQUIREMENTS``),
the listed backends from this checkout and from another commit (``--against GITREF``), and the
calibration rows of ``--calibrate`` (the same backend as A and as B, and slowed on purpose).

A row is a dict (kept in the manifest and, less its interpreter path, in each record's ``ab``): ``name``
(the row, e.g. ``keras@new``), ``backend`` (what its worker runs), ``versus`` (the row it is judged
against, if any), and per kind ``variant``/``requirements``/``resolved`` (the versions pip installed),
``ref``/``commit``/``tree``, or ``idle`` (the fraction of every timed span a calibration row idles).
Everything the user can get wrong is checked before anything is built: a malformed or repeated variant
name, requirements pip cannot resolve, a GITREF that names no commit.
"""

from __future__ import annotations

import configparser
import itertools
import re
from collections.abc import Callable
from typing import Any

import backends
from harness import launcher
from harness.errors import UserError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CORE = ("numpy", "pandas", "tabulate", "tqdm", "matplotlib", "psutil")  # what a worker imports besides
IDLE = {"slow5": 0.05, "slow10": 0.10}  # calibration slowdowns: the fraction of each timed span idled
# calibration rows of backend B, each (suffix, versus suffix, idle): four plain rows and two slowed ones;
# the verdict table shows two disjoint A/A pairs and each slowed row against a plain row of its own
CALIBRATION = (("", None, 0.0), ("~a2", "", 0.0), ("~a3", None, 0.0), ("~a4", "~a3", 0.0),
               ("~slow10", "", IDLE["slow10"]), ("~slow5", "~a3", IDLE["slow5"]))
PLAIN = ("", "~a2", "~a3", "~a4")
# the calibration's trials reuse each block of rounds (issue 31 allows it): every pair of plain rows is an
# A/A decision (six a block, two of them disjoint) and each slowed row meets every plain row (four a block,
# one of them independent of the other slowed row's)
AA_PAIRS = tuple(itertools.combinations(PLAIN, 2))
AA_DISJOINT = (("~a2", ""), ("~a4", "~a3"))
POWER = {0.10: "~slow10", 0.05: "~slow5"}


def project(requirement: str) -> str:
    """The normalised project name of a requirement (``Tensorflow_CPU==2.21.*`` -> ``tensorflow-cpu``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement.strip().lower()


def parse_variants(values: list[str] | None) -> list[tuple[str, list[str]]]:
    """``--variant NAME=REQ [REQ...]`` options: (name, requirements) each, names unique."""
    out: list[tuple[str, list[str]]] = []
    for value in values or []:
        name, sep, reqs = value.partition("=")
        name = name.strip()
        starts = all(r[0].isalnum() for r in reqs.split())  # `keras==3.14.1` alone: no name given
        if not sep or not NAME.match(name) or not reqs.split() or not starts:
            raise UserError(f"--variant {value!r}: write NAME=REQUIREMENTS, e.g. --variant "
                            "old='keras==3.14.1' (a name of letters, digits, '.', '_' or '-'; several "
                            "requirements separated by spaces)")
        if any(name == n for n, _ in out):
            raise UserError(f"--variant {name!r} is given twice; give each variant its own name "
                            "(e.g. old and new)")
        out.append((name, reqs.split()))
    if len(out) == 1:
        raise UserError("--variant: give two or more (one per requirement set to compare), e.g. "
                        "--variant old='keras==3.14.1' --variant new='keras==3.15.1'")
    return out


def tox_requirements(backend: str) -> list[str]:
    """The requirements of ``backend``'s tox environment (tox.ini's deps), without the frameworks only
    its environment's other backends need (keras-jax needs no TensorFlow), plus the harness' own."""
    info = backends.get(backend)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(launcher.ROOT / "tox.ini")
    section = f"testenv:{info.tox_env}"
    deps = ini.get(section, "deps", fallback="").split("\n") if ini.has_section(section) else []
    deps = [d.split("#")[0].strip() for d in deps if d.split("#")[0].strip()]
    others = {m for b in backends.registry().values() if b.tox_env == info.tox_env for m in b.requires}
    unneeded = others - set(info.requires)
    deps = [d for d in deps if not any(project(d) == m or project(d).startswith(f"{m}-") for m in unneeded)]
    have = {project(d) for d in deps}
    return [*deps, *(c for c in CORE if c not in have)]


def merged(base: list[str], override: list[str]) -> list[str]:
    """``base`` with each requirement of ``override`` replacing the one of the same project."""
    replaced = {project(r) for r in override}
    return [r for r in base if project(r) not in replaced] + list(override)


def variant_rows(backend_names: list[str], variants: list[tuple[str, list[str]]],
                 say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """The rows of ``--variant``: every requirement set checked with pip (nothing is built when one
    cannot be resolved), then each environment built once; each later variant is judged against the
    first."""
    if len(backend_names) != 1:
        raise UserError(f"--variant benches one backend under each requirement set; give one in "
                        f"--backends (got {','.join(backend_names)})")
    backend = backend_names[0]
    if backend not in backends.names():
        raise UserError(f"--variant: {backend!r} has no environment of its own to vary; give a backend "
                        f"({', '.join(backends.names())})")
    base = tox_requirements(backend)
    sets = {name: merged(base, reqs) for name, reqs in variants}
    for name, reqs in variants:  # every set resolvable before any environment is built
        say(f"rnnbench: checking that pip can resolve variant {name}: {' '.join(sets[name])}")
        problem = launcher.check_requirements(sets[name])
        if problem:
            raise UserError(f"--variant {name}={' '.join(reqs)!r}: pip cannot resolve it ({problem}); give "
                            "versions that exist and fit together (e.g. keras==3.15.1)")
    rows: dict[str, dict[str, Any]] = {}
    first = f"{backend}@{variants[0][0]}"
    for name, reqs in variants:
        python, resolved = launcher.requirement_env(sets[name], say)
        row = f"{backend}@{name}"
        rows[row] = {"name": row, "backend": backend, "variant": name, "asked": reqs,
                     "requirements": sets[name], "resolved": resolved, "python": python,
                     "versus": None if row == first else first}
    return rows


def against_rows(backend_names: list[str], ref: str, say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """The rows of ``--against GITREF``: each backend from this checkout (judged against) the same
    backend from GITREF's commit, checked out once as a git worktree; where that commit's tox.ini asks
    for other requirements, its row gets an environment of its own."""
    commit = launcher.git_commit(ref)
    if commit is None:
        raise UserError(f"--against {ref!r}: no such commit in this repository; give a branch, tag or "
                        "commit (e.g. --against main or --against HEAD~1)")
    here = launcher.git_commit("HEAD")
    tree = launcher.git_tree(commit)
    say(f"rnnbench: --against {ref}: commit {commit[:12]} checked out in {tree}")
    theirs = configparser.ConfigParser(interpolation=None)
    theirs.read(tree / "tox.ini")
    rows: dict[str, dict[str, Any]] = {}
    for b in backend_names:
        info = backends.get(b)
        section = f"testenv:{info.tox_env}"
        mine = tox_requirements(b)
        other = [d.split("#")[0].strip() for d in theirs.get(section, "deps", fallback="").split("\n")
                 if d.split("#")[0].strip()]
        own_env = sorted(other) != sorted(d for d in mine if project(d) not in CORE)
        label = re.sub(r"[^A-Za-z0-9._~^-]+", "-", ref)  # a file name: origin/main -> origin-main
        row: dict[str, Any] = {"name": f"{b}@{label}", "backend": b, "ref": ref, "commit": commit,
                               "tree": str(tree), "versus": None}
        if own_env:  # the other commit pins other versions: an environment for its set
            reqs = [*other, *(c for c in CORE if c not in {project(d) for d in other})]
            problem = launcher.check_requirements(reqs)
            if problem:
                raise UserError(f"--against {ref}: its {b} requirements cannot be resolved ({problem})")
            row["python"], row["resolved"] = launcher.requirement_env(reqs, say)
            row["requirements"] = reqs
        rows[b] = {"name": b, "backend": b, "ref": "working tree", "commit": here, "versus": row["name"]}
        rows[row["name"]] = row
    return rows


def calibration_rows(backend_names: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of ``--calibrate`` for each backend (``CALIBRATION``)."""
    rows: dict[str, dict[str, Any]] = {}
    for b in backend_names:
        for suffix, versus, idle in CALIBRATION:
            rows[f"{b}{suffix}"] = {"name": f"{b}{suffix}", "backend": b, "calibration": True, "idle": idle,
                                    "versus": None if versus is None else f"{b}{versus}"}
    return rows
