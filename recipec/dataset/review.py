"""Review: a build's manifest, provenance and rejected attempts in, the warnings a user should read
before training on its records out (as data: the report, the card and the progress summary
render the same tuple)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recipec.dataset.card import DEFAULT_TEACHER_NOTE, DEFAULT_TEACHER_SHA256

JUDGE_SCALE = (1, 5)
# More than half of the judged attempts rejected or scored in the lower half of the scale.
JUDGE_LOW_SHARE = 0.5
# An accepted record sharing this much of its text with one real record reads as a copy.
COPY_OVERLAP = 0.5
# Share of records with a string cut at, or padded to, a bound of its schema.
AT_BOUNDS_SHARE = 0.1
# Share of attempts cut off by the token limit.
TRUNCATED_SHARE = 0.1
# A GGUF file this small holds a model under about 3B parameters at 4 bits.
SMALL_TEACHER_BYTES = 2_000_000_000
SHOWN_IDS = 3


@dataclass(frozen=True)
class BuildWarning:
    """One thing to read before training: a stable code (for tests and tools) and a sentence."""

    code: str
    message: str


def review(
    manifest: Mapping[str, Any],
    provenance: Sequence[Mapping[str, Any]] = (),
    rejected: Sequence[Mapping[str, Any]] = (),
) -> tuple[BuildWarning, ...]:
    """Every warning that applies, in a fixed order: the build, the teacher, then the records."""
    found = (
        _status(manifest),
        _stopped_early(manifest),
        _teacher(manifest),
        _no_judge(manifest),
        _judge_low(manifest, provenance),
        _copies(provenance),
        _at_bounds(provenance),
        _truncated(manifest, rejected),
    )
    return tuple(w for group in found for w in group)


def _mapping(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = manifest.get(key)
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _status(manifest: Mapping[str, Any]) -> list[BuildWarning]:
    status = manifest.get("status")
    targets, counts = _mapping(manifest, "targets"), _mapping(manifest, "counts")
    wanted = sum(_int(v) for v in targets.values())
    got = sum(_int(v) for v in counts.values())
    tally = f"{got} of {wanted} records wanted" if wanted else f"{got} records"
    if status == "failed":
        text = f"The build failed; it had accepted {tally}. The records shown are those."
        return [BuildWarning("failed", text)]
    if status == "short":
        text = f"The build fell short: {tally}. Train on it only if that is enough."
        return [BuildWarning("short", text)]
    if status == "limited":
        text = f"A trial build (--limit): {tally}. The full build may behave differently."
        return [BuildWarning("limited", text)]
    return []


def _stopped_early(manifest: Mapping[str, Any]) -> list[BuildWarning]:
    reason = manifest.get("stopped_early")
    if not reason:
        return []
    return [BuildWarning("stopped_early", f"The build stopped early: {reason}.")]


def _teacher(manifest: Mapping[str, Any]) -> list[BuildWarning]:
    models = _mapping(manifest, "model")
    if any(
        isinstance(info, Mapping) and info.get("sha256") == DEFAULT_TEACHER_SHA256
        for info in models.values()
    ):
        return [BuildWarning("default_teacher", DEFAULT_TEACHER_NOTE)]
    sizes = _teacher_sizes(manifest.get("teacher_params"))
    return [
        BuildWarning(
            "small_teacher",
            f"The teacher '{name}' is a {size / 1e6:.0f} MB file, a model under about 3B "
            "parameters: such models rarely write usable training data. Read the samples.",
        )
        for name, size in sorted(sizes.items())
        if 0 < size < SMALL_TEACHER_BYTES
    ]


def _teacher_sizes(value: Any) -> dict[str, int]:
    """`teacher_params`: one file size in bytes, or one per model name."""
    if isinstance(value, Mapping):
        return {str(k): _int(v) for k, v in value.items()}
    return {"teacher": _int(value)} if _int(value) else {}


def _no_judge(manifest: Mapping[str, Any]) -> list[BuildWarning]:
    if "judge" not in manifest or manifest["judge"] is not None:
        return []
    text = (
        "No judge is configured: nothing scored the records against a rubric. "
        "Read the samples below, or add a `judge` to the mix."
    )
    return [BuildWarning("no_judge", text)]


def _judge_low(
    manifest: Mapping[str, Any], provenance: Sequence[Mapping[str, Any]]
) -> list[BuildWarning]:
    scores = [s for row in provenance if (s := _score(row.get("judge_score"))) is not None]
    refused = _int(_mapping(manifest, "rejections").get("judge"))
    middle = (JUDGE_SCALE[0] + JUDGE_SCALE[1]) / 2
    low = refused + sum(score < middle for score in scores)
    judged = refused + len(scores)
    if not judged or low / judged <= JUDGE_LOW_SHARE:
        return []
    text = (
        f"The judge scored {low} of {judged} judged attempts low (rejected, or under "
        f"{middle:g} of {JUDGE_SCALE[1]}): the teacher may not manage this task."
    )
    return [BuildWarning("judge_low", text)]


def _score(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _copies(provenance: Sequence[Mapping[str, Any]]) -> list[BuildWarning]:
    close = sorted(
        (
            (overlap, str(row.get("id")), str(near.get("id")))
            for row in provenance
            if isinstance(near := row.get("nearest_real"), Mapping)
            and isinstance(overlap := near.get("overlap"), int | float)
            and overlap >= COPY_OVERLAP
        ),
        key=lambda item: (-item[0], item[1]),
    )
    if not close:
        return []
    shown = ", ".join(
        f"{ident} ({overlap:.0%} of {real})" for overlap, ident, real in close[:SHOWN_IDS]
    )
    text = (
        f"{len(close)} record(s) share at least {COPY_OVERLAP:.0%} of their text with a real "
        f"record: {shown}. Add `leakage` to the mix or check the prompts."
    )
    return [BuildWarning("copies_real", text)]


def _at_bounds(provenance: Sequence[Mapping[str, Any]]) -> list[BuildWarning]:
    synthetic = [row for row in provenance if row.get("synthetic") is True]
    fields: Counter[str] = Counter()
    hit = 0
    for row in synthetic:
        bounds = row.get("at_bounds")
        if isinstance(bounds, list) and bounds:
            hit += 1
            fields.update(str(b) for b in bounds)
    if not synthetic or hit / len(synthetic) < AT_BOUNDS_SHARE:
        return []
    common = ", ".join(
        f"{name} ({n})"
        for name, n in sorted(fields.items(), key=lambda i: (-i[1], i[0]))[:SHOWN_IDS]
    )
    text = (
        f"{hit} of {len(synthetic)} records have a string exactly at a length bound of its "
        f"schema ({common}): likely cut off or padded. Widen the bound or shorten the prompt."
    )
    return [BuildWarning("at_bounds", text)]


def _truncated(
    manifest: Mapping[str, Any], rejected: Sequence[Mapping[str, Any]]
) -> list[BuildWarning]:
    reasons = _mapping(manifest, "rejections")
    cut = _int(reasons.get("truncated")) or sum(r.get("reason") == "truncated" for r in rejected)
    attempts = sum(_int(v) for v in _mapping(manifest, "counts").values()) + sum(
        _int(v) for v in reasons.values()
    )
    if not attempts or cut / attempts < TRUNCATED_SHARE:
        return []
    text = (
        f"{cut} of about {attempts} attempts hit the token limit before the record was complete: "
        "raise `max_tokens` or lower the string bounds."
    )
    return [BuildWarning("truncated", text)]
