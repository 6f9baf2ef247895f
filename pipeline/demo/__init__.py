"""The embedded demo world: a seeded generator of real input files for the pipeline.

``generate_world(out_dir, WorldSpec(seed=...))`` writes GeoTIFF tiles, a VIIRS-like nightlight
raster and a DHS-like survey CSV of a synthetic country, "Demoland", whose wealth drives what the
tiles show, where the lights are and what the survey measures. It feeds ``make demo``, the test
suite (at tiny size) and the benchmarks. The pipeline never reads its internals (``truth.npz``).
"""

from pipeline.demo.spec import WorldSpec
from pipeline.demo.world import generate_world

__all__ = ["WorldSpec", "generate_world"]
