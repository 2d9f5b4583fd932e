"""Seeded planning generator for the benchmarks: realistic rows, any size, xlsx or csv.

python bench/generate.py 100000 bench/data/planning-100k.xlsx
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

from openpyxl import Workbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))
import make_samples

HEADERS = make_samples.HEADERS
TOWNS = [("Lyon", "69003"), ("Villeurbanne", "69100"), ("Bron", "69500"), ("Bourg", "01000"),
         ("Vienne", "38200"), ("Mâcon", "71000"), ("Givors", "69700"), ("Écully", "69130")]  # fmt: skip
STREETS = ["rue de la République", "avenue Jean Jaurès", "cours Lafayette", "rue Garibaldi",
           "boulevard des Belges", "chemin des Platanes", "place Bellecour", "quai Perrache"]  # fmt: skip


def rows(count: int, seed: int = 20261123, start: dt.date | None = None) -> list[list[object]]:
    """``count`` valid mission rows over a few days starting ``start`` (default: in 3 days)."""
    rng = random.Random(seed)
    first_day = start or (dt.date.today() + dt.timedelta(days=3))
    out: list[list[object]] = []
    for n in range(count):
        day = first_day + dt.timedelta(days=rng.randrange(5))
        when = dt.datetime.combine(day, dt.time(6, 0)) + dt.timedelta(
            minutes=5 * rng.randrange(168)
        )
        town, postcode = rng.choice(TOWNS)
        individual = rng.random() < 0.2
        out.append([
            f"M{n:07d}", when, when + dt.timedelta(hours=10), rng.choice(["Livraison", "Enlèvement"]),
            None if individual else f"VL-{rng.randrange(400):03d}",
            "Martin" if individual else None, "Élise" if individual else None,
            rng.choice(["", "Sonner 2 fois", "Fragile", "Quai 3"]) or None,
            f"Client {rng.randrange(5000)}", f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
            postcode, town, rng.random() < 0.9,
            round(45.5 + rng.random(), 5), round(4.6 + rng.random(), 5),
        ])  # fmt: skip
    return out


def write(path: Path, data: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        make_samples.write_csv(path, data)  # as French Excel exports: cp1252, ';', commas
        return path
    workbook = Workbook(write_only=True)  # the samples' writer is too slow for 100k rows
    sheet = workbook.create_sheet("Planning")
    sheet.append(HEADERS)
    for row in data:
        sheet.append(row)
    workbook.save(path)
    return path


if __name__ == "__main__":
    write(Path(sys.argv[2]), rows(int(sys.argv[1])))
