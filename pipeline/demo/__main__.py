"""Generate a demo world: ``python -m pipeline.demo OUT_DIR [--seed N] [--tiles-x N --tiles-y N]
[--plant town|road --plant-at X Y]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from pipeline.demo.spec import WorldSpec
from pipeline.demo.world import generate_world
from pipeline.errors import PipelineError


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, write the world, print where it went; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__)
    parser.add_argument("out_dir", help="folder to write the world into")
    parser.add_argument("--seed", type=int, default=WorldSpec.seed)
    parser.add_argument("--tiles-x", type=int, default=WorldSpec.n_tiles_x, help="tiles across")
    parser.add_argument("--tiles-y", type=int, default=WorldSpec.n_tiles_y, help="tiles down")
    parser.add_argument("--tile-size", type=int, default=WorldSpec.tile_size_px, help="pixels")
    parser.add_argument("--clusters", type=int, default=WorldSpec.n_clusters, help="survey clusters")
    parser.add_argument("--plant", choices=("town", "road"),
                        help="plant a new town or road (the same world otherwise: a later year)")
    parser.add_argument("--plant-at", type=float, nargs=2, metavar=("X", "Y"),
                        default=(WorldSpec.plant_x, WorldSpec.plant_y),
                        help="where, as fractions of the width and height from the NW corner")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        spec = WorldSpec(
            seed=args.seed, n_tiles_x=args.tiles_x, n_tiles_y=args.tiles_y,
            tile_size_px=args.tile_size, n_clusters=args.clusters, plant=args.plant,
            plant_x=args.plant_at[0], plant_y=args.plant_at[1],
        )
        out = generate_world(args.out_dir, spec)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"demo world in {out} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
