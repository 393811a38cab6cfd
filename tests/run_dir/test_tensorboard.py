"""The TensorBoard log: scalars under train/ or eval/, figures as images under plots/, and the purge
marker that hides what an interrupted run logged past the step it goes back to."""

import io
import types

import numpy as np
import tensorboardX.event_file_writer
from PIL import Image

from gancli.run_dir.tensorboard import TensorBoardLog
from tests.helpers import events, scalar_steps, visible


def scalars_of(found):
    """{(tag, step): value} of every scalar event."""
    return {(v.tag, e.step): v.simple_value for e in found if e.HasField("summary") for v in e.summary.value
            if v.HasField("simple_value")}


def purge_steps(found):
    return [e.step for e in found if e.HasField("session_log") and e.session_log.status == e.session_log.START]


def test_the_log_makes_its_folder_and_one_events_file(tmp_path):
    log = TensorBoardLog(tmp_path / "run" / "tb", ("d_loss",), resumed_from=None)
    log.close()
    (file,) = (tmp_path / "run" / "tb").iterdir()
    assert file.name.startswith("events.out.tfevents.")
    assert purge_steps(events(tmp_path / "run" / "tb")) == []  # a fresh run hides nothing


def test_training_metrics_go_under_train_and_the_others_under_eval(tmp_path):
    log = TensorBoardLog(tmp_path, ("d_loss", "g_loss"), resumed_from=None)
    log.scalars([{"step": 10, "d_loss": 0.5, "g_loss": 2}, {"step": 20, "d_loss": 0.25, "modes_captured": 8.0}])
    log.close()
    assert scalars_of(events(tmp_path)) == {("train/d_loss", 10): 0.5, ("train/g_loss", 10): 2.0,
                                            ("train/d_loss", 20): 0.25, ("eval/modes_captured", 20): 8.0}


def test_values_that_are_not_finite_numbers_are_left_out(tmp_path):
    log = TensorBoardLog(tmp_path, ("d_loss",), resumed_from=None)
    # a non-finite loss would wreck TensorBoard's axes; a text or a list has no point on a curve
    log.scalars([{"step": 10, "d_loss": float("nan"), "g_loss": float("inf"), "note": "x", "modes": [1, 2],
                  "precision": 0.75}])
    log.close()
    assert scalars_of(events(tmp_path)) == {("eval/precision", 10): 0.75}


def test_a_resumed_log_first_hides_what_followed_the_checkpoint(tmp_path):
    log = TensorBoardLog(tmp_path, ("d_loss",), resumed_from=20)
    log.close()
    assert purge_steps(events(tmp_path)) == [21]  # TensorBoard hides the earlier events of step 21 and on


def test_going_back_hides_the_steps_logged_past_it_which_are_logged_again(tmp_path):
    log = TensorBoardLog(tmp_path, ("d_loss",), resumed_from=None)
    log.scalars([{"step": s, "d_loss": 1.0} for s in (10, 20, 30, 40)])
    log.purge_after(20)  # a rollback to the checkpoint of step 20
    log.scalars([{"step": s, "d_loss": 0.5} for s in (30, 40)])
    log.close()
    found = events(tmp_path)
    assert scalar_steps(found, "train/d_loss") == [10, 20, 30, 40, 30, 40]  # the file keeps both attempts
    shown = [(e.step, e.summary.value[0].simple_value) for e in visible(found) if e.HasField("summary")]
    assert shown == [(10, 1.0), (20, 1.0), (30, 0.5), (40, 0.5)]  # TensorBoard shows each step once, the new one


def test_a_figure_is_logged_as_its_pixels_under_plots(tmp_path):
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[1, 2] = (255, 0, 0)
    pixels[3, 5] = (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "samples.png")
    Image.fromarray(pixels[..., 0]).save(tmp_path / "critic.png")  # grey: logged as RGB
    log = TensorBoardLog(tmp_path / "tb", (), resumed_from=None)
    log.images(40, {"samples": tmp_path / "samples.png", "critic": tmp_path / "critic.png"})
    log.close()
    images = {v.tag: (e.step, v.image) for e in events(tmp_path / "tb") if e.HasField("summary")
              for v in e.summary.value if v.HasField("image")}
    assert set(images) == {"plots/samples", "plots/critic"}
    step, image = images["plots/samples"]
    assert (step, image.height, image.width) == (40, 4, 6)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("RGB")),
                                  pixels)
    grey = np.asarray(Image.open(io.BytesIO(images["plots/critic"][1].encoded_image_string)).convert("RGB"))
    np.testing.assert_array_equal(grey, np.repeat(pixels[..., :1], 3, axis=2))


def test_two_logs_opened_by_one_process_in_one_second_keep_both_files(tmp_path, monkeypatch):
    # the events file's name takes tensorboardX's clock: fixed, both logs open "in the same second"
    monkeypatch.setattr(tensorboardX.event_file_writer, "time", types.SimpleNamespace(time=lambda: 1.7e9))
    first = TensorBoardLog(tmp_path, ("d_loss",), resumed_from=None)
    first.scalars([{"step": 10, "d_loss": 1.0}])
    first.close()
    TensorBoardLog(tmp_path, ("d_loss",), resumed_from=10).close()  # a resume in the same process (the Python API)
    assert scalar_steps(events(tmp_path), "train/d_loss") == [10]
