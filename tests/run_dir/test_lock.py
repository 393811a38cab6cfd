"""The run lock: one writer per run directory, a second refused with a message that names the
holder's pid once it has signed, and the lock free again once the holder leaves."""

import os

import pytest

from gancli.errors import GancliError
from gancli.run_dir.layout import RunDir
from gancli.run_dir.lock import RunLock

# Above the largest pid_max Linux allows (2**22): never a live process.
DEAD_PID = 2**22 + 1


def test_taking_the_lock_makes_the_run_directory_and_its_lock_file(tmp_path):
    run_dir = tmp_path / "outputs" / "run"
    with RunLock(run_dir):
        assert RunDir(run_dir).lock_file.is_file()
    assert RunDir(run_dir).lock_file.is_file()  # unlocked, not deleted: a waiting process locks the same file


def test_a_second_lock_on_the_same_run_is_refused_and_says_what_to_do(tmp_path):
    # flock belongs to an open file: a second open in this very process is refused as another process's is
    with RunLock(tmp_path), pytest.raises(GancliError) as err:
        RunLock(tmp_path).__enter__()
    message = str(err.value)
    assert message == (f"another process is training into {tmp_path}; wait for it to finish or stop it, or train "
                       "into another run directory")  # not signed yet: no pid to name


def test_a_signed_lock_names_its_holders_pid(tmp_path):
    with RunLock(tmp_path) as lock:
        lock.sign()
        assert RunDir(tmp_path).lock_file.read_text() == f"{os.getpid()}\n"
        with pytest.raises(GancliError, match=rf"^another process \(pid {os.getpid()}\) is training into "):
            RunLock(tmp_path).__enter__()


def test_a_pid_left_by_an_earlier_holder_that_died_is_not_named(tmp_path):
    RunDir(tmp_path).lock_file.write_text(f"{DEAD_PID}\n")
    with RunLock(tmp_path), pytest.raises(GancliError, match=r"^another process is training into") as err:
        RunLock(tmp_path).__enter__()
    assert str(DEAD_PID) not in str(err.value)


def test_garbage_in_the_lock_file_is_not_named_as_a_pid(tmp_path):
    RunDir(tmp_path).lock_file.write_text("not a pid\n")
    with RunLock(tmp_path), pytest.raises(GancliError, match=r"^another process is training into"):
        RunLock(tmp_path).__enter__()


def test_signing_replaces_what_the_file_held_and_taking_the_lock_alone_changes_nothing(tmp_path):
    lock_file = RunDir(tmp_path).lock_file
    lock_file.write_text("123456789012345\n")  # longer than any pid: a left-over tail would show
    with RunLock(tmp_path) as lock:
        assert lock_file.read_text() == "123456789012345\n"  # a command refused after locking leaves it as it was
        lock.sign()
    assert lock_file.read_text() == f"{os.getpid()}\n"


def test_the_lock_is_free_again_once_its_holder_leaves(tmp_path):
    with RunLock(tmp_path):
        pass
    with pytest.raises(RuntimeError, match="training failed"), RunLock(tmp_path):
        raise RuntimeError("training failed")  # leaving with an error unlocks too
    with RunLock(tmp_path) as lock:
        lock.sign()


def test_locks_on_two_run_directories_do_not_meet(tmp_path):
    with RunLock(tmp_path / "a"), RunLock(tmp_path / "b"):
        pass
