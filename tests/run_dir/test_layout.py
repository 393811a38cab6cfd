"""The run directory's layout: every file where the README's "What a run leaves" says, with
readers that tell an unfinished run from a finished or failed one."""

import json
import stat

import yaml

from gancli.run_dir.layout import RunDir


def test_every_file_and_folder_is_where_the_readme_says(tmp_path):
    files = RunDir(tmp_path)
    where = [
        (files.checkpoints, "checkpoints"), (files.plots, "plots"), (files.tensorboard, "tb"), (files.record, ".hydra"),
        (files.config_file, ".hydra/config.yaml"), (files.overrides_file, ".hydra/overrides.yaml"),
        (files.hydra_file, ".hydra/hydra.yaml"), (files.metrics.path, "metrics.jsonl"),
        (files.rollbacks.path, "rollbacks.jsonl"), (files.lock_file, "train.lock"),
        (files.summary_file, "summary.json"), (files.failure_file, "failure.json"), (files.eval_file, "eval.json"),
        (files.samples_file, "samples.npy"),
    ]
    assert [path.relative_to(tmp_path).as_posix() for path, _ in where] == [name for _, name in where]
    assert set(files.own_folders) == {files.checkpoints, files.plots, files.tensorboard, files.record}
    assert RunDir(str(tmp_path)) == files  # a str is taken as a path


def test_summary_and_failure_read_back_as_written_and_none_before(tmp_path):
    files = RunDir(tmp_path)
    assert files.read_summary() is None and files.read_failure() is None
    files.write_summary({"step": 100, "modes_captured": 8.0})
    files.write_failure(60, "non-finite loss")
    assert files.read_summary() == {"step": 100, "modes_captured": 8.0}
    assert json.loads(files.failure_file.read_text()) == {"step": 60, "error": "non-finite loss"}
    assert files.read_failure() == {"step": 60, "error": "non-finite loss"}
    assert stat.S_IMODE(files.summary_file.stat().st_mode) == 0o644  # readable by others, as open() makes it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failure.json", "summary.json"]  # no temporary left


def test_the_config_reads_back_and_an_empty_one_is_empty(tmp_path):
    files = RunDir(tmp_path)
    files.record.mkdir()
    files.config_file.write_text(yaml.safe_dump({"seed": 3, "train": {"steps": 10}}))
    assert files.read_config() == {"seed": 3, "train": {"steps": 10}}
    files.config_file.write_text("")
    assert files.read_config() == {}


def test_seed_runs_are_found_below_a_group_in_order_once_they_have_started(tmp_path):
    group = RunDir(tmp_path)
    assert group.seed_run(4).path == tmp_path / "seed_4"
    assert group.seed_runs() == []
    for seed in (5, 4):
        group.seed_run(seed).checkpoints.mkdir(parents=True)
    (tmp_path / "seed_6").mkdir()  # not started: no checkpoints/ yet
    assert group.seed_runs() == [group.seed_run(4), group.seed_run(5)]
