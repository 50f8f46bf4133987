"""Every reader of a file the user gives answers a bad file with one plain UserError, never a
traceback: bone-map presets, model files (.json and .npz), SMPL-X motion .npz (pins, imports),
WAV audio, BVH takes (training corpora), and the take recipes stored in a .blend. The cases:
bytes that are not UTF-8, JSON nested 100,000 deep, absurdly large files, truncations, and
seeded random corruptions of a good file (bytes changed; JSON values replaced by values of
other types)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from core import bone_map as bm
from core.audio import load_audio_16k_mono
from core.bvh import local_rotations, read_bvh, root_positions
from core.directing import Recipe
from core.errors import UserError
from core.files import MAX_JSON_BYTES, parse_json, read_json, read_npz, read_text
from core.model_file import load_model, random_model, save_model
from core.skeleton import JOINT_NAMES
from core.smplx_npz import read_smplx_npz
from tests.core.bvh_takes import write_take
from tests.speech import speech_like, write_wav

NOT_UTF8 = b'{"format": "a2g-bone-map", "x": "\xff\xfe\x80"}'
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
HUGE_INT = b'{"format": ' + b"1" * 100_000 + b"}"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One good file of each kind, and how each is read."""
    d = tmp_path_factory.mktemp("good")
    m = random_model(seed=1)
    model_json = save_model(d / "m.json", m.weights, m.config, m.feature_mean, m.feature_std,
                            m.code_mean, m.code_std)
    preset = d / "p.json"
    bm.write_preset(bm.detect(list(JOINT_NAMES)), preset)
    wav = write_wav(d / "s.wav", speech_like(0.5, seed=1))
    clip = d / "c.npz"
    np.savez(clip, poses=np.zeros((5, 165), np.float32), trans=np.zeros((5, 3), np.float32),
             mocap_frame_rate=np.array(30.0), betas=np.zeros(300, np.float32),
             gender=np.array("neutral"))
    take = write_take(d / "t.bvh", np.broadcast_to(np.eye(3), (10, 55, 3, 3)).copy())

    def read_take(path):
        clip = read_bvh(path)
        return local_rotations(clip), root_positions(clip)

    return {
        "bvh": (take, read_take),
        "preset": (preset, bm.read_preset),
        "model .json": (model_json, load_model),
        "model .npz": (d / "m.npz", lambda p: load_model(d / "m.json")),
        "motion .npz": (clip, read_smplx_npz),
        "wav": (wav, load_audio_16k_mono),
    }


def _only_user_errors(path: Path, read, contents) -> int:
    """Write each of ``contents`` to ``path`` and read it: returns how many were refused; any
    exception other than a UserError fails the test, naming the case."""
    original = path.read_bytes()
    refused = 0
    try:
        for i, data in enumerate(contents):
            path.write_bytes(data)
            try:
                read(path)
            except UserError as exc:
                assert str(exc) and "Traceback" not in str(exc)
                refused += 1
            except BaseException as exc:  # noqa: BLE001 - the point: nothing else may escape
                pytest.fail(f"{path.name} case {i} ({data[:40]!r}...): {type(exc).__name__}: {exc}")
    finally:
        path.write_bytes(original)
    return refused


def _corruptions(original: bytes, seed: int, n: int = 120) -> list[bytes]:
    rng = random.Random(seed)
    out = [original[:k] for k in (0, 4, 11, 12, 40, 100, len(original) // 2, len(original) - 1)]
    for _ in range(n):
        b = bytearray(original)
        for _ in range(rng.choice((1, 2, 8))):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


def _json_mutations(original: bytes, seed: int, n: int = 150) -> list[bytes]:
    """The document with one value (anywhere) replaced by a value of another type."""
    rng = random.Random(seed)

    def slots(o):
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in list(items):
            yield o, k
            yield from slots(v)

    out = []
    for _ in range(n):
        doc = json.loads(original)
        where = list(slots(doc))
        o, k = where[rng.randrange(len(where))]
        o[k] = rng.choice([None, 1, -1, 1.5, "x", [], {}, [1, 2], {"a": 1}, True, 10**400, 1e308, "",
                           [[[]]]])
        out.append(json.dumps(doc).encode())
    return out


@pytest.mark.parametrize("kind", ["preset", "model .json", "model .npz", "motion .npz", "wav", "bvh"])
def test_hostile_files_get_one_plain_message(good, kind):
    path, read = good[kind]
    read(path)  # the good file reads
    original = path.read_bytes()
    cases = [NOT_UTF8, DEEP, DEEP_OBJECT, HUGE_INT, bytes(range(256)) * 10, *_corruptions(original, 1)]
    if path.suffix == ".json":
        cases += _json_mutations(original, 2)
    refused = _only_user_errors(path, read, cases)
    assert refused >= 8  # at least the fixed hostile cases and the truncations were refused


@pytest.mark.parametrize("data, words", [
    (NOT_UTF8, "not a text file (byte 33 is not UTF-8 text)"),
    (DEEP, "nested too deeply"),
    (DEEP_OBJECT, "nested too deeply"),
])
def test_preset_messages_say_what_is_wrong(tmp_path, data, words):
    path = tmp_path / "preset.json"
    path.write_bytes(data)
    with pytest.raises(bm.BoneMapError) as info:
        bm.read_preset(path, "--bone-map")
    assert words in str(info.value)
    assert f"--bone-map '{path}'" in str(info.value)


def test_model_json_that_is_not_text(tmp_path, good):
    path = tmp_path / "m.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(UserError, match=r"m\.json: not a text file \(byte 0 is not UTF-8"):
        load_model(path)


def test_too_large_a_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: no disk or time spent
        f.truncate(MAX_JSON_BYTES + 1)
    with pytest.raises(UserError, match="too large"):
        load_model(path)
    with pytest.raises(bm.BoneMapError, match="too large"):
        bm.read_preset(path)


def test_read_text_and_json_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="^the thing: file not found$"):
        read_text(tmp_path / "none", name="the thing")
    with pytest.raises(ValueError, match="is a folder"):
        read_json(tmp_path)
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf[1]")
    assert read_json(tmp_path / "bom.json") == [1]  # a byte-order mark (Windows editors) is fine
    with pytest.raises(ValueError, match="^x: not valid JSON"):
        parse_json("{", name="x")


@pytest.mark.parametrize("text", ["[" * 100_000, "1", "[]", "null", '"text"', '{"version": 1e999}'])
def test_unreadable_recipes_are_directing_errors(text):
    with pytest.raises(UserError, match="recipe is unreadable"):
        Recipe.from_json(text)


def test_npz_bomb_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    """An archive whose members unpack beyond the limit (a zip bomb: gigabytes of zeros deflate
    to megabytes) is refused from its directory, nothing unpacked. The limit is lowered here
    so that the test needs no gigabytes."""
    import core.files

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, poses=np.zeros((10_000, 165), np.float32))  # 6.6 MB -> 7 kB
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(core.files, "MAX_NPZ_BYTES", 1_000_000)
    with pytest.raises(ValueError, match=r"its arrays unpack to 7 MB, more than this reads"):
        read_npz(path)
    with pytest.raises(UserError, match="unpack to"):
        read_smplx_npz(path)
