"""gancli.pictures.drawing_thread: the snapshot taken on the caller's thread, the drawing on a
thread of its own, one drawing in flight at a time, and a failed drawing's error raised on the
training thread. The pictures and TensorBoard here are stand-ins that record what they are asked."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from gancli.pictures.drawing_thread import PictureThread, drawing_executor


class _FailingPictures:
    """RunPictures whose drawing fails as a full disk makes it fail."""

    def snapshot(self, *_):
        return None

    def render(self, *_):
        raise OSError(28, "No space left on device", "plots/curves.png")


def test_a_failed_drawing_is_raised_on_the_training_thread():
    drawing = PictureThread(_FailingPictures(), tensorboard=None)
    drawing.submit(20, None, None, None, None, {}, [], final=False, to_tensorboard=False)
    with pytest.raises(OSError, match="No space left"):
        drawing.wait()
    drawing.submit(40, None, None, None, None, {}, [], final=False, to_tensorboard=False)
    with pytest.raises(OSError):  # from check(), once the drawing has failed, without waiting for it
        for _ in range(1000):
            drawing.check()
            time.sleep(0.01)
    drawing.close()  # nothing left in flight


class _Pictures:
    """Records each call as (what, step, thread name); `gate`, once cleared, holds render back."""

    def __init__(self, render_seconds=0.0):
        self.calls, self.render_seconds = [], render_seconds
        self.gate = threading.Event()
        self.gate.set()

    def _note(self, what, step):
        self.calls.append((what, step, threading.current_thread().name))

    def snapshot(self, evaluator, state, keys):
        self._note("snapshot", state)  # the tests pass the step as the state
        return f"snapshot of {state}"

    def render(self, step, snapshot, real, metrics, records, final):
        assert snapshot == f"snapshot of {step}"
        self.gate.wait(5)
        time.sleep(self.render_seconds)
        self._note("render", step)
        return {"samples": f"samples_{step}.png"}

    def complete(self, step, snapshot):
        self._note("complete", step)


class _TensorBoard:
    def __init__(self, pictures):
        self.pictures = pictures

    def images(self, step, figures):
        assert figures == {"samples": f"samples_{step}.png"}
        self.pictures._note("images", step)

    def flush(self):
        self.pictures._note("flush", None)


def _submit(drawing, step, to_tensorboard=True):
    drawing.submit(step, None, step, None, None, {}, [], final=False, to_tensorboard=to_tensorboard)


def test_the_snapshot_is_taken_here_and_the_drawing_there_then_sent_and_completed():
    pictures = _Pictures()
    drawing = PictureThread(pictures, _TensorBoard(pictures))
    _submit(drawing, 20)
    drawing.close()
    here = threading.current_thread().name
    assert [(what, step) for what, step, _ in pictures.calls] == [
        ("snapshot", 20), ("render", 20), ("images", 20), ("flush", None), ("complete", 20)]
    assert pictures.calls[0][2] == here
    # complete (the step's .npy, which a resume takes as "drawn") comes last, after TensorBoard has it on disk
    assert all(name.startswith("gancli-pictures") for _, _, name in pictures.calls[1:])


def test_tensorboard_is_left_alone_when_not_asked_for():
    pictures = _Pictures()
    drawing = PictureThread(pictures, tensorboard=None)  # any use of it would fail the drawing
    _submit(drawing, 20, to_tensorboard=False)
    drawing.close()
    assert [what for what, _, _ in pictures.calls] == ["snapshot", "render", "complete"]


def test_a_new_drawing_waits_for_the_one_in_flight():
    pictures = _Pictures(render_seconds=0.05)
    drawing = PictureThread(pictures, _TensorBoard(pictures))
    _submit(drawing, 20)
    _submit(drawing, 40)
    # submit(40) returned only once step 20 was complete: no queue of drawings builds up
    assert ("complete", 20) in [(what, step) for what, step, _ in pictures.calls]
    drawing.close()
    assert [step for what, step, _ in pictures.calls if what == "complete"] == [20, 40]


def test_settling_waits_only_for_the_drawing_of_an_earlier_step():
    pictures = _Pictures()
    pictures.gate.clear()  # the drawing of step 20 cannot finish yet
    drawing = PictureThread(pictures, _TensorBoard(pictures))
    _submit(drawing, 20)
    drawing.settle_before(20)  # a checkpoint at step 20 itself need not wait: returns at once
    drawing.check()  # nor does check
    assert ("complete", 20) not in [(what, step) for what, step, _ in pictures.calls]
    threading.Timer(0.05, pictures.gate.set).start()
    drawing.settle_before(30)
    assert ("complete", 20) in [(what, step) for what, step, _ in pictures.calls]
    drawing.close()


def test_closing_after_another_error_drops_the_drawings_error():
    drawing = PictureThread(_FailingPictures(), tensorboard=None)
    drawing.submit(20, None, None, None, None, {}, [], final=False, to_tensorboard=False)
    drawing.close(raise_errors=False)  # waits for the drawing, says nothing of its failure


def test_a_shared_executor_stays_open_and_an_own_one_is_shut_down():
    shared = drawing_executor()
    try:
        PictureThread(_Pictures(), None, executor=shared).close()
        assert shared.submit(lambda: 1).result() == 1  # the runs trained beside it still draw
        own = PictureThread(_Pictures(), None)
        own.close()
        with pytest.raises(RuntimeError):
            own._executor.submit(lambda: 1)
    finally:
        shared.shutdown()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are niced one by one on Linux only")
def test_the_drawing_thread_runs_at_a_lower_priority():
    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = niceness()
    executor = drawing_executor()
    try:
        drawn = executor.submit(niceness).result()
    finally:
        executor.shutdown()
    # nice 10, unless this process already runs nicer than that (raising priority is not allowed)
    assert drawn == max(10, before)
    assert niceness() == before  # the training thread keeps its own
