"""Pandera models of a planning, once its cells are typed (see importer.validate).

Two schemas, run lazily so that every problem of every row is collected at once:
``errors_schema`` (a failing row is invalid and is not pushed) and ``warnings_schema``
(worth a look, the row is still pushed). Each check's name is a problem kind, described
in ``importer.problems.KINDS``; ``BLAMED_FIELD`` says which cell a whole-row check points at.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from importer.schemas.api import ADDRESS_NAME_SHOWN_CHARS
from importer.schemas.area import FRANCE_AREA, Area

# The cell a row-level check points at, so that a person finds it.
BLAMED_FIELD = {
    "expiry_not_after_intervention": "jourHeurePeremp",
    "no_recipient": "nomVeh",
    "latitude_without_longitude": "longitude",  # the empty cell is the one to fill
    "longitude_without_latitude": "latitude",
    "vehicle_and_individual": "nomVeh",
    "no_location": "rue",
    "duplicate_id": "idMission",
    "outside_area": "latitude",
    "coordinates_swapped": "latitude",
}

# Pandera's own "required" check, named by field.
REQUIRED_KIND = {
    "idMission": "id_required",
    "jourHeureInter": "date_required",
    "customerId": "customer_required",
}


def _has_individual(frame: pd.DataFrame) -> pd.Series:
    return (frame["nomIndi"].notna() & frame["prenomIndi"].notna()) | frame["nomPrenom"].notna()


def _expiry_after_intervention(frame: pd.DataFrame) -> pd.Series:
    expiry, intervention = frame["jourHeurePeremp"], frame["jourHeureInter"]
    return expiry.isna() | intervention.isna() | (expiry > intervention)


def _unique_per_customer(frame: pd.DataFrame) -> pd.Series:
    # Every copy is reported: never guess which of two rows is the real mission.
    copies = frame.duplicated(["customerId", "idMission"], keep=False)
    return ~copies | frame["idMission"].isna()


def _has_recipient(frame: pd.DataFrame) -> pd.Series:
    return frame["nomVeh"].notna() | _has_individual(frame)


def _not_both_recipients(frame: pd.DataFrame) -> pd.Series:
    return ~(frame["nomVeh"].notna() & _has_individual(frame))


def _has_location(frame: pd.DataFrame) -> pd.Series:
    has_coordinates = frame["latitude"].notna() & frame["longitude"].notna()
    has_address = frame["rue"].notna() | frame["ville"].notna() | frame["codPost"].notna()
    return has_coordinates | has_address


def _inside(latitude: pd.Series, longitude: pd.Series, area: Area) -> pd.Series:
    south, west, north, east = area
    return latitude.between(south, north) & longitude.between(west, east)


def _no_point(frame: pd.DataFrame) -> pd.Series:
    """No coordinates, or coordinates that are already an error (out of range)."""
    latitude, longitude = frame["latitude"], frame["longitude"]
    return ~(latitude.between(-90, 90) & longitude.between(-180, 180))


def _in_area_or_swapped(frame: pd.DataFrame, area: Area) -> pd.Series:
    """True where the point is inside the area, or has no coordinates, or is inside once its
    latitude and longitude are swapped (that one has its own warning)."""
    latitude, longitude = frame["latitude"], frame["longitude"]
    inside = _inside(latitude, longitude, area) | _inside(longitude, latitude, area)
    return _no_point(frame) | inside


def _not_swapped(frame: pd.DataFrame, area: Area) -> pd.Series:
    latitude, longitude = frame["latitude"], frame["longitude"]
    swapped = ~_inside(latitude, longitude, area) & _inside(longitude, latitude, area)
    return _no_point(frame) | ~swapped


def _row_check(rule: Callable[[pd.DataFrame], pd.Series], name: str) -> pa.Check:
    """A rule on whole rows. Each rule says itself what a blank cell means, so pandera's own
    pass for rows blank in every column (a whole frame tested for nulls, per check: a third
    of the validation's time) is not asked for."""
    return pa.Check(rule, name=name, ignore_na=False)


def errors_schema(*, multi_client: bool) -> pa.DataFrameSchema:
    """Rules whose failure makes a row invalid."""
    return pa.DataFrameSchema(
        {
            "idMission": pa.Column(nullable=False),
            "customerId": pa.Column("Int64", nullable=not multi_client),
            "jourHeureInter": pa.Column(nullable=False),
            "jourHeurePeremp": pa.Column(nullable=True),
            "latitude": pa.Column(
                "float64",
                pa.Check.in_range(-90, 90, error="latitude_range"),
                nullable=True,
            ),
            "longitude": pa.Column(
                "float64",
                pa.Check.in_range(-180, 180, error="longitude_range"),
                nullable=True,
            ),
        },
        checks=[
            _row_check(_expiry_after_intervention, "expiry_not_after_intervention"),
            _row_check(_unique_per_customer, "duplicate_id"),
            _row_check(_has_recipient, "no_recipient"),
            _row_check(
                lambda f: f["latitude"].isna() | f["longitude"].notna(),
                "latitude_without_longitude",
            ),
            _row_check(
                lambda f: f["longitude"].isna() | f["latitude"].notna(),
                "longitude_without_latitude",
            ),
        ],
        strict=False,
    )


def warnings_schema(*, now: pd.Timestamp, area: Area = FRANCE_AREA) -> pa.DataFrameSchema:
    """Rules worth a warning: the row is still pushed."""
    return pa.DataFrameSchema(
        {
            "jourHeureInter": pa.Column(
                checks=pa.Check(lambda s: s.isna() | (s >= now), name="past_intervention"),
                nullable=True,
            ),
            "adrRefCli": pa.Column(
                checks=pa.Check(
                    lambda s: s.isna() | (s.str.len() <= ADDRESS_NAME_SHOWN_CHARS),
                    name="address_name_long",
                ),
                nullable=True,
            ),
        },
        checks=[
            _row_check(_not_both_recipients, "vehicle_and_individual"),
            _row_check(_has_location, "no_location"),
            _row_check(lambda f: _in_area_or_swapped(f, area), "outside_area"),
            _row_check(lambda f: _not_swapped(f, area), "coordinates_swapped"),
        ],
        strict=False,
    )
