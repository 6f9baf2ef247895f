"""The ``aggregate`` section: which tiles are averaged around each survey cluster, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config.base import Location, RelPath, Section


class DistrictsConfig(Section):
    """Polygons (GeoPackage, shapefile, GeoJSON, GeoParquet) that group clusters into districts."""

    path: Location = Field(description=(
        "The polygon file (GeoPackage, shapefile, GeoJSON or GeoParquet; any CRS), local or a "
        "URL read through GDAL (`https://`, `s3://`, `/vsicurl/...`; not GeoParquet), kept as "
        "written."))
    id: str = Field("district", description="Its column that names each district.")


class AggregateConfig(Section):
    """The neighbourhood of a cluster: tiles within a radius (or a box), optionally weighted."""

    radius_km: float = Field(5.0, gt=0, le=50, description=(
        "Tiles whose centre is within this great-circle distance in kilometres of a cluster "
        "are averaged (DHS displaces rural clusters up to 5 km)."))
    box_km: float | None = Field(None, gt=0, le=100, description=(
        "When set, the tiles inside a square box of this side in kilometres, centred on the "
        "cluster, are averaged instead (Jean et al. used 10 km); `predict` uses the same box."))
    min_tiles: int = Field(1, ge=1, description=(
        "Clusters with fewer tiles are kept in `aggregate/clusters.parquet` with "
        "`usable=false`, are not fitted, and are named in the log."))
    weight: Literal["none", "valid_share", "population"] = Field("none", description=(
        "`none`: plain means. `valid_share`: each tile weighted by its share of valid pixels. "
        "`population`: by the tile's population from the `population` raster."))
    population: RelPath | None = Field(None, description=(
        "Population raster (e.g. WorldPop, any CRS); needed by `weight: population`."))
    population_holds: Literal["counts", "density"] = Field("counts", description=(
        "What the population raster's pixels hold: `counts` (people per pixel, as WorldPop's; a "
        "tile's population is their coverage-weighted sum) or `density` (people per km²; a "
        "tile's weight is their coverage-weighted mean)."))
    districts: DistrictsConfig | None = Field(None, description=(
        "Polygons (any CRS) grouping clusters into districts: adds `district` to "
        "`aggregate/clusters.parquet`, a district-level score to `fit/metrics.json`, and "
        "districts as the regions of the region-mean baseline."))

    @model_validator(mode="after")
    def _population_needs_raster(self) -> AggregateConfig:
        if self.weight == "population" and self.population is None:
            raise ValueError("aggregate.weight: 'population' needs aggregate.population, the path "
                             "of a population raster (e.g. WorldPop)")
        return self
