#!/usr/bin/env bash
# The wheel built from the repository, installed into a fresh virtual environment outside the
# source tree, runs the demo: the templates, catalogs, static files and schemas it needs are
# all in the package. Fails (non-zero) on the first thing missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
away="$(mktemp -d)"
trap 'kill "${served:-0}" 2>/dev/null || true; rm -rf "$away"' EXIT

fail() { echo "wheel-demo: $*" >&2; exit 1; }
{
	# From the repository's files alone, copied (a build/ folder left by an earlier build
	# would lend the wheel files the package no longer has, or lacks).
	mkdir "$away/source" &&
	git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 tar -cf - --ignore-failed-read) | tar -xf - -C "$away/source" &&
	"$root/.venv/bin/python" -m pip wheel --quiet --no-deps -w "$away/dist" "$away/source" &&
	"$python" -m venv "$away/venv" &&
	"$away/venv/bin/python" -m pip install --quiet "$away"/dist/ocean_import-*.whl
} > "$away/pip.log" 2>&1 || { cat "$away/pip.log" >&2; fail "the wheel could not be built or installed"; }
"$root/.venv/bin/python" "$root/samples/make_samples.py" --out "$away/samples" >/dev/null
cp "$root/samples/ocean-import.toml" "$away/samples/"

cd "$away"  # nothing of the source tree on the path from here on
mkdir out
bin="$away/venv/bin"
test "$("$bin/python" -c 'import importer, pathlib; print(pathlib.Path(importer.__file__).parent.parent)')" = "$away/venv/lib/python3.11/site-packages" \
	|| fail "the package was not imported from the wheel's install"

echo "== validate, in French, from the installed wheel (exit 1 expected: the broken sample)"
code=0
OCEAN_IMPORT_LANG=fr "$bin/ocean-import" validate samples/planning-broken.xlsx \
	--config samples/ocean-import.toml --report out/broken.validation.xlsx > out.txt 2>&1 || code=$?
cat out.txt
test "$code" = 1 || fail "validate said exit $code, not 1"
grep -q "lignes lues" out.txt || fail "validate did not speak French: the catalog is missing"
test -s out/broken.validation.xlsx || fail "no validation workbook"

echo "== run the clean sample into a sandbox"
OCEAN_IMPORT_LANG=fr "$bin/ocean-import" run samples/planning-clean.xlsx \
	--config samples/ocean-import.toml --sandbox --state out/state.db --report out/clean.results.xlsx
test -s out/clean.results.xlsx || fail "no results workbook"

echo "== the web page: its templates and its script"
port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/ocean-import" serve --sandbox --port "$port" --work out/web --state out/web.db \
	--config samples/ocean-import.toml > serve.log 2>&1 &
served=$!
fetch() {  # PATH FILE: the page's answer, saved (non-zero unless 200)
	"$bin/python" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=5).read())' \
		"http://127.0.0.1:$port$1" "$2"
}
for _ in $(seq 100); do
	fetch "/login" login.html 2>/dev/null && break
	sleep 0.2
done
grep -q "Mot de passe" login.html || { cat serve.log >&2; fail "no login page in French"; }
fetch "/static/page.js" page.js || fail "no page script"
test -s page.js || fail "an empty page script"
echo "wheel-demo: the installed wheel validated, imported and served the page"
