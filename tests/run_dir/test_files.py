"""The formats of a run's files: writes that are whole or not at all, metrics.jsonl appended and
read back (a line cut short by a kill left out), and the names of the pictures of evaluation steps."""

import errno
import json
import stat

import pytest

from gancli.errors import GancliError
from gancli.run_dir.files import (
    TMP_SUFFIX,
    MetricsLog,
    snapshot_file,
    snapshot_steps,
    step_pictures,
    write_atomically,
    write_json,
)


def test_an_atomic_write_replaces_the_file_readable_by_others_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text("old")
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert path.read_text() == "old"  # a reader still sees the old file while the new one is written
        tmp.write_text("new")

    write_atomically(path, write)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp's 0600 would hide it from other users
    (tmp,) = seen
    # hidden, in the same folder (a rename across file systems is not atomic), with path's suffix (np.save goes by it)
    assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.name.endswith(f"{TMP_SUFFIX}.json")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_names_the_file_asked_for(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def full_disk(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as err:
        write_atomically(path, full_disk)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)  # not the temporary's name
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # the temporary is removed


def test_an_atomic_write_into_a_missing_folder_names_the_file(tmp_path):
    path = tmp_path / "missing" / "samples.npy"
    with pytest.raises(FileNotFoundError) as err:
        write_atomically(path, lambda tmp: tmp.write_text("x"))
    assert err.value.filename == str(path)


def test_an_error_that_is_not_an_os_error_passes_through_and_leaves_no_temporary(tmp_path):
    def broken(tmp):
        raise ValueError("cannot encode")

    with pytest.raises(ValueError, match="cannot encode"):
        write_atomically(tmp_path / "a.png", broken)
    assert list(tmp_path.iterdir()) == []


def test_write_json_writes_the_whole_object_indented_with_a_final_newline(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"step": 1, "stale": true}')
    write_json(path, {"step": 100, "modes": [1, 2]})
    text = path.read_text()
    assert json.loads(text) == {"step": 100, "modes": [1, 2]}  # replaced, not merged
    assert text.endswith("}\n") and '\n  "step": 100' in text  # indented, for a person to read


def test_metrics_are_appended_as_one_json_object_per_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    assert log.read() == []  # no file yet
    log.append([])
    assert not log.path.exists()  # nothing to log: no empty file either
    log.append([{"step": 10, "d_loss": 0.5}])
    log.append([{"step": 20, "d_loss": 0.25}, {"step": 30, "d_loss": 0.125}])
    assert log.path.read_text().splitlines() == [
        '{"step": 10, "d_loss": 0.5}', '{"step": 20, "d_loss": 0.25}', '{"step": 30, "d_loss": 0.125}']
    assert [r["d_loss"] for r in log.read()] == [0.5, 0.25, 0.125]


def test_a_last_line_cut_short_by_a_kill_is_left_out_and_blank_lines_ignored(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10}\n\n{"step": 20}\n{"step": 3')
    assert MetricsLog(path).read() == [{"step": 10}, {"step": 20}]


def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10}\n{"step": 2\n{"step": 30}\n')
    with pytest.raises(GancliError, match=r"metrics.jsonl line 2 is not JSON; restore the file or delete that line"):
        MetricsLog(path).read()


def test_truncating_keeps_the_steps_up_to_the_checkpoint_and_drops_a_cut_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.truncate_after(20)
    assert not log.path.exists()  # no file: nothing made
    log.append([{"step": s} for s in (10, 20, 30, 40)])
    with log.path.open("a") as f:
        f.write('{"step": 5')  # a kill mid-append
    log.truncate_after(20)
    assert log.path.read_text() == '{"step": 10}\n{"step": 20}\n'
    log.append([{"step": 30}])  # the resumed run goes on from there
    assert [r["step"] for r in log.read()] == [10, 20, 30]


def test_keep_first_keeps_that_many_records(tmp_path):
    log = MetricsLog(tmp_path / "rollbacks.jsonl")
    log.keep_first(1)
    assert not log.path.exists()
    log.append([{"step": 60}, {"step": 120}, {"step": 180}])
    log.keep_first(2)
    assert log.read() == [{"step": 60}, {"step": 120}]
    log.keep_first(0)
    assert log.read() == [] and log.path.read_text() == ""


def test_the_pictures_of_evaluation_steps_are_told_from_the_other_files(tmp_path):
    for name in ("samples_0000020.png", "samples_0000020.npy", "critic_0000040.png", "samples_12345678.png",
                 "curves.png", "samples.gif", "samples_20.png", "samples_0000020.png.tmp",
                 ".samples_0000060.abc.tmp.png", "critic_0000020.svg"):
        (tmp_path / name).touch()
    found = sorted((step, path.name) for step, path in step_pictures(tmp_path))
    assert found == [(20, "samples_0000020.npy"), (20, "samples_0000020.png"), (40, "critic_0000040.png"),
                     (12345678, "samples_12345678.png")]


def test_a_missing_plots_folder_has_no_pictures(tmp_path):
    assert step_pictures(tmp_path / "plots") == []
    assert snapshot_steps(tmp_path / "plots") == []


def test_a_snapshot_is_named_by_its_step_in_seven_digits_or_more(tmp_path):
    assert snapshot_file(tmp_path, 20) == tmp_path / "samples_0000020.npy"
    assert snapshot_file(tmp_path, 12345678) == tmp_path / "samples_12345678.npy"
    assert snapshot_file(str(tmp_path), 0).name == "samples_0000000.npy"  # a str is taken as a path


def test_snapshot_steps_are_those_of_the_sample_pictures_in_order(tmp_path):
    # 100 sorts before 20 by name; the critic's picture and a lone .npy are not a snapshot's picture
    for name in ("samples_0000100.png", "samples_0000020.png", "samples_0000060.npy", "critic_0000080.png"):
        (tmp_path / name).touch()
    assert snapshot_steps(tmp_path) == [20, 100]
