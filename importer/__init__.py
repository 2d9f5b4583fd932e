"""ocean-import: keep Ocean GeoMission missions in step with a planning spreadsheet."""

__version__ = "0.1.0"
