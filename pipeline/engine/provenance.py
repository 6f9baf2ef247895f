"""Data manifests: one YAML file per data source, and checks of the files it lists.

A manifest says what a source is, where it comes from, its licence and whether it may be
redistributed, its year and CRS, and the sha256 of each file. ``sha256: null`` is an honest
placeholder for files whose checksum must come from the user's own download (e.g. DHS files,
which may not be redistributed). File paths are relative to the manifest's folder unless a
``root`` is given. :func:`verify` checks each file: it exists, its checksum matches, it opens
(rasters with rasterio, tables with the survey reader) and its CRS is the one stated.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError
from pyproj import CRS
from pyproj.exceptions import CRSError

from pipeline.config.base import Section
from pipeline.errors import DataVerificationError, InputDataError

CHUNK = 1 << 20


class ManifestFile(Section):
    path: str
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    kind: Literal["raster", "table", "vector", "other"] = "other"
    crs: str | None = None
    note: str | None = None


class DataManifest(Section):
    """One data source. ``files`` lists what the user downloads or places."""

    name: str
    description: str
    source: str
    how_to_get: str
    licence: str
    redistribute: bool
    year: int | str | None = None
    crs: str | None = None
    citation: str | None = None
    files: tuple[ManifestFile, ...] = Field(min_length=1)


@dataclass(frozen=True)
class FileCheck:
    """The result of checking one file; ``ok`` is False when any check failed."""

    path: Path
    exists: bool
    checksum: str  # ok | MISMATCH | unchecked (no sha256 in manifest) | -
    opens: str  # ok | FAILED: ... | - (not checked)
    crs: str  # ok | MISMATCH: ... | - (not stated or not checked)
    size_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.exists and self.checksum != "MISMATCH" and not self.opens.startswith(
            "FAILED") and not self.crs.startswith("MISMATCH")


def load_manifest(path: Path) -> DataManifest:
    """Read and validate a manifest; errors name the file and the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputDataError(f"{path}: cannot read the data manifest ({exc}).".replace("\n", " ")) from exc
    try:
        return DataManifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                             for e in exc.errors())
        raise InputDataError(f"{path}: invalid data manifest: {problems}") from None


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_and_crs(path: Path, kind: str) -> tuple[str, CRS | None]:
    """Open the file as its kind says; return ('ok' or 'FAILED: why', its CRS if any)."""
    if kind == "raster":
        import rasterio
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        try:
            with rasterio.open(path) as src:
                src.read(1, window=Window(0, 0, min(8, src.width), min(8, src.height)))
                return "ok", CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
        except RasterioError as exc:
            return f"FAILED: {exc}", None
    if kind in ("table", "vector"):
        import pyogrio
        from pyogrio.errors import DataSourceError

        from pipeline.survey.tables import read_table

        try:
            read_table(path)
            if kind == "vector":
                info = pyogrio.read_info(path)
                return "ok", CRS.from_user_input(info["crs"]) if info.get("crs") else None
            return "ok", None
        except (InputDataError, DataSourceError, OSError, ValueError) as exc:
            return f"FAILED: {exc}", None
    return "-", None


def _crs_status(stated: str | None, found: CRS | None, kind: str) -> str:
    if stated is None or kind not in ("raster", "vector"):
        return "-"
    try:
        want = CRS.from_user_input(stated)
    except CRSError as exc:
        return f"MISMATCH: manifest crs {stated!r} is not a CRS ({exc})"
    if found is None:
        return f"MISMATCH: file has no CRS, manifest says {stated}"
    return "ok" if want.equals(found, ignore_axis_order=True) else \
        f"MISMATCH: file is {found.to_string()}, manifest says {stated}"


def check_file(path: Path, entry: ManifestFile, stated_crs: str | None) -> FileCheck:
    """Run every check on one file (later checks are skipped when it is missing)."""
    if not path.is_file():
        return FileCheck(path, False, "-", "-", "-")
    checksum = "unchecked (no sha256 in manifest)"
    if entry.sha256 is not None:
        checksum = "ok" if sha256(path) == entry.sha256.lower() else "MISMATCH"
    opens, found = _open_and_crs(path, entry.kind)
    crs = _crs_status(entry.crs or stated_crs, found, entry.kind) if opens == "ok" else "-"
    return FileCheck(path, True, checksum, opens, crs, path.stat().st_size)


def verify(manifest_path: Path, root: Path | None = None) -> list[FileCheck]:
    """Check every file of a manifest; paths are relative to ``root`` or the manifest's folder."""
    manifest = load_manifest(manifest_path)
    base = root if root is not None else Path(manifest_path).parent
    return [check_file(Path(os.path.normpath(base / f.path)), f, manifest.crs)
            for f in manifest.files]


def verify_all(manifests: Sequence[Path]) -> None:
    """Verify the manifests a config references (``data.manifests``) before ingest starts.

    Raises:
        DataVerificationError: one clause per failed file, naming the manifest and what failed
            (exit code 3).
        InputDataError: a manifest cannot be read or is invalid.
    """
    failed = []
    for manifest in manifests:
        for check in verify(manifest):
            if not check.ok:
                failed.append(f"{manifest}: {check.path}: {describe(check)}")
    if failed:
        raise DataVerificationError("data manifest check failed: " + "; ".join(failed) +
                             ". Run `poverty-pipeline data verify MANIFEST` for the table.")


def describe(check: FileCheck) -> str:
    """What failed, in words ('ok' when nothing did)."""
    if not check.exists:
        return "missing"
    problems = []
    if check.checksum == "MISMATCH":
        problems.append("sha256 does not match the manifest")
    if check.opens.startswith("FAILED"):
        problems.append(f"does not open ({check.opens.removeprefix('FAILED: ')})")
    if check.crs.startswith("MISMATCH"):
        problems.append(f"crs {check.crs.removeprefix('MISMATCH: ')}")
    return "; ".join(problems) or "ok"


def format_table(checks: Sequence[FileCheck]) -> str:
    """A plain-text table, one line per file, then one line per failed file saying why."""
    header = ("file", "exists", "sha256", "opens", "crs", "status")
    rows = [(str(c.path), "yes" if c.exists else "NO", c.checksum.split(" ")[0],
             c.opens.split(":")[0], c.crs.split(":")[0], "ok" if c.ok else "FAIL")
            for c in checks]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines += [f"FAIL {c.path}: {describe(c)}" for c in checks if not c.ok]
    unchecked = sum(c.checksum.startswith("unchecked") for c in checks)
    if unchecked:
        lines.append(f"{unchecked} file(s) have no sha256 in the manifest (a placeholder): "
                     "fill it in from your own download with `sha256sum FILE`.")
    return "\n".join(lines)
