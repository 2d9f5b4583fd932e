from importer.cli import console

console()
