from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def settings() -> Settings:
    return Settings()
