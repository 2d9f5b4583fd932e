"""Where a fleet works: the operating area a mission's point is checked against.

A rectangle in decimal degrees, ``(south, west, north, east)``. The default is metropolitan
France with Corsica; a site that works further away widens it (``[area]`` in the
configuration). A point outside is a warning, never an error: the area is a guard against
typos (latitude and longitude swapped, a sign lost), not a rule of Ocean's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Area = tuple[float, float, float, float]
FRANCE_AREA: Area = (41.3, -5.3, 51.2, 9.7)
AREA_KEYS = ("south", "west", "north", "east")


def area_of(table: Mapping[str, Any]) -> Area:
    """``[area]``'s keys over France's; ValueError (with the key) when one is not a number or
    the rectangle is empty."""
    bounds = dict(zip(AREA_KEYS, FRANCE_AREA, strict=True))
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(key)
        bounds[key] = float(value)
    south, west, north, east = (bounds[key] for key in AREA_KEYS)
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise ValueError("")
    return south, west, north, east
