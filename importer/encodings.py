"""Which encoding a text planning is in: UTF-16 with its byte-order mark, UTF-8, else
Windows-1252 as French Excel exports; a file mixing two is refused rather than garbled."""

from __future__ import annotations

import codecs
from pathlib import Path

from importer.errors import UnreadableFileError
from importer.i18n import _

# The UTF-8 bytes of an accented letter (é is C3 A9) or of typographic punctuation (’ is
# E2 80 99): read as Windows-1252 they are "Ã©" and "â€™", never real French text. Found in a
# file that is not valid UTF-8, they mean two encodings in one file.
_UTF8_LEADS = ((b"\xc3", range(0x80, 0xC0)), (b"\xe2\x80", range(0x93, 0xA7)))
# Excel's "Texte Unicode" (and "CSV UTF-16") export: UTF-16 with its byte-order mark.
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """UTF-16 with a BOM (Excel's "Texte Unicode"), UTF-8 (with or without BOM), else
    Windows-1252 as French Excel exports."""
    for bom, encoding in _UTF16_BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(
                    path,
                    _("starts as UTF-16 text but is broken at byte {byte} (cut short?): save it "
                      "again").format(byte=exc.start + len(bom)),
                ) from None  # fmt: skip
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    utf8 = _first_utf8_sequence(data)
    if utf8 is not None:
        # Valid UTF-8 accents next to bytes that are not UTF-8: two encodings in one file
        # (rows pasted from another export). Reading it either way would garble some rows.
        line = data.count(b"\n", 0, utf8) + 1
        raise UnreadableFileError(
            path,
            _("mixes UTF-8 text (line {line}) with Windows-1252 text: open it in your "
              "spreadsheet program, fix the garbled accents and save it again as 'CSV UTF-8'"
              ).format(line=line),
        )  # fmt: skip
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path,
            _("is neither UTF-8 nor Windows-1252 text (byte {byte}): save it again as "
              "'CSV UTF-8'").format(byte=exc.start),
        ) from None  # fmt: skip


def _first_utf8_sequence(data: bytes) -> int | None:
    """Where the first UTF-8 accent or punctuation is: each lead byte found at C speed (a
    regular expression with two branches tests every byte of the file, ten times slower)."""
    found = []
    for lead, follower in _UTF8_LEADS:
        position = data.find(lead)
        while position >= 0:
            after = position + len(lead)
            if after < len(data) and data[after] in follower:
                found.append(position)
                break
            position = data.find(lead, after)
    return min(found, default=None)
