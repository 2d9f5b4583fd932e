"""French by default, English one setting away; the machine interfaces never change.

Covered in French so far: the validation problems, the terminal summaries of validate, plan
and run, and the workbooks (sheets, added columns, their words, the Summary).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from click.testing import CliRunner

from importer.cli import main
from importer.i18n import LOCALE_DIR
from importer.sandbox import SandboxServer
from tests.helpers import ROOT, SAMPLE_CONFIG, Importer, read_sheet, rows_for

CATALOG = LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_every_message_of_the_code_has_its_french_and_the_catalog_is_current(
    tmp_path: Path,
) -> None:
    """What `make messages` extracts is exactly what the French catalog translates: a new
    message without its French, or a translation left for a message gone, fails here."""
    template = tmp_path / "messages.pot"
    extract = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
               "-k", "lazy", "-k", "count:2,3", "-o", str(template), "importer"]  # fmt: skip
    subprocess.run(extract, cwd=ROOT, check=True, capture_output=True)
    with template.open("rb") as source:
        wanted = {(m.context, m.id) for m in read_po(source) if m.id}
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="fr")
    translated = {(m.context, m.id): m for m in catalog if m.id}
    assert sorted(map(str, wanted - translated.keys())) == []  # messages with no French
    assert sorted(map(str, translated.keys() - wanted)) == []  # French for messages gone
    untranslated = [key for key, m in translated.items()
                    if m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string])]  # fmt: skip
    assert untranslated == []


def test_a_french_dispatcher_reads_the_validation_in_french(
    french: None, samples: Path, tmp_path: Path
) -> None:
    broken = shutil.copy(samples / "planning-broken.xlsx", tmp_path / "planning-broken.xlsx")
    report = tmp_path / "broken.validation.xlsx"
    result = invoke(
        "validate", str(broken), "--config", str(SAMPLE_CONFIG), "--report", str(report)
    )
    assert result.exit_code == 1
    assert "31 lignes lues, 10 valides, 21 invalides" in result.output
    assert "ligne 5, N° mission (A5)\u00a0: l'identifiant de mission est vide" in result.output
    assert "rows read" not in result.output and "is empty" not in result.output
    results = read_sheet(report, "Résultats")
    assert {line["verdict"] for line in results} == {"valide", "avertissement", "invalide"}
    errors = read_sheet(report, "Erreurs")
    assert {"ligne", "cellule", "colonne", "valeur", "problème", "gravité"} <= set(errors[0])
    assert {line["gravité"] for line in errors} == {"erreur", "avertissement"}
    assert read_sheet(report, "Résumé")[0] == {"élément": "commande", "valeur": "vérification"}


def test_english_is_one_setting_away_flag_over_environment_over_file(
    french: None, samples: Path, tmp_path: Path
) -> None:
    clean = shutil.copy(samples / "planning-clean.xlsx", tmp_path / "planning-clean.xlsx")
    config = tmp_path / "en.toml"
    config.write_text(SAMPLE_CONFIG.read_text() + '\n[ui]\nlang = "en"\n')
    said = {
        "file": invoke("validate", str(clean), "--config", str(config), "--no-report").output,
        "environment over file": invoke("validate", str(clean), "--config", str(config),
                                        "--no-report", env={"OCEAN_IMPORT_LANG": "fr"}).output,
        "flag over environment": invoke("validate", str(clean), "--config", str(SAMPLE_CONFIG),
                                        "--no-report", "--lang", "en",
                                        env={"OCEAN_IMPORT_LANG": "fr"}).output,
    }  # fmt: skip
    assert "36 rows read" in said["file"]
    assert "36 lignes lues" in said["environment over file"]
    assert "36 rows read" in said["flag over environment"]


def test_json_is_the_same_in_both_languages_but_the_human_sentences(
    french: None, samples: Path, tmp_path: Path
) -> None:
    broken = shutil.copy(samples / "planning-broken.xlsx", tmp_path / "planning-broken.xlsx")
    outputs = {
        lang: json.loads(invoke("validate", str(broken), "--config", str(SAMPLE_CONFIG),
                                "--no-report", "--json", "--lang", lang).output)
        for lang in ("fr", "en")
    }  # fmt: skip
    french_json, english_json = outputs["fr"], outputs["en"]
    sentences = ([p.pop("problem") for p in french_json["problems"]],
                 [p.pop("problem") for p in english_json["problems"]])  # fmt: skip
    assert french_json == english_json  # kinds, cells, values, counts: never translated
    assert sentences[0] != sentences[1]


def test_a_french_run_writes_its_results_in_french(
    french: None, sandbox: SandboxServer, tmp_path: Path
) -> None:
    importer = Importer(sandbox, tmp_path)
    importer.env.pop("OCEAN_IMPORT_LANG", None)
    planning = importer.planning("tournee.xlsx", rows_for(1, 3))
    plan = importer("plan", planning)
    assert "3 lignes, 3 créations" in plan.output and "Il ferait\u00a0:" in plan.output
    run = importer("run", planning)
    assert run.exit_code == 0
    assert "Ocean\u00a0: 3 ok" in run.output
    lines = read_sheet(planning.with_name("tournee.results.xlsx"), "Résultats")
    assert {(line["action"], line["résultat"]) for line in lines} == {("création", "ok")}
    again = importer("run", planning)
    assert "3 inchangées" in again.output
    json_run = json.loads(importer("run", planning, "--json").output)
    assert json_run["actions"] == {"unchanged": 3} and json_run["outcomes"] == {"skipped": 3}


def test_a_file_refused_as_a_whole_is_told_in_french(french: None, tmp_path: Path) -> None:
    """Said by the reading child (a process of its own): in its parent's language."""
    import zipfile

    word = tmp_path / "planning.xlsx"
    with zipfile.ZipFile(word, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    result = CliRunner().invoke(main, ["validate", str(word), "--no-report"])
    assert result.exit_code == 2
    assert "planning.xlsx\u00a0: est un document Word (.docx), pas un classeur" in result.output
