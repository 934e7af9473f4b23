"""Model files in, ModelInfo or a ModelError with a useful message out."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from recipec.engine import ModelError, ModelSpec, load_teacher, model_info, verify_model

SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

pytestmark = pytest.mark.model


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def tiny_gguf(architecture: str) -> bytes:
    """A well-formed GGUF v3 with one string key and no tensors."""
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    kv = _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string(architecture)
    return header + kv


def _prefix(n: int) -> Callable[[bytes], bytes]:
    return lambda model: model[:n]


# name -> (bytes of the file from the real model's bytes, words the message must contain)
BAD_FILES: dict[str, tuple[Callable[[bytes], bytes], tuple[str, ...]]] = {
    "empty": (lambda model: b"", ("not a GGUF", "empty")),
    "text file": (lambda model: b"this is not a model\n" * 10, ("not a GGUF", "this is not")),
    "random bytes": (lambda model: os.urandom(4096), ("not a GGUF",)),
    "magic only": (_prefix(4), ("truncated", "header")),
    "cut in header": (_prefix(100_000), ("truncated", "header")),
    "cut in tensors": (_prefix(2_000_000), ("truncated", "tensors need", "2000000")),
    "one byte short": (lambda model: model[:-1], ("truncated",)),
    "bad version": (lambda model: b"GGUF" + b"\x63\x00\x00\x00" + model[8:4096], ("version 99",)),
    "garbage after magic": (lambda model: b"GGUF\x03\x00\x00\x00" + b"\xff" * 64, ("corrupt",)),
}


@pytest.fixture(scope="module")
def model_bytes(teacher_path: Path) -> bytes:
    return teacher_path.read_bytes()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_a_model_error(case: str, model_bytes: bytes, tmp_path: Path) -> None:
    make, words = BAD_FILES[case]
    path = tmp_path / "x.gguf"
    path.write_bytes(make(model_bytes))
    with pytest.raises(ModelError) as caught:
        model_info(path)
    error = caught.value
    assert all(word in error.message for word in words), error.message
    assert str(path) in error.message
    assert error.hint and error.path == path


@pytest.mark.parametrize("case", ["text file", "cut in tensors"])
def test_bad_file_fails_verify_and_load_with_the_model_name(
    case: str, model_bytes: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(BAD_FILES[case][0](model_bytes))
    spec = ModelSpec("teacher", path, None)
    for check in (verify_model, load_teacher):
        with pytest.raises(ModelError, match="^model 'teacher': file "):
            check(spec)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "models" / "x.gguf"
    with pytest.raises(ModelError) as caught:
        verify_model(ModelSpec("teacher", path, SHA256))
    assert caught.value.message == f"model 'teacher': file {path} not found"
    # A GGUF of the user's own is not what `make model` fetches: the hint says where to put it.
    assert "make model" not in caught.value.hint and "check the path" in caught.value.hint
    assert caught.value.path == path


def test_missing_default_teacher_suggests_make_model(tmp_path: Path) -> None:
    path = tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(ModelError) as caught:
        verify_model(ModelSpec("teacher", path, SHA256))
    assert "make model" in caught.value.hint


def test_wrong_sha256_shows_both(teacher_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(ModelError) as caught:
        verify_model(ModelSpec("teacher", teacher_path, wrong))
    assert wrong in caught.value.message and SHA256 in caught.value.message
    assert "sha256" in caught.value.hint


def test_llama_cpp_refusal_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "alien.gguf"
    path.write_bytes(tiny_gguf("no-such-architecture"))
    assert model_info(path).architecture == "no-such-architecture"
    with pytest.raises(ModelError, match="llama.cpp could not load") as caught:
        load_teacher(ModelSpec("alien", path, None))
    assert caught.value.hint


def test_model_info_reads_the_header(teacher_path: Path) -> None:
    info = model_info(teacher_path)
    assert info.quantization == "Q4_1"
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.vocab_size == 49152
    assert info.chat_template_name == "chatml"
    assert info.parameters is not None and 130e6 < info.parameters < 140e6
    assert info.size_bytes == teacher_path.stat().st_size
    assert info.sha256 is None
    assert model_info(teacher_path, with_hash=True).sha256 == SHA256


def test_verify_model_accepts_the_real_teacher(teacher_path: Path) -> None:
    info = verify_model(ModelSpec("teacher", teacher_path, SHA256.upper()))
    assert info.sha256 == SHA256
    assert info.quantization == "Q4_1"
