"""French by default, English one setting away; the machine interfaces never change.

Every output a person reads is checked for sentences of the other language (``speech``): the
terminal summaries of validate, plan, run, status and watch, the workbooks (all but the
planning's own columns), every ``--help``, the mistyped command lines, the refusals (file,
state, outputs). The web pages are checked the same way by the browser test (test_web.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from importer.cli import main
from importer.errors import StateError
from importer.i18n import LOCALE_DIR, compile_catalog, speaking, translations
from importer.sandbox import SandboxServer
from importer.state import StateStore
from importer.web.passwords import check_password
from tests.helpers import ROOT, SAMPLE_CONFIG, Importer, read_sheet, rows_for
from tests.speech import foreign_sentences

COMMANDS = ("validate", "plan", "run", "watch", "status", "serve", "sandbox", "hash-password")

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


def test_the_compiled_catalog_a_command_reads_is_its_po_compiled() -> None:
    """A command reads ``messages.mo`` (`make messages` compiles it): a translation edited in
    the ``.po`` and not compiled would not reach the dispatcher, and fails here."""
    compiled_from_po = compile_catalog(CATALOG, "fr")
    read_by_a_command = translations("fr")
    assert CATALOG.with_suffix(".mo").is_file()
    assert read_by_a_command._catalog == compiled_from_po._catalog  # type: ignore[attr-defined]
    assert len(compiled_from_po._catalog) > 500  # type: ignore[attr-defined]


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


def our_cells(workbook: Path, planning: Path | None = None) -> str:
    """Every cell the tool wrote: all the sheets, but the planning's own columns (its data,
    in whatever language the dispatcher wrote it)."""
    theirs: set[object] = set()
    if planning is not None:
        rows = openpyxl.load_workbook(planning).active.iter_rows(values_only=True)
        theirs = set(next(row for row in rows if sum(cell is not None for cell in row) >= 3))
    said = []
    for sheet in openpyxl.load_workbook(workbook):
        rows = list(sheet.iter_rows(values_only=True))
        ours = [i for i, header in enumerate(rows[0]) if header not in theirs] if rows else []
        said += [str(row[i]) for row in rows for i in ours if row[i] is not None]
    return "\n".join(said)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_whole_day_speaks_one_language(
    french: None, lang: str, samples: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Validate the broken sample, plan and run the clean one, change it and run again,
    ask the statuses, let the job import a file: not one sentence of the other language."""
    importer = Importer(sandbox, tmp_path)
    importer.env.pop("OCEAN_IMPORT_LANG", None)
    shutil.copy(SAMPLE_CONFIG, importer.config)  # the samples' columns
    broken = shutil.copy(samples / "planning-broken.xlsx", tmp_path / "planning-broken.xlsx")
    clean = shutil.copy(samples / "planning-clean.xlsx", tmp_path / "planning-clean.xlsx")
    said: dict[str, str] = {}
    validation = CliRunner().invoke(
        main, ["validate", str(broken), "--config", str(SAMPLE_CONFIG), "--lang", lang]
    )
    said["validate"] = validation.output
    said["validation workbook"] = our_cells(broken.with_name("planning-broken.validation.xlsx"),
                                            broken)  # fmt: skip
    said["plan"] = importer("plan", clean, "--lang", lang).output
    said["plan workbook"] = our_cells(clean.with_name("planning-clean.plan.xlsx"), clean)
    said["run"] = importer("run", clean, "--lang", lang).output
    said["results workbook"] = our_cells(clean.with_name("planning-clean.results.xlsx"), clean)
    changed = openpyxl.load_workbook(clean)
    sheet = changed.active
    sheet.delete_rows(sheet.max_row)  # its mission deleted
    headers = next(row for row in sheet.iter_rows(values_only=True) if row.count(None) < 3)
    for column, header in enumerate(headers, start=1):
        if header == "Commentaire":
            sheet.cell(sheet.max_row, column).value = "Sonnez deux fois"  # a mission modified
    changed.save(clean)
    said["run with changes"] = importer("run", clean, "--lang", lang).output
    said["results workbook with changes"] = our_cells(
        clean.with_name("planning-clean.results.xlsx"), clean
    )
    status = CliRunner().invoke(
        main, ["status", "--config", str(importer.config), "--state", str(importer.state),
               "--lang", lang, "--report", str(tmp_path / "statuses.xlsx")], env=importer.env,
    )  # fmt: skip
    said["status"] = status.output
    said["status workbook"] = our_cells(tmp_path / "statuses.xlsx")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(samples / "planning-clean.xlsx", inbox / "tournee-lundi.xlsx")
    watch = CliRunner().invoke(
        main, ["watch", str(inbox), "--once", "--settle", "0", "--config", str(importer.config),
               "--state", str(importer.state), "--lang", lang], env=importer.env,
    )  # fmt: skip
    said["watch"] = watch.output
    assert validation.exit_code == 1 and watch.exit_code == 0
    assert all(said.values())
    assert {what: foreign_sentences(text, lang) for what, text in said.items()} == {
        what: [] for what in said
    }
    modified, deleted = (
        ("1 modification", "1 suppression") if lang == "fr" else ("1 modify", "1 delete")
    )
    assert modified in said["run with changes"] and deleted in said["run with changes"]


def on_a_terminal(
    args: list[str], env: dict[str, str], replies: tuple[tuple[str, str], ...] = ()
) -> tuple[int, str]:
    """``ocean-import ARGS`` on a pseudo-terminal of its own, as at a desk: each reply typed
    once its prompt shows. Its exit code, and all the terminal showed."""
    pid, leader = pty.fork()  # the child's controlling terminal is the new one
    if pid == 0:  # pragma: no cover (the child)
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "importer", *args], env)
    seen, shown, waiting = b"", 0, list(replies)
    with contextlib.suppress(OSError):  # the terminal closes with the process
        while True:
            if not select.select([leader], [], [], 30)[0]:  # waiting for a reply never given
                os.kill(pid, signal.SIGKILL)
                break
            if not (chunk := os.read(leader, 65536)):
                break
            seen += chunk
            while waiting and (at := seen.find(waiting[0][0].encode(), shown)) >= 0:
                shown = at + len(waiting[0][0].encode())
                os.write(leader, waiting.pop(0)[1].encode() + b"\n")
    os.close(leader)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")


def test_the_progress_bar_a_dispatcher_watches_is_in_french(
    samples: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """On a terminal, `run` draws a progress bar while it sends: its words are French too."""
    importer = Importer(sandbox, tmp_path)
    shutil.copy(SAMPLE_CONFIG, importer.config)
    clean = shutil.copy(samples / "planning-clean.xlsx", tmp_path / "planning-clean.xlsx")
    sandbox.world.faults.latency = 0.1  # long enough for the bar to be drawn
    env = {**os.environ, **importer.env, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("OCEAN_IMPORT_LANG", None)
    code, shown = on_a_terminal(["run", str(clean), "--config", str(importer.config),
                                 "--state", str(importer.state), "--concurrency", "2"], env)  # fmt: skip
    assert code == 0, shown
    assert "envoi à Ocean" in shown
    assert "sending" not in shown and "pushing" not in shown


def test_the_password_prompts_are_in_french_and_a_mistyped_one_asked_again() -> None:
    """`hash-password` (for the web page's users): its prompts, and the sentence when the two
    passwords typed differ, are French; the hash printed is of the password typed twice."""
    env = {key: value for key, value in os.environ.items() if key != "OCEAN_IMPORT_LANG"}
    code, shown = on_a_terminal(
        ["hash-password"], env | {"TERM": "xterm"},
        (("Mot de passe\u00a0: ", "s3cret-1"), ("Répétez pour confirmer\u00a0: ", "s3cret-2"),
         ("Mot de passe\u00a0: ", "s3cret-1"), ("Répétez pour confirmer\u00a0: ", "s3cret-1")),
    )  # fmt: skip
    assert code == 0, shown
    assert "Les deux mots de passe tapés diffèrent\u00a0: tapez-le à nouveau." in shown
    said = shown.replace("\u00a0", " ").replace("\r", "")
    assert foreign_sentences(said, "fr") == [] and "do not match" not in said
    assert "s3cret" not in shown  # typed without echo
    [hashed] = [line for line in said.splitlines() if line.startswith("scrypt$")]
    assert check_password("s3cret-1", hashed) and not check_password("s3cret-2", hashed)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_help_and_every_mistyped_command_line_speaks_one_language(
    french: None, lang: str
) -> None:
    said = {"--help": invoke("--help", "--lang", lang).output}
    for command in COMMANDS:
        said[f"{command} --help"] = invoke(command, "--help", "--lang", lang).output
    mistakes = [("run",), ("run", "p.xlsx", "--concurrency", "0"), ("plan", "p.xlsx", "--nope"),
                ("validate", "p.xlsx", "--report"), ("plan", "p.xlsx", "--scope", "weekly"),
                ("imprt", "p.xlsx")]  # fmt: skip
    for mistake in mistakes:
        result = invoke(*mistake, "--lang", lang)
        assert result.exit_code == 2, mistake
        said[" ".join(mistake)] = result.output
    assert {what: foreign_sentences(text, lang) for what, text in said.items()} == {
        what: [] for what in said
    }
    if lang == "fr":
        assert said["run --help"].startswith("Utilisation\u00a0: ")
        assert " run [OPTIONS] FICHIER" in said["run --help"]
        assert "Options\u00a0:" in said["run --help"] and "Commandes\u00a0:" in said["--help"]
        assert " run\u00a0: FICHIER manque" in said["run"]
        assert (
            "valeur invalide pour --scope\u00a0: choisissez parmi days, range, feed"
            in said["plan p.xlsx --scope weekly"]
        )
        assert "l'option --nope n'existe pas" in said["plan p.xlsx --nope"]
    else:
        assert (
            said["run --help"].startswith("Usage: ") and " run [OPTIONS] FILE" in said["run --help"]
        )
        assert " run: FILE is missing" in said["run"]


def test_the_refusals_are_told_in_french(french: None, samples: Path, tmp_path: Path) -> None:
    """The sentences of an exit 2 or 3 that stops everything: the state, the outputs, the
    command line's own checks."""
    clean = shutil.copy(samples / "planning-clean.xlsx", tmp_path / "planning-clean.xlsx")
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database, but a file of the same name" * 100)
    held = tmp_path / "held.db"
    refusals = {
        "damaged state": (2, "plan", str(clean), "--state", str(damaged)),
        "state held": (3, "run", str(clean), "--state", str(held)),
        "inbox is a file": (2, "watch", str(clean), "--once"),
        "report over the planning": (2, "validate", str(clean), "--report", str(clean)),
        "dry run and sandbox": (2, "run", str(clean), "--dry-run", "--sandbox"),
    }
    nowhere = {"OCEAN_IMPORT_CONFIG": "", "OCEAN_BASE_URL": "http://127.0.0.1:9/ocean/restapi",
               "OCEAN_LOGIN": "demo", "OCEAN_PASSWORD": "demo"}  # fmt: skip
    said = {}
    with StateStore(held) as holder, holder.feed_lock(0, "planning-clean"):  # another run
        for what, (code, *args) in refusals.items():
            result = CliRunner().invoke(main, args, env=nowhere)
            assert result.exit_code == code, (what, result.output)
            said[what] = result.output
    assert {what: foreign_sentences(text, "fr") for what, text in said.items()} == {
        what: [] for what in said
    }
    assert "est inutilisable (le fichier n'est pas une base de données)" in said["damaged state"]
    assert (f"importe le flux «\u00a0planning-clean\u00a0» dans l'état {held} "
            f"(pid {os.getpid()} sur") in said["state held"]  # fmt: skip
    assert "DÉPÔT\u00a0: un dossier, pas un fichier" in said["inbox is a file"]
    assert "écraserait le planning lui-même" in said["report over the planning"]
    assert "--dry-run montre seulement le plan" in said["dry run and sandbox"]


def test_the_language_check_catches_a_sentence_of_the_other_language() -> None:
    """The net the tests above rely on: a catalog sentence shown in the wrong language, and
    English typed straight into the code, are both caught."""
    with speaking("en"):
        english = str(StateError.damaged("state.db", "?"))
    with speaking("fr"):
        french = str(StateError.damaged("state.db", "?"))
    assert foreign_sentences(english, "fr") != [] and foreign_sentences(french, "fr") == []
    assert foreign_sentences(french, "en") != [] and foreign_sentences(english, "en") == []
    typed_in = "Rapport\u00a0: tournee.results.xlsx (the workbook was kept)"
    assert foreign_sentences(typed_in, "fr") == ["the", "was"]
    assert foreign_sentences("Ocean\u00a0: 36 ok, voir tournee.results.xlsx --report", "fr") == []
