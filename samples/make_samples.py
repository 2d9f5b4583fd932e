"""Make the sample plannings, dated from tomorrow (``make samples``; ``make demo`` does it).

    python samples/make_samples.py [--start YYYY-MM-DD] [--out samples]

They are made, not committed, so that they never age: a sample dated last month would push
missions already past and open its report with "already past" warnings.

- planning-clean.xlsx: a day and a half of deliveries, pick-ups and interventions around
  Lyon, title rows above the header, real date cells, vehicles and individuals;
- planning-clean.csv: the same planning as French Excel exports it (Windows-1252, ';',
  decimal commas, French headers in capitals);
- planning-broken.xlsx: one row per kind of problem the validation finds, each described in
  its Commentaire cell; ``BROKEN_EXPECTED`` lists them (row, field, kind) for the tests.

Times are local to Europe/Paris (see ocean-import.toml beside this file).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

CUSTOMER_ID = 4242
HEADERS = [
    "N° mission", "Date d'intervention", "Date de péremption", "Type de mission", "Véhicule",
    "Nom", "Prénom", "Commentaire", "Adresse de référence", "Rue", "Code postal", "Ville",
    "À envoyer", "Latitude", "Longitude",
]  # fmt: skip
CSV_HEADERS = [
    "N° MISSION", "DATE INTERVENTION", "DATE PEREMPTION", "TYPE MISSION", "VEHICULE", "NOM",
    "PRENOM", "COMMENTAIRE", "ADRESSE DE REFERENCE", "RUE", "CODE POSTAL", "VILLE",
    "A ENVOYER", "LATITUDE", "LONGITUDE",
]  # fmt: skip

# (reference name, street, postcode, town, latitude, longitude)
ADDRESSES = [
    ("Boulangerie Pozzoli", "12 rue de la République", "69002", "Lyon", 45.7621, 4.8357),
    ("Clinique du Parc", "155 boulevard de Stalingrad", "69006", "Lyon", 45.7786, 4.8559),
    ("Mairie Villeurbanne", "Place Lazare Goujon", "69100", "Villeurbanne", 45.7665, 4.8795),
    ("Entrepôt Corbas", "8 rue Marcel Mérieux", "69960", "Corbas", 45.6688, 4.9024),
    ("Pharmacie Gerland", "280 avenue Jean Jaurès", "69007", "Lyon", 45.7338, 4.8346),
    ("Lycée Ampère", "31 rue de la Bourse", "69002", "Lyon", 45.7656, 4.8371),
    ("Hôtel Carlton", "4 rue Jussieu", "69002", "Lyon", 45.7617, 4.8371),
    ("Garage Vénissieux", "47 avenue Jean Cagne", "69200", "Vénissieux", 45.7037, 4.8858),
    ("Supérette C-Rousse", "9 boulevard de la Croix-Rousse", "69004", "Lyon", 45.7741, 4.8307),
    ("Cabinet Dr Martin", "22 cours Vitton", "69006", "Lyon", 45.7697, 4.8587),
    ("Ferme des Dombes", "Route de Villars", "01330", "Ambérieux-en-Dombes", 45.9961, 4.9011),
    ("Bourg Centre", "5 avenue Alsace-Lorraine", "01000", "Bourg-en-Bresse", 46.2052, 5.2255),
    ("Bouchon Mercière", "14 rue Mercière", "69002", "Lyon", 45.7618, 4.8328),
    ("Imprimerie Rhône", "66 rue Francis de Pressensé", "69100", "Villeurbanne", 45.7702, 4.8726),
    ("EHPAD Les Tilleuls", "3 chemin des Platanes", "69130", "Écully", 45.7745, 4.7774),
    ("Parc OL Décines", "10 avenue Simone Veil", "69150", "Décines-Charpieu", 45.7653, 4.9822),
    ("Hôpital E. Herriot", "5 place d'Arsonval", "69003", "Lyon", 45.7425, 4.8809),
    ("Librairie Passages", "11 rue de Brest", "69002", "Lyon", 45.7625, 4.8339),
]
VEHICLES = ["VL-12 AB-123-CD", "PL-07 EF-456-GH", "VU-03 JK-789-LM", "VU-09 NP-321-QR"]
DRIVERS = [("Dupont", "Marie"), ("Nguyen", "Thierry"), ("Benali", "Sofiane"), ("Lefèvre", "Élise")]
TYPES = ["Livraison", "Enlèvement", "Intervention"]
COMMENTS = [
    "Sonner à l'interphone, 2e étage",
    "Quai n°3, prévenir 15 min avant",
    "Colis fragile — ne pas empiler",
    "",
    "Paiement à la livraison",
    "Accès par la rue arrière",
]


def clean_rows(start: dt.date, count: int = 36) -> list[list[Any]]:
    rows = []
    for n in range(count):
        day = start + dt.timedelta(days=n // 24)
        when = dt.datetime.combine(day, dt.time(7, 0)) + dt.timedelta(minutes=25 * (n % 24))
        name, street, postcode, town, lat, lon = ADDRESSES[n % len(ADDRESSES)]
        to_individual = n % 5 == 4
        vehicle = "" if to_individual else VEHICLES[n % len(VEHICLES)]
        last, first = DRIVERS[n % len(DRIVERS)] if to_individual else ("", "")
        rows.append([
            f"LIV-{day:%m%d}-{n + 1:03d}", when, when + dt.timedelta(hours=10),
            TYPES[n % len(TYPES)], vehicle, last, first, COMMENTS[n % len(COMMENTS)], name,
            street, postcode, town, n % 7 != 6, lat, lon,
        ])  # fmt: skip
    return rows


def write_workbook(path: Path, title: str, headers: list[str], rows: list[list[Any]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Planning"
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append(headers)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([None if value == "" else value for value in row])
    for row in sheet.iter_rows(min_row=4):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "dd/mm/yyyy hh:mm"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "dd/mm/yyyy"
    for letter, width in zip("ABCDEFGHIJ", [16, 18, 18, 14, 18, 12, 12, 34, 26, 30], strict=True):
        sheet.column_dimensions[letter].width = width
    workbook.save(path)


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(CSV_HEADERS)
        for row in rows:
            writer.writerow([_as_french_text(value) for value in row])


def _as_french_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, float):
        return str(value).replace(".", ",")
    return str(value)


# Each broken row: (what to change in a clean row, the field at fault, the problem's kind).
BROKEN_HEADERS = [*HEADERS, "Client Ocean", "Action", "Remarques"]
FIELD_INDEX = {
    "idMission": 0, "jourHeureInter": 1, "jourHeurePeremp": 2, "nomVeh": 4, "nomIndi": 5,
    "prenomIndi": 6, "commentaire": 7, "adrRefCli": 8, "rue": 9, "codPost": 10, "ville": 11,
    "aEnvoyer": 12, "latitude": 13, "longitude": 14, "customerId": 15, "action": 16,
}  # fmt: skip
FIRST_DATA_ROW = 4


def broken_cases(start: dt.date) -> list[tuple[str, dict[str, Any], str | None, str | None]]:
    """(description, changes, field at fault, kind); a None kind is a clean control row."""
    morning = dt.datetime.combine(start, dt.time(9, 0))
    return [
        ("ligne correcte (témoin)", {}, None, None),
        ("identifiant vide", {"idMission": None}, "idMission", "id_required"),
        ("identifiant en double (1/2)", {"idMission": "LIV-DOUBLE"}, "idMission", "duplicate_id"),
        ("identifiant en double (2/2)", {"idMission": "LIV-DOUBLE"}, "idMission", "duplicate_id"),
        ("client non numérique", {"customerId": "ACME"}, "customerId", "not_an_integer"),
        ("date d'intervention vide", {"jourHeureInter": None}, "jourHeureInter", "date_required"),
        ("année sur deux chiffres", {"jourHeureInter": f"{start:%d/%m/%y} 8h30"},
         "jourHeureInter", "two_digit_year"),
        ("date impossible", {"jourHeureInter": f"31/02/{start.year + 1} 08:00"},
         "jourHeureInter", "impossible_date"),
        ("texte au lieu d'une date", {"jourHeureInter": "demain matin"},
         "jourHeureInter", "date_format"),
        ("nombre au lieu d'une date", {"jourHeureInter": 46350.5},
         "jourHeureInter", "number_not_date"),
        ("heure sans date", {"jourHeureInter": dt.time(8, 30)},
         "jourHeureInter", "time_without_date"),
        ("année invraisemblable", {"jourHeureInter": "24/11/1926 08:00"},
         "jourHeureInter", "implausible_year"),
        ("heure sautée au passage à l'heure d'été",
         {"jourHeureInter": f"{_last_sunday(start.year + 1, 3):%d/%m/%Y} 02:30",
          "jourHeurePeremp": None},
         "jourHeureInter", "time_in_clock_change_gap"),
        ("péremption avant l'intervention",
         {"jourHeurePeremp": morning - dt.timedelta(hours=2)},
         "jourHeurePeremp", "expiry_not_after_intervention"),
        ("ni véhicule ni individu", {"nomVeh": None, "nomIndi": None, "prenomIndi": None},
         "nomVeh", "no_recipient"),
        ("latitude hors limites", {"latitude": 95.2}, "latitude", "latitude_range"),
        ("longitude hors limites", {"longitude": 200.0}, "longitude", "longitude_range"),
        ("latitude illisible", {"latitude": "45,76a"}, "latitude", "not_a_number"),
        ("latitude sans longitude", {"longitude": None}, "longitude", "latitude_without_longitude"),
        ("longitude sans latitude", {"latitude": None}, "latitude", "longitude_without_latitude"),
        ("à envoyer illisible", {"aEnvoyer": "peut-être"}, "aEnvoyer", "flag_value"),
        ("action inconnue", {"action": "annuler"}, "action", "action_value"),
        # warnings: the row is still valid
        ("véhicule et individu", {"nomIndi": "Dupont", "prenomIndi": "Marie"},
         "nomVeh", "vehicle_and_individual"),
        ("code postal sans son zéro", {"codPost": 1000, "ville": "Bourg-en-Bresse"},
         "codPost", "postcode_zero_restored"),
        ("nom d'adresse trop long", {"adrRefCli": "Centre hospitalier régional de Bourg"},
         "adrRefCli", "address_name_long"),
        ("secondes non nulles", {"jourHeureInter": f"{start:%d/%m/%Y} 08:30:15"},
         "jourHeureInter", "seconds_dropped"),
        ("date sans heure",
         {"jourHeureInter": f"{start + dt.timedelta(days=1):%d/%m/%Y}", "jourHeurePeremp": None},
         "jourHeureInter", "date_without_time"),
        ("heure répétée au retour à l'heure d'hiver",
         {"jourHeureInter": f"{_last_sunday(start.year + 1, 10):%d/%m/%Y} 02:30",
          "jourHeurePeremp": None},
         "jourHeureInter", "time_repeated_by_clock_change"),
        ("intervention déjà passée",
         {"jourHeureInter": "02/01/2025 09:00", "jourHeurePeremp": None},
         "jourHeureInter", "past_intervention"),
        ("ni coordonnées ni adresse",
         {"rue": None, "codPost": None, "ville": None, "latitude": None, "longitude": None},
         "rue", "no_location"),
        ("commentaire qui ressemble à une formule",
         {"commentaire": '=HYPERLINK("http://example.invalid","cliquez ici")'}, None, None),
    ]  # fmt: skip


def _last_sunday(year: int, month: int) -> dt.date:
    """Europe's clocks change on the last Sunday of March and of October."""
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


def broken_rows(start: dt.date) -> list[list[Any]]:
    base = clean_rows(start, 1)[0]
    morning = dt.datetime.combine(start, dt.time(9, 0))
    rows = []
    for n, (description, changes, _field, _kind) in enumerate(broken_cases(start)):
        row = [*base, CUSTOMER_ID, None, None]
        row[0] = f"LIV-ERR-{n + 1:02d}"
        row[1], row[2] = morning + dt.timedelta(minutes=10 * n), morning + dt.timedelta(hours=10)
        row[7] = f"Cas : {description}"
        for name, value in changes.items():
            row[FIELD_INDEX[name]] = value
        rows.append(row)
    return rows


def broken_expected(start: dt.date) -> list[tuple[int, str, str]]:
    """(spreadsheet row, field, kind) of every problem seeded in planning-broken.xlsx."""
    return [
        (FIRST_DATA_ROW + n, field, kind)
        for n, (_d, _c, field, kind) in enumerate(broken_cases(start))
        if kind is not None and field is not None
    ]


def tomorrow() -> dt.date:
    """The first day of the samples: tomorrow where the planners are."""
    return dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)


def write_samples(out: Path, start: dt.date) -> None:
    """The three sample plannings, their first missions on ``start``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = clean_rows(start)
    title = f"Planning des tournées du {start:%d/%m/%Y} — Transports Rhône Express"
    write_workbook(out / "planning-clean.xlsx", title, HEADERS, rows)
    write_csv(out / "planning-clean.csv", rows)
    write_workbook(
        out / "planning-broken.xlsx",
        "Planning à corriger — un cas par ligne",
        BROKEN_HEADERS,
        broken_rows(start),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None,
                        help="first day of the missions (default: tomorrow)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    start = args.start or tomorrow()
    write_samples(args.out, start)
    print(f"samples dated from {start:%d/%m/%Y} written to {args.out}")


if __name__ == "__main__":
    main()
