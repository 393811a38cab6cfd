"""Checkpoints: a small train state saved and read back bit for bit, its digest catching arrays or
metadata changed on disk, damaged checkpoints skipped (and said so) or set aside, and a failed
save reported as a StorageError."""

import json
import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.errors import GancliError, StorageError
from gancli.run_dir.checkpoints import (
    DAMAGED_SUFFIX,
    ROLLED_BACK_SUFFIX,
    Checkpointer,
    DamagedCheckpoint,
    host_array,
    set_aside,
    state_digest,
    state_shapes,
)
from tests.helpers import assert_states_equal


def make_state(step):
    """A train state in miniature: nested weights, a counter and a typed PRNG key, all by step."""
    return {"g": {"kernel": jnp.full((2, 3), step, jnp.float32), "bias": jnp.arange(3, dtype=jnp.float32) + step},
            "step": jnp.asarray(step, jnp.int32), "key": jax.random.key(step)}


def abstract(_metadata=None):
    return jax.eval_shape(lambda: make_state(0))


def metadata_file(directory, step):
    return directory / str(step) / "metadata" / "metadata"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """checkpoints/ with steps 1, 2, 3, saved once for the module: each test damages a copy."""
    directory = tmp_path_factory.mktemp("run") / "checkpoints"
    checkpointer = Checkpointer(directory)
    try:
        for step in (1, 2, 3):
            checkpointer.save(step, make_state(step), {"step": step, "config": {"seed": 0, "lr": 1e-3}})
    finally:
        checkpointer.close()
    return directory


@pytest.fixture
def copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "run" / "checkpoints")


def read_only(directory):
    return Checkpointer(directory, read_only=True)


def test_state_shapes_name_every_leaf_by_its_path():
    assert state_shapes(make_state(0)) == {"g/bias": [3], "g/kernel": [2, 3], "key": [], "step": []}


def test_a_typed_prng_key_is_read_as_its_raw_key_data():
    key = jax.random.key(7)
    np.testing.assert_array_equal(host_array(key), np.asarray(jax.random.key_data(key)))
    assert isinstance(host_array(jnp.ones(2)), np.ndarray)


def test_the_digest_changes_with_any_array_dtype_path_or_metadata_but_not_a_saved_digest():
    metadata = {"step": 1, "config": {"seed": 0}}
    base = state_digest(make_state(1), metadata)
    assert state_digest(make_state(1), dict(reversed(metadata.items()))) == base  # same contents: same digest
    assert state_digest(make_state(1), {**metadata, "digest": "anything"}) == base  # a digest does not cover itself
    one_bit = make_state(1)
    one_bit["g"]["bias"] = one_bit["g"]["bias"].at[2].set(np.nextafter(np.float32(3), np.float32(4)))
    other_dtype = {**make_state(1), "step": jnp.asarray(1, jnp.uint32)}  # the same bytes
    other_path = {**make_state(1), "counter": make_state(1)["step"]}
    del other_path["step"]
    variants = [
        state_digest(one_bit, metadata),
        state_digest(other_dtype, metadata),
        state_digest(other_path, metadata),
        state_digest({**make_state(1), "key": jax.random.key(2)}, metadata),
        state_digest(make_state(1), {**metadata, "config": {"seed": 1}}),  # the config counts as much as the arrays
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_a_saved_state_reads_back_bit_identical_with_its_metadata(saved):
    checkpointer = read_only(saved)
    try:
        assert checkpointer.all_steps() == [1, 2, 3] and checkpointer.latest_step() == 3
        metadata, state = checkpointer.read_verified(2, abstract)
        assert_states_equal(state, make_state(2))
        assert jax.dtypes.issubdtype(state["key"].dtype, jax.dtypes.prng_key)  # still a typed key
        digest = metadata.pop("digest")
        assert metadata == {"step": 2, "config": {"seed": 0, "lr": 1e-3}}
        assert len(digest) == 64 and int(digest, 16) >= 0  # a SHA-256 in hex
    finally:
        checkpointer.close()


def test_only_the_newest_keep_checkpoints_are_kept(tmp_path):
    checkpointer = Checkpointer(tmp_path / "checkpoints", keep=2)
    try:
        for step in (10, 20, 30):
            checkpointer.save(step, make_state(step), {"step": step})
        checkpointer.wait()
        assert checkpointer.all_steps() == [20, 30]
    finally:
        checkpointer.close()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["20", "30"]


def test_arrays_swapped_on_disk_are_caught_by_the_digest(copy):
    shutil.rmtree(copy / "3" / "state")
    shutil.copytree(copy / "1" / "state", copy / "3" / "state")
    checkpointer = read_only(copy)
    try:
        assert_states_equal(checkpointer.restore(3, abstract()), make_state(1))  # Orbax alone sees nothing wrong
        with pytest.raises(DamagedCheckpoint, match=r"^its arrays or metadata differ from those saved \(the checksum"):
            checkpointer.read_verified(3, abstract)
    finally:
        checkpointer.close()


def test_edited_metadata_is_caught_by_the_digest(copy):
    metadata = json.loads(metadata_file(copy, 3).read_text())
    metadata["config"]["lr"] = 1.0
    metadata_file(copy, 3).write_text(json.dumps(metadata))
    checkpointer = read_only(copy)
    try:
        with pytest.raises(DamagedCheckpoint, match="differ from those saved"):
            checkpointer.read_verified(3, abstract)
    finally:
        checkpointer.close()


def test_a_checkpoint_saved_without_a_digest_is_trusted(copy):
    metadata = json.loads(metadata_file(copy, 3).read_text())
    del metadata["digest"]  # as gancli saved them before 0.2
    metadata_file(copy, 3).write_text(json.dumps(metadata))
    checkpointer = read_only(copy)
    try:
        metadata, state = checkpointer.read_verified(3, abstract)
        assert "digest" not in metadata
        assert_states_equal(state, make_state(3))
    finally:
        checkpointer.close()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda step_dir: (step_dir / "metadata" / "metadata").write_text("{cut sh"), "its metadata cannot be read ("),
    (lambda step_dir: (step_dir / "state" / "manifest.ocdbt").unlink(), "its arrays cannot be read ("),
])
def test_an_unreadable_checkpoint_is_damaged_and_says_which_part(copy, damage, message):
    damage(copy / "3")
    checkpointer = read_only(copy)
    try:
        with pytest.raises(DamagedCheckpoint) as err:
            checkpointer.read_verified(3, abstract)
    finally:
        checkpointer.close()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_an_error_of_the_restore_target_passes_through(saved):
    def refuse(metadata):
        raise GancliError(f"the checkpoint at step {metadata['step']} holds a train state of another layout")

    checkpointer = read_only(saved)
    try:
        with pytest.raises(GancliError, match="step 3 holds a train state of another layout"):
            checkpointer.read_verified(3, refuse)  # the user's mistake, not damage: nothing to skip past
    finally:
        checkpointer.close()


def test_the_newest_intact_checkpoint_is_found_past_damaged_ones_with_a_warning(copy, caplog):
    metadata_file(copy, 3).write_text("{cut sh")
    metadata = json.loads(metadata_file(copy, 2).read_text())
    metadata["step"] = 20
    metadata_file(copy, 2).write_text(json.dumps(metadata))
    checkpointer = read_only(copy)
    try:
        with caplog.at_level(logging.WARNING):
            restored = checkpointer.newest_intact(abstract)
    finally:
        checkpointer.close()
    assert restored.step == 1 and restored.metadata["step"] == 1
    assert_states_equal(restored.state, make_state(1))
    assert [step for step, _ in restored.skipped] == [3, 2]  # newest first
    assert restored.skipped[0][1].startswith("its metadata cannot be read")
    assert restored.skipped[1][1].startswith("its arrays or metadata differ from those saved")
    assert "skipping the damaged checkpoint at step 3" in caplog.text
    assert "skipping the damaged checkpoint at step 2" in caplog.text
    assert sorted(p.name for p in copy.iterdir()) == ["1", "2", "3"]  # skipped, not set aside: that is the caller's


def test_when_every_checkpoint_is_damaged_the_error_names_each_and_deletes_nothing(copy):
    for step in (1, 2, 3):
        metadata_file(copy, step).write_text("{cut sh")
    checkpointer = read_only(copy)
    try:
        with pytest.raises(GancliError) as err:
            checkpointer.newest_intact(abstract)
    finally:
        checkpointer.close()
    message = str(err.value)
    assert message.startswith(f"no intact checkpoint in {copy} (step 3: its metadata cannot be read")
    assert "; step 2: its metadata" in message and "; step 1: its metadata" in message
    assert message.endswith("nothing was deleted: move that directory away to train from scratch")
    assert sorted(p.name for p in copy.iterdir()) == ["1", "2", "3"]


def test_without_any_checkpoint_there_is_nothing_to_restore(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    checkpointer = read_only(tmp_path / "checkpoints")
    try:
        assert checkpointer.newest_intact(abstract) is None
        assert checkpointer.latest_step() is None and checkpointer.all_steps() == []
    finally:
        checkpointer.close()


def test_a_checkpoint_deleted_while_being_read_is_passed_over_quietly(copy, caplog):
    def deleting_step_3(metadata):
        if metadata["step"] == 3:  # the run still training removes it (train.keep) just now
            shutil.rmtree(copy / "3")
        return abstract()

    checkpointer = read_only(copy)
    try:
        with caplog.at_level(logging.WARNING):
            restored = checkpointer.newest_intact(deleting_step_3)
    finally:
        checkpointer.close()
    assert restored.step == 2 and restored.skipped == ()
    assert "skipping" not in caplog.text  # not damaged: gone


def test_a_checkpoint_set_aside_is_kept_out_of_sight_under_a_name_of_its_own(saved, copy):
    checkpointer = read_only(copy)
    try:
        assert set_aside(copy, 3) == copy / f"3{DAMAGED_SUFFIX}"
        checkpointer.reload()
        assert checkpointer.all_steps() == [1, 2]
        shutil.copytree(copy / f"3{DAMAGED_SUFFIX}", copy / "3")  # the same step damaged again: nothing overwritten
        assert set_aside(copy, 3) == copy / f"3{DAMAGED_SUFFIX}-1"
        assert set_aside(copy, 2, ROLLED_BACK_SUFFIX) == copy / f"2{ROLLED_BACK_SUFFIX}"
        checkpointer.reload()
        assert checkpointer.all_steps() == [1]
    finally:
        checkpointer.close()
    assert sorted(p.name for p in copy.iterdir()) == ["1", "2.rolled-back", "3.damaged", "3.damaged-1"]
    assert metadata_file(copy, "3.damaged-1").read_bytes() == metadata_file(saved, 3).read_bytes()  # kept whole


def test_a_reader_cleans_up_nothing_and_an_unused_checkpointer_creates_nothing(copy, tmp_path):
    stale = shutil.copytree(copy / "3", copy / "4.orbax-checkpoint-tmp-1234")  # a save in flight, or killed
    checkpointer = read_only(copy)
    try:
        assert checkpointer.all_steps() == [1, 2, 3]
    finally:
        checkpointer.close()
    assert stale.is_dir()  # the process writing it may still be at it
    unused = Checkpointer(tmp_path / "unused" / "checkpoints")
    unused.check()
    unused.close()
    assert not (tmp_path / "unused").exists()


def test_a_save_that_cannot_be_written_is_a_storage_error_saying_how_to_resume(tmp_path):
    (tmp_path / "run").write_text("a file, not a folder")
    checkpointer = Checkpointer(tmp_path / "run" / "checkpoints")
    with pytest.raises(StorageError) as err:
        checkpointer.save(5, make_state(5), {"step": 5})
    message = str(err.value)
    assert message.startswith(f"could not save the checkpoint of step 5 in {tmp_path / 'run' / 'checkpoints'} (")
    assert "\n" not in message
    assert message.endswith(f"the checkpoints saved before are intact: free space or fix the directory, then resume "
                            f"with: gancli resume {tmp_path / 'run'}")
