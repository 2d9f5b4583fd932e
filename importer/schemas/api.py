"""The Ocean GeoMission API contract, as the vendor documents it."""

from __future__ import annotations

from typing import Final

# Mission fields, in the vendor's documented order.
MISSION_FIELDS: Final = (
    "customerId",
    "idMission",
    "jourHeureInter",
    "jourHeurePeremp",
    "typeMission",
    "nomVeh",
    "nomIndi",
    "prenomIndi",
    "nomPrenom",
    "commentaire",
    "adrRefCli",
    "rue",
    "codPost",
    "ville",
    "aEnvoyer",
    "longitude",
    "latitude",
)

TEXT_FIELDS: Final = (
    "typeMission",
    "nomVeh",
    "nomIndi",
    "prenomIndi",
    "nomPrenom",
    "commentaire",
    "adrRefCli",
    "rue",
    "ville",
)
DATE_FIELDS: Final = ("jourHeureInter", "jourHeurePeremp")
COORDINATE_FIELDS: Final = ("latitude", "longitude")

# Dates travel in UTC as "dd/MM/yyyy HH:mm" (the vendor's only accepted format).
API_DATE_FORMAT: Final = "%d/%m/%Y %H:%M"
API_TRUE: Final = "true"
API_FALSE: Final = "false"

# adrRefCli is shown truncated to this many characters in the cab.
ADDRESS_NAME_SHOWN_CHARS: Final = 20
