"""The layout is the architecture: which module may import which, read from the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "importer"
FACES = ["cli", "watch.py", "web"]
# What only the pipeline (and the stages under it) may touch: a face goes through the pipeline.
# A name stands for its package too ("importer.state" for importer.state.sqlite).
BEHIND_THE_PIPELINE = ("importer.ocean", "importer.push", "importer.state", "importer.store",
                       "importer.undo")  # fmt: skip


def behind_the_pipeline(names: set[str]) -> set[str]:
    return {name for name in names
            if any(name == hidden or name.startswith(hidden + ".") for hidden in BEHIND_THE_PIPELINE)}  # fmt: skip


def modules(*names: str) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = PACKAGE / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (a lazy import inside a function too), but
    for the names an ``if TYPE_CHECKING:`` block takes for annotations only (nothing runs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("face", modules(*FACES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_face_reaches_ocean_and_the_state_only_through_the_pipeline(face: Path) -> None:
    assert behind_the_pipeline(imported(face)) == set()


@pytest.mark.parametrize(
    ("library", "owners"),
    [
        ("httpx", ["ocean/client.py", "ocean/http.py"]),  # the Ocean client
        ("sqlite3", ["state/sqlite.py"]),
        ("psycopg", ["state/postgres.py"]),
    ],
)
def test_only_the_ocean_client_speaks_http_and_one_module_sql(
    library: str, owners: list[str]
) -> None:
    speakers = [p.relative_to(PACKAGE).as_posix() for p in modules(".")
                if library in imported(p) and "sandbox" not in p.parts]  # fmt: skip
    assert sorted(speakers) == owners


def test_the_diff_does_no_io() -> None:
    io = {
        "httpx",
        "sqlite3",
        "psycopg",
        "importer.state",
        "importer.store",
        "importer.ocean",
        "os",
        "io",
    }
    assert imported(PACKAGE / "diff.py") & io == set()


def test_no_module_is_over_500_lines() -> None:
    lengths = {p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
               for p in modules(".")}  # fmt: skip
    assert {name: n for name, n in lengths.items() if n > 500} == {}


LOADED = (
    "import sys\nfrom importer.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print(' '.join(sorted(sys.modules)))"
)


@pytest.mark.parametrize(("line", "unwanted"), [
    (["--help"], {"pandas", "pandera", "httpx", "psycopg", "starlette", "openpyxl", "rich"}),
    (["run", "--help"], {"pandas", "pandera", "httpx", "psycopg", "starlette", "rich"}),
    (["run"], {"pandas", "pandera", "httpx", "psycopg", "starlette"}),  # a mistyped line
    (["validate", "{planning}", "--no-report"],
     {"httpx", "psycopg", "starlette", "uvicorn", "apprise", "importer.web", "importer.ocean"}),
])  # fmt: skip
def test_a_command_imports_only_what_it_uses(tmp_path: Path, line: list[str],
                                             unwanted: set[str]) -> None:  # fmt: skip
    """What starts fast stays fast: the help and a mistyped line load no data library, and
    validate none of the network side nor the web page (bench/startup.py has the times)."""
    import subprocess
    import sys

    from tests.helpers import rows_for, write_planning

    planning = write_planning(tmp_path / "tournee.xlsx", rows_for(1, 3))
    args = [part.replace("{planning}", str(planning)) for part in line]
    done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    loaded = set(done.stdout.splitlines()[-1].split())
    assert "importer.cli" in loaded, done.stderr
    assert {name for name in unwanted if name in loaded} == set()
