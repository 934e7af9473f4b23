"""Writes the illustrative medical graph (schema.cypher and one CSV per node or relationship
table) into data/medgraph/. Hetionet-shaped (compounds, diseases, genes, side effects; TREATS,
ASSOCIATES, BINDS, CAUSES) but INVENTED: no name, link or fact in it is medical knowledge.

Deterministic: run it again and the files are byte-identical.
    python recipes/data/make_medgraph.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "medgraph"
SCHEMA = """\
-- An illustrative, invented medical knowledge graph (written by make_medgraph.py).
CREATE NODE TABLE Compound(id STRING, name STRING, phase INT64, PRIMARY KEY(id));
CREATE NODE TABLE Disease(id STRING, name STRING, category STRING, PRIMARY KEY(id));
CREATE NODE TABLE Gene(id STRING, name STRING, chromosome STRING, PRIMARY KEY(id));
CREATE NODE TABLE SideEffect(id STRING, name STRING, PRIMARY KEY(id));
CREATE REL TABLE TREATS(FROM Compound TO Disease);
CREATE REL TABLE BINDS(FROM Compound TO Gene, affinity DOUBLE);
CREATE REL TABLE CAUSES(FROM Compound TO SideEffect, frequency STRING);
CREATE REL TABLE ASSOCIATES(FROM Disease TO Gene);
"""
COUNTS = {"Compound": 600, "Disease": 240, "Gene": 1500, "SideEffect": 360}
STEMS = [
    "ab",
    "cor",
    "dex",
    "fen",
    "gal",
    "lor",
    "mav",
    "nor",
    "pra",
    "quel",
    "ris",
    "sol",
    "tav",
    "ven",
    "xil",
    "zor",
]
DRUG_ENDS = ["amab", "avir", "azole", "cillin", "dipine", "olol", "pril", "statin", "tinib"]
DISEASE_KINDS = {
    "cardiovascular": ["heart syndrome", "vascular disorder"],
    "infectious": ["fever", "infection"],
    "metabolic": ["deficiency", "metabolic syndrome"],
    "neurological": ["palsy", "neuropathy"],
    "respiratory": ["lung disease", "airway syndrome"],
}
EFFECTS = [
    "rash",
    "headache",
    "nausea",
    "dizziness",
    "fatigue",
    "insomnia",
    "cough",
    "itching",
    "dry mouth",
    "tremor",
    "blurred vision",
    "cramps",
]
ROMAN = ["I", "II", "III", "IV"]
PLACES = [
    "Alder",
    "Brenn",
    "Carrow",
    "Dunfirth",
    "Elsby",
    "Farrow",
    "Glenmar",
    "Halden",
    "Isling",
    "Jorvik",
    "Kestrel",
    "Lowden",
]


def _unique(make, n: int, rng: random.Random) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(make(rng), None)
    return list(seen)


def nodes(rng: random.Random) -> dict[str, list[list[object]]]:
    compounds = _unique(
        lambda r: (r.choice(STEMS) + r.choice(STEMS) + r.choice(DRUG_ENDS)).capitalize(),
        COUNTS["Compound"],
        rng,
    )
    categories = list(DISEASE_KINDS)
    diseases = _unique(
        lambda r: (
            c := r.choice(categories),
            f"{r.choice(PLACES)} {r.choice(DISEASE_KINDS[c])} {r.choice(ROMAN)}",
        )[1],
        COUNTS["Disease"],
        rng,
    )
    kind_of = {
        d: next(c for c, ks in DISEASE_KINDS.items() if d.split(" ", 1)[1].rsplit(" ", 1)[0] in ks)
        for d in diseases
    }
    genes = _unique(
        lambda r: "".join(r.choice("ABCDEFGHKLMNPRST") for _ in range(3)) + str(r.randint(1, 99)),
        COUNTS["Gene"],
        rng,
    )
    effects = _unique(
        lambda r: (
            f"{r.choice(['mild', 'severe', 'transient', 'chronic', 'nocturnal', 'acute'])} "
            f"{r.choice(EFFECTS)}" + (f" type {r.randint(1, 5)}" if r.random() < 0.5 else "")
        ),
        COUNTS["SideEffect"],
        rng,
    )
    return {
        "Compound": [["id", "name", "phase"]]
        + [[f"C{i:04d}", n, rng.randint(1, 4)] for i, n in enumerate(compounds)],
        "Disease": [["id", "name", "category"]]
        + [[f"D{i:04d}", n, kind_of[n]] for i, n in enumerate(diseases)],
        "Gene": [["id", "name", "chromosome"]]
        + [[f"G{i:04d}", n, str(rng.randint(1, 22))] for i, n in enumerate(genes)],
        "SideEffect": [["id", "name"]] + [[f"S{i:04d}", n] for i, n in enumerate(effects)],
    }


def _links(rng: random.Random, a: str, b: str, per: tuple[int, int], extra=None):
    rows = []
    for i in range(COUNTS[a]):
        for j in sorted(rng.sample(range(COUNTS[b]), rng.randint(*per))):
            rows.append(
                [
                    f"{a[0]}{i:04d}",
                    f"{b[0] if b != 'SideEffect' else 'S'}{j:04d}",
                    *([extra(rng)] if extra else []),
                ]
            )
    return rows


def relationships(rng: random.Random) -> dict[str, list[list[object]]]:
    return {
        "TREATS": [["from", "to"]] + _links(rng, "Compound", "Disease", (0, 2)),
        "BINDS": [["from", "to", "affinity"]]
        + _links(rng, "Compound", "Gene", (1, 3), lambda r: round(r.uniform(0.1, 9.9), 2)),
        "CAUSES": [["from", "to", "frequency"]]
        + _links(
            rng,
            "Compound",
            "SideEffect",
            (0, 3),
            lambda r: r.choice(["rare", "common", "very common"]),
        ),
        "ASSOCIATES": [["from", "to"]] + _links(rng, "Disease", "Gene", (1, 4)),
    }


def main() -> None:
    rng = random.Random(20261124)
    OUT.mkdir(exist_ok=True)
    (OUT / "schema.cypher").write_text(SCHEMA, encoding="utf-8")
    for table, rows in {**nodes(rng), **relationships(rng)}.items():
        with open(OUT / f"{table}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)


if __name__ == "__main__":
    main()
