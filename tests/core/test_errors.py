"""core/errors.py: the one user-facing error type, message_for and about."""

from __future__ import annotations

import pytest

from core.audio import AudioError
from core.errors import UserError, about, message_for


def test_about_names_the_input_and_keeps_the_error_type():
    with pytest.raises(AudioError) as info:
        with about("--pin 'wave.npz@45'"):
            raise AudioError("wave.npz: file not found")
    assert str(info.value) == "--pin 'wave.npz@45': wave.npz: file not found"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_about_lets_other_errors_and_no_error_through():
    with pytest.raises(KeyError):
        with about("--armature"):
            raise KeyError("a bug is not the user's input")
    with about("--armature"):
        value = 3
    assert value == 3


def test_message_for_words_user_errors_as_they_are_and_bugs_with_their_type():
    assert message_for(UserError("No audio: add a sound strip"), "Generating gestures") == \
        "No audio: add a sound strip"
    assert message_for(KeyError("x"), "Generating gestures") == "Generating gestures failed: KeyError: 'x'"
    assert message_for(RuntimeError("boom")) == "RuntimeError: boom"
