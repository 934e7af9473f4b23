"""Broken models in (copies of the real GGUF, damaged in the test), one ModelError message out:
never a traceback from the sampler or llama-cpp-python, never a llama.cpp abort."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path

import jinja2
import llama_cpp
import numpy as np
import pytest

from recipec.engine import ModelError, ModelSpec, Sampling, load_teacher, verify_model
from recipec.engine.gguf import _read_header, file_sha256, model_info
from recipec.engine.sampler import sample
from recipec.engine.teacher import (
    CHATML,
    ChatTemplate,
    Teacher,
    _load_llama,
    _tokenizer,
    probe_logits,
)

pytestmark = pytest.mark.model

MESSAGES = [{"role": "user", "content": "Name a colour."}]
SCHEMA = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
SHORT = Sampling(max_tokens=12)


@pytest.fixture(scope="module")
def model_bytes(teacher_path: Path) -> bytes:
    return teacher_path.read_bytes()


def _value_offset(data: bytes, key: str) -> int:
    """Where the value of metadata `key` starts (after its 4-byte type), found by its name."""
    encoded = key.encode()
    at = data.index(struct.pack("<Q", len(encoded)) + encoded)
    return at + 8 + len(encoded) + 4


def with_value(data: bytes, key: str, fmt: str, value: float) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, _value_offset(data, key), value)
    return bytes(out)


def with_template(data: bytes, text: str) -> bytes:
    """The GGUF with `text` as its chat template, padded with spaces to keep every offset."""
    out = bytearray(data)
    at = _value_offset(data, "tokenizer.chat_template")
    (length,) = struct.unpack_from("<Q", data, at)
    out[at + 8 : at + 8 + length] = text.encode().ljust(length)
    return bytes(out)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "damaged.gguf"
    path.write_bytes(data)
    return path


def once_named(message: str) -> None:
    assert message.startswith("model 'teacher': ") and message.count("model 'teacher'") == 1


# --- non-finite logits ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_sampler_refuses_non_finite_logits(bad: float, temperature: float) -> None:
    logits = np.linspace(-5, 5, 1000, dtype=np.float32)
    logits[7] = bad
    allowed = np.ones(1000, dtype=np.bool_)
    sampling = Sampling(temperature=temperature, top_p=0.9)
    with pytest.raises(ModelError, match="1 non-finite logits") as caught:
        sample(logits, allowed, sampling, np.random.default_rng(0))
    assert "sha256" in caught.value.hint


def test_minus_infinity_is_a_zero_probability_unless_every_allowed_token_has_it() -> None:
    logits = np.linspace(-5, 5, 1000, dtype=np.float32)
    logits[900:] = -np.inf
    allowed = np.zeros(1000, dtype=np.bool_)
    allowed[890:] = True
    token = sample(logits, allowed, Sampling(), np.random.default_rng(0))
    assert 890 <= token < 900
    allowed[:900] = False
    with pytest.raises(ModelError, match="-infinity"):
        sample(logits, allowed, Sampling(), np.random.default_rng(0))


def test_all_nan_logits_are_a_model_error_not_an_index_error() -> None:
    logits = np.full(49152, np.nan, dtype=np.float32)
    with pytest.raises(ModelError, match="49152 non-finite logits \\(NaN\\)"):
        sample(logits, np.ones(49152, np.bool_), Sampling(), np.random.default_rng(0))


def _nan_llama(tmp_path: Path, model_bytes: bytes) -> tuple[ModelSpec, llama_cpp.Llama]:
    # rope.freq_base 0 loads in llama.cpp and makes every logit NaN; verify_model refuses the
    # file, so these tests load it past verification, as a file damaged after checking would.
    path = write(tmp_path, with_value(model_bytes, "llama.rope.freq_base", "<f", 0.0))
    spec = ModelSpec("teacher", path, None, context=512)
    return spec, _load_llama(spec)


def test_real_nan_logits_stop_generation_with_a_message(
    tmp_path: Path, model_bytes: bytes, teacher_path: Path
) -> None:
    spec, llm = _nan_llama(tmp_path, model_bytes)
    info = model_info(teacher_path)  # the damaged copy's own header is refused, rightly
    teacher = Teacher(spec, info, llm, _tokenizer(llm), ChatTemplate(CHATML, "", ""))
    with teacher, pytest.raises(ModelError, match="non-finite logits \\(NaN\\)") as caught:
        teacher.generate(MESSAGES, SCHEMA, 0, SHORT)
    assert caught.value.hint


def test_probe_finds_nan_logits_at_load(tmp_path: Path, model_bytes: bytes) -> None:
    _, llm = _nan_llama(tmp_path, model_bytes)
    try:
        with pytest.raises(ModelError, match="non-finite logits"):
            probe_logits(llm)
    finally:
        llm.close()


# --- header values llama.cpp would abort on -------------------------------------------------

# key, struct format, value, words the message must contain. NaN or -1 in the rms epsilon and
# 0 layers abort llama.cpp (GGML_ASSERT(eps >= 0.0f), then a gdb backtrace); 0 or NaN in
# rope.freq_base makes every logit NaN.
BAD_HEADERS = [
    ("llama.attention.layer_norm_rms_epsilon", "<f", math.nan, "is nan"),
    ("llama.attention.layer_norm_rms_epsilon", "<f", -1.0, "at least 0"),
    ("llama.attention.layer_norm_rms_epsilon", "<f", math.inf, "is inf"),
    ("llama.rope.freq_base", "<f", math.nan, "is nan"),
    ("llama.rope.freq_base", "<f", 0.0, "above 0"),
    ("llama.block_count", "<I", 0, "at least 1"),
    ("llama.attention.head_count", "<I", 0, "at least 1"),
]


@pytest.mark.parametrize("key, fmt, value, words", BAD_HEADERS)
def test_header_values_llama_cpp_would_abort_on(
    key: str, fmt: str, value: float, words: str, model_bytes: bytes, tmp_path: Path
) -> None:
    path = write(tmp_path, with_value(model_bytes, key, fmt, value))
    with pytest.raises(ModelError) as caught:
        model_info(path)
    message = caught.value.message
    assert key in message and words in message and str(path) in message, message
    assert caught.value.hint


def test_nan_epsilon_is_a_message_from_load_teacher_not_an_abort(
    model_bytes: bytes, tmp_path: Path
) -> None:
    key = "llama.attention.layer_norm_rms_epsilon"
    path = write(tmp_path, with_value(model_bytes, key, "<f", math.nan))
    with pytest.raises(ModelError, match=f"{key} is nan") as caught:
        load_teacher(ModelSpec("teacher", path, file_sha256(path)))
    once_named(caught.value.message)


# --- chat templates in the GGUF -------------------------------------------------------------


def test_llama_cpp_python_itself_compiles_the_gguf_template(
    model_bytes: bytes, tmp_path: Path
) -> None:
    """Why _gguf_templates_left_alone exists; when this fails, the workaround can go."""
    path = write(tmp_path, with_template(model_bytes, "{% if %}"))
    with pytest.raises(jinja2.TemplateSyntaxError):
        llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)


def test_gguf_template_that_does_not_compile_is_a_message(
    model_bytes: bytes, tmp_path: Path
) -> None:
    path = write(tmp_path, with_template(model_bytes, "{% if %}"))
    with pytest.raises(ModelError, match="GGUF's chat template does not compile") as caught:
        load_teacher(ModelSpec("teacher", path, None))
    once_named(caught.value.message)
    assert "chat_template" in caught.value.hint


@pytest.mark.parametrize("start", ["{% if %}", "{{ 10**(10**10) }}", "{{ 'x' * 10**9 }}"])
def test_recipe_template_means_the_gguf_one_is_never_compiled(
    start: str, model_bytes: bytes, tmp_path: Path
) -> None:
    path = write(tmp_path, with_template(model_bytes, start))
    spec = ModelSpec("teacher", path, None, chat_template="chatml")
    with load_teacher(spec) as teacher:
        prompt = teacher.template.render(MESSAGES)
        assert prompt.endswith("<|im_start|>assistant\n")
        assert teacher.prompt_tokens(MESSAGES)


@pytest.mark.parametrize("start", ["{{ 10**(10**10) }}", "{{ 'x' * 10**9 }}"])
def test_gguf_template_bomb_fails_fast_with_a_message(
    start: str, model_bytes: bytes, tmp_path: Path
) -> None:
    path = write(tmp_path, with_template(model_bytes, start))
    with (
        load_teacher(ModelSpec("teacher", path, None)) as teacher,
        pytest.raises(ModelError, match="chat template failed: .*too"),
    ):
        teacher.prompt_tokens(MESSAGES)


# --- damaged weights whose sha256 matches ---------------------------------------------------


def _damage(data: bytes, start: int, chunk: bytes) -> bytes:
    out = bytearray(data)
    out[start : start + len(chunk)] = chunk
    return bytes(out)


def _f32_tensor_start(path: Path) -> int:
    _, tensors, data_start = _read_header(path, path.stat().st_size)
    norm = next(t for t in tensors if t.type_id == 0)  # an F32 norm vector
    return data_start + norm.offset


DAMAGE: dict[str, Callable[[bytes, Path], bytes]] = {
    "random bytes over quantized blocks": lambda data, path: _damage(
        data, len(data) // 2, np.random.default_rng(1).bytes(1 << 16)
    ),
    "NaN in an F32 tensor": lambda data, path: _damage(
        data, _f32_tensor_start(path) + 8, struct.pack("<f", math.nan)
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_weights_with_a_matching_hash_are_found(
    case: str, model_bytes: bytes, teacher_path: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, DAMAGE[case](model_bytes, teacher_path))
    spec = ModelSpec("teacher", path, file_sha256(path))  # the user hashed the damaged file
    with pytest.raises(ModelError, match="damaged weights: 1 of 272 tensors") as caught:
        verify_model(spec)
    once_named(caught.value.message)
    assert "publisher" in caught.value.hint


def test_finite_but_destroyed_weights_fail_the_probe(model_bytes: bytes, tmp_path: Path) -> None:
    # Zeros are valid numbers everywhere: no tensor check can see them, the probe can.
    path = write(tmp_path, _damage(model_bytes, 2_000_000, bytes(len(model_bytes) * 3 // 10)))
    spec = ModelSpec("teacher", path, file_sha256(path))
    verify_model(spec)
    with pytest.raises(ModelError, match="barely better than chance") as caught:
        load_teacher(spec)
    once_named(caught.value.message)


def test_healthy_teacher_passes_the_probe_well_under_the_bar(teacher_path: Path) -> None:
    llm = _load_llama(ModelSpec("teacher", teacher_path, None))
    try:
        nats = probe_logits(llm)
        assert 0 < nats < 0.5 * math.log(llm.n_vocab())
        assert llm.n_tokens == 0  # the probe leaves an empty context behind
    finally:
        llm.close()


# --- messages name the model once -----------------------------------------------------------


def test_names_are_never_repeated(tmp_path: Path) -> None:
    path = tmp_path / "missing.gguf"
    with pytest.raises(ModelError) as caught:
        load_teacher(ModelSpec("teacher", path, None))
    error = caught.value
    assert error.message == f"model 'teacher': file {path} not found"
    assert error.named("teacher").message == error.message
    assert error.named("judge").message == error.message  # the first, innermost name stays


def test_llama_cpp_refusal_is_named_once(tmp_path: Path) -> None:
    from tests.test_engine_models import tiny_gguf

    path = tmp_path / "alien.gguf"
    path.write_bytes(tiny_gguf("no-such-architecture"))
    with pytest.raises(ModelError, match="llama.cpp could not load") as caught:
        load_teacher(ModelSpec("teacher", path, None))
    once_named(caught.value.named("teacher").message)
