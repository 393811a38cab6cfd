"""How the command line reports a user error: `<command>: error: <message>` on one line of stderr,
exit status 2 unless told otherwise, and a traceback only with GANCLI_DEBUG=1."""

from __future__ import annotations

import pytest

from gancli.cli.errors import DEBUG_ENV, USAGE_ERROR, fail


def test_a_usage_error_is_one_line_on_stderr_and_exit_status_2(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_:
        fail("gancli train", "train.steps must be at least 1")
    assert exit_.value.code == USAGE_ERROR == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "gancli train: error: train.steps must be at least 1\n"


def test_another_exit_status_may_be_given(capsys):
    with pytest.raises(SystemExit) as exit_:
        fail("gancli eval", "could not write eval.json", status=1)
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "gancli eval: error: could not write eval.json\n"


def test_the_error_being_handled_is_not_shown_without_debug(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit):
        try:
            raise KeyError("inner cause")
        except KeyError:
            fail("gancli sample", "no checkpoint")
    assert "Traceback" not in capsys.readouterr().err


def test_debug_prints_the_traceback_of_the_error_being_handled_before_the_line(capsys, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(SystemExit):
        try:
            raise KeyError("inner cause")
        except KeyError:
            fail("gancli sample", "no checkpoint")
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "KeyError: 'inner cause'" in err
    assert err.endswith("gancli sample: error: no checkpoint\n")  # the one line still comes last


def test_debug_without_an_error_being_handled_prints_only_the_line(capsys, monkeypatch):
    # No exception is active: there is no traceback to show (print_exc would print "NoneType: None").
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(SystemExit):
        fail("gancli", "unknown command 'trian'")
    assert capsys.readouterr().err == "gancli: error: unknown command 'trian'\n"
