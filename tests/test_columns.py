"""Column mapping: the alias table, normalisation, a site's own headers, unknown columns."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from importer.columns import column_letter
from importer.config import Settings
from importer.pipeline import check_file
from importer.schemas.aliases import normalise_header
from tests.helpers import NOW, TOMORROW_8_30, write_planning

ALIASES = tomllib.loads(
    resources.files("importer.schemas").joinpath("columns.toml").read_text("utf-8")
)
EVERY_ALIAS = [(field, label) for field, labels in ALIASES.items() for label in labels]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("N° mission", "nmission"),
        ("n MISSION", "nmission"),
        ("N°-Mission", "nmission"),
        ("  Date d'Intervention ", "datedintervention"),
        ("À envoyer", "aenvoyer"),
        ("Prénom", "prenom"),
        ("code_postal", "codepostal"),
    ],
    ids=["degree-sign", "case-and-space", "punctuation", "apostrophe", "capital-accent",
         "accent", "underscore"],
)  # fmt: skip
def test_headers_compare_without_case_accents_spaces_or_punctuation(header: str, key: str) -> None:
    assert normalise_header(header) == key


@pytest.mark.parametrize(
    ("field", "label"), EVERY_ALIAS, ids=[f"{field}:{label}" for field, label in EVERY_ALIAS]
)
def test_every_alias_maps_to_its_field(tmp_path: Path, field: str, label: str) -> None:
    headers = ["idMission", "jourHeureInter", "nomVeh"]
    if field in headers:
        headers[headers.index(field)] = label
    else:
        headers.append(label)
    path = write_planning(
        tmp_path / "p.csv", [["M-1", "24/11/2026 08:30", "VL", "1"][: len(headers)]], headers
    )
    sheet = check_file(path, Settings(), now=NOW).sheet
    assert sheet.label_of(field) == label
    assert not [p for p in sheet.problems if p.kind == "unknown_column"]


def test_unknown_column_is_carried_and_warned_once_with_a_suggestion(tmp_path: Path) -> None:
    rows = [["M-1", TOMORROW_8_30, "VL", "69003", "x"], ["M-2", TOMORROW_8_30, "VL", "69003", "y"]]
    path = write_planning(
        tmp_path / "p.xlsx",
        rows,
        ["idMission", "jourHeureInter", "nomVeh", "Code postl", "Téléphone"],
    )
    checked = check_file(path, Settings(), now=NOW)

    unknown = [p for p in checked.problems if p.kind == "unknown_column"]
    assert [(p.column, p.row, p.cell) for p in unknown] == [
        ("Code postl", 1, "D1"),
        ("Téléphone", 1, "E1"),
    ]
    assert unknown[0].message.endswith("did you mean codPost?")
    assert "did you mean" not in unknown[1].message
    assert list(checked.sheet.cells["Téléphone"]) == ["x", "y"]  # carried through untouched
    assert checked.invalid_count == 0


def test_site_columns_from_the_configuration_map_their_own_headers(tmp_path: Path) -> None:
    rows = [["M-1", TOMORROW_8_30, "Jean Martin"]]
    path = write_planning(
        tmp_path / "p.xlsx", rows, ["Réf. tournée", "jourHeureInter", "Chauffeur attitré"]
    )
    settings = Settings(columns={"Réf. tournée": "idMission", "Chauffeur attitré": "nomPrenom"})
    checked = check_file(path, settings, now=NOW)
    assert checked.invalid_count == 0
    assert checked.missions.iloc[0]["nomPrenom"] == "Jean Martin"
    assert checked.missions.iloc[0]["idMission"] == "M-1"


def test_repeated_unknown_headers_and_blank_headers_keep_their_data(tmp_path: Path) -> None:
    rows = [["M-1", TOMORROW_8_30, "VL", "a", "b", "c"]]
    path = write_planning(
        tmp_path / "p.xlsx", rows, ["idMission", "jourHeureInter", "nomVeh", "Note", "Note", None]
    )
    sheet = check_file(path, Settings(), now=NOW).sheet
    assert list(sheet.cells.columns[3:]) == ["Note", "Note (E)", "(column F)"]
    assert list(sheet.cells.iloc[0, 3:]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")]
)
def test_column_letters(index: int, letters: str) -> None:
    assert column_letter(index) == letters
