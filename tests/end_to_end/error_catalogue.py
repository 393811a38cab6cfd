"""The catalogue of bad inputs: each case, the files it runs against, and what the user sees.

docs/errors.md is this catalogue as a table, written by `make errors` (tools/error_catalogue.py);
tests/end_to_end/test_error_catalogue.py runs every case and checks that gancli still says exactly what
the table says, exits non-zero without a traceback, and changes nothing on disk.

The cases run in one process of their own (`python tests/end_to_end/error_catalogue.py <scratch>` prints a
JSON line per case), each through gancli's `main()` as the console script calls it: Hydra's
logging set-up, run in-process, must not reach the test process's streams.

Every case runs in one scratch folder holding a finished smoke run (`run`), a folder that is
not a run, a run with no checkpoint yet, and sample files broken in each way a file can be.
Paths are relative to that folder, so the messages read as a user in it would see them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


@dataclass(frozen=True)
class Case:
    what: str  # the mistake, in the user's words
    args: tuple[str, ...]  # the command line after `gancli`


def case(what: str, command: str) -> Case:
    return Case(what, tuple(command.split()))


CASES = [
    # gancli train: the config
    case("unknown config group option", "train data=moons"),
    case("misspelt divergence", "train divergence=kll"),
    case("unknown config key", "train train.stepz=100"),
    case("a key added with + that no config has (no `_target_` imports)", "train +model._target_=os.system"),
    case("an integer that is not a number", "train train.steps=ten"),
    case("a rate that is not a number", "train optim.d.lr=fast"),
    case("a switch that is not true or false", "train train.progress=maybe"),
    case("zero steps", "train train.steps=0"),
    case("negative batch size", "train train.batch_size=-64"),
    case("zero learning rate", "train optim.g.lr=0"),
    case("negative learning rate", "train optim.d.lr=-0.001"),
    case("Adam beta of 1 or more", "train optim.d.b1=1.5"),
    case("d_steps < 1", "train train.d_steps=0"),
    case("zero model width", "train model.hidden=0"),
    case("zero latent dimension", "train prior.dim=0"),
    case("unknown activation", "train model.activation=swish"),
    case("negative data spread", "train data.std=-0.1"),
    case("seed out of range", "train seed=-1"),
    case("alpha-divergence at alpha = 1 (undefined there: the limit is KL)",
         "train divergence=alpha divergence.alpha=1"),
    case("a parameter the divergence does not take", "train divergence=kl +divergence.alpha=0.5"),
    case("WGAN-GP with another penalty in place of gp", "train divergence=wgan_gp divergence.penalty=r1"),
    case("Roth et al.'s penalty on a loss that is no f-divergence",
         "train divergence=hinge divergence.penalty=roth divergence.penalty_weight=1"),
    case("a penalty without a weight", "train divergence=kl divergence.penalty=r1"),
    case("an unknown penalty", "train divergence.penalty=r3"),
    case("maximum likelihood with a generator that has no density", "train divergence=mle"),
    case("an explicit model with an adversarial divergence", "train model=gmm"),
    case("PacGAN packing that does not divide the batch", "train model.pack=3"),
    case("a summary objective this run does not compute", "train train.objective=log_likelihood"),
    case("rollback factor of 1 (it would never lower the rate)", "train train.on_nonfinite=rollback "
                                                                  "train.rollback_lr_factor=1"),
    case("seeds trained together, with rollback", "train train.num_seeds=2 train.on_nonfinite=rollback"),
    case("seeds trained together, past the largest seed", "train train.num_seeds=2 seed=2147483647"),
    case("more devices than JAX sees", "train train.devices=2"),
    case("devices that are neither a count nor all/auto", "train train.devices=most"),
    case("a coordinator with no process count", "train distributed.coordinator=localhost:1234"),
    case("unknown hyperparameter search preset", "train -m hparams_search=grid_optuna"),
    case("the user's images, with no path", "train data=images"),
    case("the user's images, at a path that does not exist", "train data=images data.path=no_such_folder"),
    case("a folder with no images in it", "train data=images data.path=not_a_run"),
    case("a folder of images of different sizes", "train data=images data.path=mixed_sizes"),
    case("a folder with a file that is not an image", "train data=images data.path=broken_images"),
    case("an image array of the wrong shape", "train data=images data.path=wrong_shape.npy"),
    case("an image array of Python objects", "train data=images data.path=pickled.npy"),
    case("two channels", "train data=digits data.channels=2"),
    case("images too odd for the DCGAN's halvings", "train data=images data.path=odd_size model=dcgan"),
    case("a convolutional model on the toy data", "train model=dcgan"),
    case("maximum likelihood on images", "train data=digits model=gmm divergence=mle"),
    case("unknown command", "trian"),
    # gancli resume
    case("resume: the run directory does not exist", "resume no_such_run"),
    case("resume: a directory that is not a run", "resume not_a_run"),
    case("resume: model width differs from the checkpoint", "resume run model.hidden=32"),
    case("resume: prior dimension differs from the checkpoint", "resume run prior.dim=3"),
    case("resume: fewer steps than already done", "resume run train.steps=10"),
    case("resume: as a sweep", "resume run -m"),
    case("resume: one seed's run as several seeds", "resume run train.num_seeds=2"),
    # gancli sample
    case("sample: the run directory does not exist", "sample no_such_run"),
    case("sample: a directory that is not a run", "sample not_a_run"),
    case("sample: a run with no checkpoint yet", "sample started"),
    case("sample: n = 0", "sample run n=0"),
    case("sample: negative n", "sample run n=-5"),
    case("sample: a step with no checkpoint", "sample run step=30"),
    case("sample: output in a missing directory", "sample run out=no/such/dir/s.npy"),
    case("sample: output in a directory no one may write to", "sample run out=/sys/s.npy"),
    case("sample: output that is not .npy", "sample run out=samples.csv"),
    case("sample: output inside the run's checkpoints", "sample run out=run/checkpoints/s.npy"),
    # gancli eval
    case("eval: the run directory does not exist", "eval no_such_run"),
    case("eval: a run with no checkpoint yet", "eval started"),
    case("eval: the directory of seeds trained together", "eval group"),
    case("eval: too few samples for the metrics", "eval run n=3"),
    case("eval: too many samples for memory", "eval run n=50000"),
    case("eval: samples file missing", "eval run samples=missing.npy"),
    case("eval: samples file empty", "eval run samples=empty.npy"),
    case("eval: samples file truncated", "eval run samples=truncated.npy"),
    case("eval: a .npz archive named .npy", "eval run samples=archive.npy"),
    case("eval: samples of the wrong shape", "eval run samples=wrong_shape.npy"),
    case("eval: samples containing NaN", "eval run samples=nan.npy"),
    case("eval: samples holding pickled objects", "eval run samples=pickled.npy"),
    case("eval: samples that are text", "eval run samples=strings.npy"),
    case("eval: samples file of another format", "eval run samples=samples.txt"),
    # gancli report
    case("report: a directory that does not exist", "report no_such_dir"),
    case("report: a directory with no runs", "report not_a_run"),
    case("report: an unknown metric", "report run metrics=[fid]"),
    case("report: output in a directory no one may write to", "report run out=/sys/report"),
    # gancli estimate
    case("estimate: a divergence that is infinite for the chosen distributions",
         "estimate divergence=pearson p.std=[2] q.std=[1]"),
    case("estimate: p and q of different dimensions", "estimate p.mean=[0,0] p.std=[1,1]"),
]


def prepare(scratch: Path, gancli: str, env: dict[str, str]) -> None:
    """The folder every case runs in (see the module's docstring)."""
    run = subprocess.run([gancli, "train", "experiment=smoke", "train.progress=false", "train.plots=false",
                          "hydra.run.dir=run"], cwd=scratch, env=env, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"could not train the catalogue's run: {run.stderr}")
    (scratch / "not_a_run").mkdir()
    (scratch / "not_a_run" / "notes.txt").write_text("not a run\n")
    (scratch / "started" / "checkpoints").mkdir(parents=True)
    (scratch / "group" / "seed_0" / "checkpoints").mkdir(parents=True)  # train.num_seeds=2 as it starts
    shutil.copytree(scratch / "run" / ".hydra", scratch / "started" / ".hydra")

    good = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    (scratch / "empty.npy").write_bytes(b"")
    np.save(scratch / "whole.npy", good)
    (scratch / "truncated.npy").write_bytes((scratch / "whole.npy").read_bytes()[:400])
    (scratch / "whole.npy").unlink()
    np.savez(scratch / "archive.npz", samples=good)
    (scratch / "archive.npz").rename(scratch / "archive.npy")
    np.save(scratch / "wrong_shape.npy", np.zeros((100, 3), np.float32))
    with_nan = good.copy()
    with_nan[17, 1] = np.nan
    np.save(scratch / "nan.npy", with_nan)
    np.save(scratch / "pickled.npy", np.array([{"run": "code"}] * 10, dtype=object), allow_pickle=True)
    np.save(scratch / "strings.npy", np.array([["a", "b"]] * 10))
    (scratch / "samples.txt").write_text("0 0\n1 1\n")

    from PIL import Image

    for folder, sizes in (("mixed_sizes", (8, 8, 12)), ("broken_images", (8, 8)), ("odd_size", (7,) * 6)):
        (scratch / folder).mkdir()
        for i, size in enumerate(sizes):
            Image.new("L", (size, size), 40 * i).save(scratch / folder / f"{i}.png")
    (scratch / "broken_images" / "2.png").write_bytes(b"not a PNG at all")


def run_case(c: Case, scratch: Path) -> tuple[int, str]:
    """(exit status, stderr) of `gancli <c.args>` run in this process, in `scratch`."""
    from gancli.cli.jax_setup import CACHE_ENV
    from gancli.cli.main import main

    err = io.StringIO()
    cwd, cache = Path.cwd(), os.environ.get(CACHE_ENV)
    os.chdir(scratch)
    os.environ[CACHE_ENV] = ""  # no compilation cache: it would stay switched on in this process
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(list(c.args))
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(cwd)
        if cache is None:
            os.environ.pop(CACHE_ENV)
        else:
            os.environ[CACHE_ENV] = cache
    return status, err.getvalue().replace(f"{scratch}/", "")


def run_all(scratch: Path) -> list[dict[str, object]]:
    """Every case, in order: its args, exit status, stderr, and whether the files below scratch
    are exactly as before it ran."""
    results = []
    for c in CASES:
        before = snapshot(scratch)
        status, stderr = run_case(c, scratch)
        results.append({"args": list(c.args), "status": status, "stderr": stderr,
                        "unchanged": snapshot(scratch) == before})
    return results


def snapshot(scratch: Path) -> dict[str, bytes | None]:
    """Every path below scratch, with a file's bytes: equal snapshots mean nothing changed."""
    return {str(p.relative_to(scratch)): p.read_bytes() if p.is_file() else None for p in sorted(scratch.rglob("*"))}


def render(rows: list[tuple[Case, int, str]]) -> str:
    """The catalogue as docs/errors.md."""
    lines = [
        "# Bad input, and what gancli says",
        "",
        "Every row is a mistake a user can make, the command that makes it, the exit status, and the",
        "message gancli prints on stderr, exactly. Each exits non-zero with one line and no traceback,",
        "and changes nothing on disk. `make test-slow` checks every row (tests/end_to_end/test_error_catalogue.py);",
        "`make errors` rewrites this page. The commands run in a folder holding a finished run `run`,",
        "a folder `not_a_run`, a run `started` with no checkpoint yet, and broken sample files.",
        "",
        "| # | mistake | command | exit | message |",
        "|---|---|---|---|---|",
    ]
    for i, (c, status, stderr) in enumerate(rows, 1):
        message = "<br>".join(_cell(line) for line in stderr.strip().splitlines())
        lines.append(f"| {i} | {_cell(c.what)} | `gancli {' '.join(c.args)}` | {status} | {message} |")
    return "\n".join(lines) + "\n"


def documented() -> dict[tuple[str, ...], tuple[int, str]]:
    """{args: (exit status, message)} as docs/errors.md states them."""
    table = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 5 and cells[0].isdigit():
            args = tuple(cells[2].strip("`").split()[1:])
            message = "\n".join(_uncell(part) for part in cells[4].split("<br>"))
            table[args] = (int(cells[3]), message)
    return table


def _cell(text: str) -> str:
    """Text as a table cell that Markdown shows as is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _uncell(text: str) -> str:
    return text.replace("\\|", "|").replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


if __name__ == "__main__":  # python tests/end_to_end/error_catalogue.py <prepared scratch folder>
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    for result in run_all(Path(sys.argv[1]).resolve()):
        print(json.dumps(result), flush=True)
