"""Acquisition dates of rasters (from tags or file names) and temporal alignment of the inputs.

A tile's date comes from the first of ``data.tiles.date_tags`` present in its GeoTIFF tags, else
from ``data.tiles.year_pattern`` (a regular expression searched in the file name; its first group,
or the whole match, is the date). Dates are ``YYYY``, ``YYYYMMDD`` or ``YYYY-MM-DD`` (ISO
date-times too); anything else leaves the date unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATE = re.compile(r"^\s*((?:19|20)\d{2})(?:[-_/:]?(\d{2})(?:[-_/:]?(\d{2}))?)?")
YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


def parse_date(text: str) -> str | None:
    """ISO date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) at the start of ``text``, or None."""
    match = DATE.match(str(text))
    if not match:
        return None
    year, month, day = match.groups()
    if month and not 1 <= int(month) <= 12:
        return year
    if day and not 1 <= int(day) <= 31:
        return f"{year}-{month}"
    return "-".join(part for part in (year, month, day) if part)


def acquisition_date(tags: Mapping[str, str], name: str, date_tags: Sequence[str],
                     pattern: str | None) -> str | None:
    """A raster's acquisition date from its tags, else from its file name, else None.

    Args:
        tags: the dataset's GeoTIFF tags (``src.tags()``).
        name: the file name (no folders), searched with ``pattern``.
        date_tags: tag names tried in order.
        pattern: regular expression for the file name, or None.
    """
    for key in date_tags:
        if key in tags and parse_date(tags[key]):
            return parse_date(tags[key])
    if pattern:
        match = re.search(pattern, name)
        if match:
            return parse_date(match.group(1) if match.groups() else match.group(0))
    return None


def year_of(date: str | None) -> int | None:
    return int(date[:4]) if date else None


def nightlight_year(path: Path, tags: Mapping[str, str], configured: int | None) -> int | None:
    """The nightlight composite's year: config, a ``year`` tag, or a 4-digit year in the name.

    ``TIFFTAG_DATETIME`` is not read: it is when the file was written, not the composite's year.
    """
    if configured is not None:
        return configured
    for key in ("year", "YEAR", "ACQUISITION_DATE"):
        if key in tags and parse_date(tags[key]):
            return year_of(parse_date(tags[key]))
    match = YEAR_IN_NAME.search(path.name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Alignment:
    """Years of the three inputs and the gaps between them (None where unknown)."""

    tiles: tuple[int, int] | None
    nightlights: int | None
    survey: tuple[int, int] | None
    gaps: dict[str, int]

    def warnings(self, max_gap: int) -> list[str]:
        """One sentence per pair of inputs further apart than ``max_gap`` years."""
        return [f"{pair.replace('_', ' and ')} are {gap} years apart (labels.max_year_gap "
                f"is {max_gap})" for pair, gap in self.gaps.items() if gap > max_gap]


def _span(years: Iterable[object]) -> tuple[int, int] | None:
    values = np.array([float(y) for y in years if _is_year(y)])
    return (int(values.min()), int(values.max())) if values.size else None


def _is_year(value: object) -> bool:
    try:
        return 1900 <= float(value) <= 2100  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Largest distance in years between any year of span ``a`` and any of span ``b``."""
    return max(abs(a[1] - b[0]), abs(b[1] - a[0]))


def alignment(tile_years: Iterable[object], nightlights: int | None,
              survey_years: Iterable[object]) -> Alignment:
    """Compare the years of tiles, nightlights and survey (unknown years are left out)."""
    spans = {"tiles": _span(tile_years),
             "nightlights": (nightlights, nightlights) if nightlights else None,
             "survey": _span(survey_years)}
    gaps = {}
    for a, b in (("tiles", "nightlights"), ("tiles", "survey"), ("nightlights", "survey")):
        if spans[a] and spans[b]:
            gaps[f"{a}_{b}"] = _gap(spans[a], spans[b])
    return Alignment(spans["tiles"], nightlights, spans["survey"], gaps)
