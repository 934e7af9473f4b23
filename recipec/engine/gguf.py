"""A GGUF file path in, ModelInfo out: the header read by hand, no weights loaded."""

from __future__ import annotations

import hashlib
import math
import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recipec.diagnostics import missing_model_hint
from recipec.engine.errors import ModelError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 1 << 26
HASH_CHUNK = 1 << 20

REFETCH_HINT = (
    "the download was probably cut short or damaged; "
    "fetch it again (`make model` for the default teacher)"
)
DAMAGED_HINT = (
    "the file was damaged after it was published (a sha256 taken of the damaged file matches "
    "it all the same): fetch it again and compare its sha256 with the publisher's"
)
NOT_GGUF_HINT = (
    "recipec runs GGUF models through llama.cpp; download a .gguf build "
    "or convert the model with llama.cpp's convert_hf_to_gguf.py"
)

# GGUF metadata value types: type id -> struct format (arrays and strings handled apart).
_SCALARS: dict[int, struct.Struct] = {
    0: struct.Struct("<B"),
    1: struct.Struct("<b"),
    2: struct.Struct("<H"),
    3: struct.Struct("<h"),
    4: struct.Struct("<I"),
    5: struct.Struct("<i"),
    6: struct.Struct("<f"),
    7: struct.Struct("<?"),
    10: struct.Struct("<Q"),
    11: struct.Struct("<q"),
    12: struct.Struct("<d"),
}
_STRING, _ARRAY = 8, 9
_U32, _U64 = _SCALARS[4], _SCALARS[10]

# fmt: off
# ggml tensor types: id -> (name, elements per block, bytes per block); gguf-py constants.py.
_TENSOR_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}

# Where a block's float16 scales sit (byte offsets inside the block); ggml-common.h. A scale that
# is NaN or infinity makes every weight of its block non-finite: what ggml_validate_row_data checks.
_BLOCK_SCALES: dict[str, tuple[int, ...]] = {
    "Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,), "Q8_1": (0, 2),
    "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,),
    "IQ4_NL": (0,), "IQ4_XS": (0,),
}
_PLAIN_FLOATS: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
}

# general.file_type (llama_ftype) -> the name people use for the quantization.
_FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}
# fmt: on

# A marker in the chat template -> the family it most likely belongs to; first match wins.
_TEMPLATE_MARKERS = (
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama3"),
    ("<start_of_turn>", "gemma"),
    ("[INST]", "mistral"),
    ("<|user|>", "zephyr"),
)


# Header values llama.cpp takes on trust: a bad one aborts the process (GGML_ASSERT, with a gdb
# backtrace and no message) or yields NaN logits. Key suffix (after the architecture) -> what
# a usable value satisfies, and the requirement as words.
_HPARAM_RULES: tuple[tuple[str, Any, str], ...] = (
    ("attention.layer_norm_rms_epsilon", lambda v: v >= 0, "at least 0 (llama.cpp asserts it)"),
    ("attention.layer_norm_epsilon", lambda v: v >= 0, "at least 0 (llama.cpp asserts it)"),
    ("rope.freq_base", lambda v: v > 0, "above 0 (otherwise every logit is NaN)"),
    ("block_count", lambda v: v >= 1, "at least 1 (llama.cpp aborts on 0 layers)"),
    ("embedding_length", lambda v: v >= 1, "at least 1"),
    ("attention.head_count", lambda v: v >= 1, "at least 1"),
)


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF header says about a model; `sha256` is None unless it was hashed."""

    path: Path
    size_bytes: int
    architecture: str
    quantization: str
    context_length: int | None
    vocab_size: int | None
    chat_template_name: str
    sha256: str | None
    parameters: int | None
    chat_template: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Array:
    """A metadata array that was skipped: only its element type and length are kept."""

    item_type: int
    length: int


class _Short(Exception):
    """The file ended before the header did."""


class _Corrupt(Exception):
    """The header holds a value no valid GGUF writer produces."""


class _Reader:
    """Bounds-checked little-endian reads over the mapped file."""

    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise _Short(f"after {self.size} bytes")
        self.pos = start + n
        return start

    def unpack(self, fmt: struct.Struct) -> Any:
        return fmt.unpack_from(self.buf, self.take(fmt.size))[0]

    def string(self, limit: int = MAX_STRING_BYTES) -> str:
        n = self.unpack(_U64)
        if n > limit:
            raise _Corrupt(f"a string of {n} bytes at byte {self.pos - 8}")
        start = self.take(n)
        return self.buf[start : start + n].decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            return self.skip_array()
        raise _Corrupt(f"unknown value type {kind} at byte {self.pos - 4}")

    def skip_array(self) -> _Array:
        item_type = self.unpack(_U32)
        length = self.unpack(_U64)
        if item_type in _SCALARS:
            self.take(length * _SCALARS[item_type].size)
        elif item_type == _STRING:
            for _ in range(length):
                self.take(self.unpack(_U64))
        elif item_type == _ARRAY:
            for _ in range(length):
                self.skip_array()
        else:
            raise _Corrupt(f"unknown array item type {item_type} at byte {self.pos - 12}")
        return _Array(item_type, length)


@dataclass(frozen=True)
class _Tensor:
    """One tensor-info record: name, element count, type, where its data starts and ends."""

    name: str
    elements: int
    type_id: int
    offset: int
    end: int | None


def model_info(path: Path, with_hash: bool = False, with_weights: bool = False) -> ModelInfo:
    """Read a GGUF header; ModelError for a missing, foreign, corrupt or truncated file, and
    with `with_weights` for a tensor holding NaN or infinity (see check_weights)."""
    path = Path(path)
    size = _file_size(path)
    metadata, tensors, data_start = _read_header(path, size)
    _check_tensor_data(path, size, tensors, data_start)
    if with_weights:
        _check_weights(path, tensors, data_start)
    return _info(path, size, metadata, tensors, file_sha256(path) if with_hash else None)


def check_weights(path: Path) -> None:
    """ModelError when a tensor holds NaN or infinity, in its floats or its blocks' scales.

    What random damage to a file usually produces; damage that leaves every number finite
    (zeroed or shuffled quantized weights) passes, and only `probe_logits` at load can see it.
    """
    model_info(path, with_weights=True)


def _check_weights(path: Path, tensors: list[_Tensor], data_start: int) -> None:
    data = np.memmap(path, dtype=np.uint8, mode="r")
    bad = [t.name for t in tensors if not _finite(data, data_start + t.offset, t)]
    if bad:
        names = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ModelError(
            f"file {path} has damaged weights: {len(bad)} of {len(tensors)} tensors hold NaN "
            f"or infinity ({names})",
            DAMAGED_HINT,
            path,
        )


def _finite(data: npt.NDArray[np.uint8], start: int, tensor: _Tensor) -> bool:
    """Whether a tensor's floats (or its blocks' float16 scales) are all finite numbers."""
    name, per_block, block_bytes = _TENSOR_TYPES.get(tensor.type_id, ("", 1, 0))
    if name in _PLAIN_FLOATS:
        values = np.ndarray((tensor.elements,), _PLAIN_FLOATS[name], data, start)
        return bool(np.isfinite(values).all())
    if name == "BF16":  # no numpy bfloat16: an all-ones exponent is NaN or infinity
        bits = np.ndarray((tensor.elements,), "<u2", data, start)
        return not bool(((bits & 0x7F80) == 0x7F80).any())
    blocks = tensor.elements // per_block
    for at in _BLOCK_SCALES.get(name, ()):
        scales = np.ndarray((blocks,), "<f2", data, start + at, (block_bytes,))
        if not np.isfinite(scales).all():
            return False
    return True


def file_sha256(path: Path) -> str:
    """The file's sha256, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file_size(path: Path) -> int:
    if not path.is_file():
        what = "is not a file" if path.exists() else "not found"
        raise ModelError(f"file {path} {what}", missing_model_hint(str(path)), path)
    return path.stat().st_size


def _read_header(path: Path, size: int) -> tuple[dict[str, Any], list[_Tensor], int]:
    if size < 4:
        raise _not_gguf(path, path.read_bytes())
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != MAGIC:
            raise _not_gguf(path, buf[:16])
        reader = _Reader(buf, size)
        reader.take(4)
        try:
            return _parse(reader)
        except _Short as short:
            raise ModelError(
                f"file {path} is truncated: it ends inside the GGUF header, {short}",
                REFETCH_HINT,
                path,
            ) from None
        except _Corrupt as corrupt:
            raise ModelError(
                f"file {path} has a corrupt GGUF header: {corrupt}", REFETCH_HINT, path
            ) from None


def _parse(reader: _Reader) -> tuple[dict[str, Any], list[_Tensor], int]:
    version = reader.unpack(_U32)
    if version not in (2, 3):
        raise _Corrupt(f"unsupported GGUF version {version} (llama.cpp reads versions 2 and 3)")
    n_tensors = reader.unpack(_U64)
    n_kv = reader.unpack(_U64)
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string(MAX_KEY_BYTES)
        metadata[key] = reader.value(reader.unpack(_U32))
    _check_values(metadata)
    infos = [_tensor_info(reader) for _ in range(n_tensors)]
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _Corrupt(f"general.alignment is {alignment!r}, not a power of two")
    data_start = -(-reader.pos // alignment) * alignment
    return metadata, infos, data_start


def _check_values(metadata: dict[str, Any]) -> None:
    """_Corrupt for a header value llama.cpp would abort on or compute NaN from."""
    for key, value in metadata.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise _Corrupt(f"{key} is {value}; a GGUF header value must be a finite number")
    architecture = metadata.get("general.architecture")
    for suffix, usable, requirement in _HPARAM_RULES:
        key = f"{architecture}.{suffix}"
        value = metadata.get(key)
        if isinstance(value, int | float) and not usable(value):
            raise _Corrupt(f"{key} is {value}; it must be {requirement}")


def _tensor_info(reader: _Reader) -> _Tensor:
    name = reader.string(MAX_KEY_BYTES)
    n_dims = reader.unpack(_U32)
    if not 0 < n_dims <= MAX_DIMS:
        raise _Corrupt(f"a tensor with {n_dims} dimensions at byte {reader.pos - 4}")
    elements = prod(reader.unpack(_U64) for _ in range(n_dims))
    type_id = reader.unpack(_U32)
    offset = reader.unpack(_U64)
    known = _TENSOR_TYPES.get(type_id)
    end = None if known is None else offset + elements // known[1] * known[2]
    return _Tensor(name, elements, type_id, offset, end)


def _check_tensor_data(path: Path, size: int, tensors: list[_Tensor], data_start: int) -> None:
    ends = [t.end for t in tensors if t.end is not None]
    needed = data_start + max(ends) if ends else 0
    if size < needed:
        raise ModelError(
            f"file {path} is truncated: its tensors need {needed} bytes but it has {size}",
            REFETCH_HINT,
            path,
        )


def _info(
    path: Path,
    size: int,
    metadata: dict[str, Any],
    tensors: list[_Tensor],
    sha256: str | None,
) -> ModelInfo:
    architecture = str(metadata.get("general.architecture", "unknown"))
    template = metadata.get("tokenizer.chat_template")
    template = template if isinstance(template, str) else None
    tokens = metadata.get("tokenizer.ggml.tokens")
    context = metadata.get(f"{architecture}.context_length")
    return ModelInfo(
        path=path,
        size_bytes=size,
        architecture=architecture,
        quantization=_quantization(metadata, tensors),
        context_length=context if isinstance(context, int) else None,
        vocab_size=tokens.length if isinstance(tokens, _Array) else None,
        chat_template_name=template_name(template),
        sha256=sha256,
        parameters=sum(t.elements for t in tensors) or None,
        chat_template=template,
    )


def _quantization(metadata: dict[str, Any], tensors: list[_Tensor]) -> str:
    file_type = metadata.get("general.file_type")
    if isinstance(file_type, int) and file_type in _FILE_TYPES:
        return _FILE_TYPES[file_type]
    # No (or an unknown) file type: name the tensor type that holds most of the weights.
    weights = Counter[int]()
    for t in tensors:
        weights[t.type_id] += t.elements
    if not weights:
        return "unknown"
    type_id = weights.most_common(1)[0][0]
    return _TENSOR_TYPES.get(type_id, (f"type {type_id}", 0, 0))[0]


def template_name(template: str | None) -> str:
    """A short guess at the chat template's family: chatml, llama3, ..., custom or none."""
    if not template:
        return "none"
    for marker, name in _TEMPLATE_MARKERS:
        if marker in template:
            return name
    return "custom"


def _not_gguf(path: Path, head: bytes) -> ModelError:
    found = f"it starts with {bytes(head[:16])!r}" if head else "it is empty"
    return ModelError(
        f"file {path} is not a GGUF model: {found}, not b'GGUF'",
        NOT_GGUF_HINT,
        path,
    )
