"""The stage names in run order, for ``run --from/--until`` without importing any stage.

Importing the stages pulls in TensorFlow, geopandas and rasterio (seconds); the command line
offers these names as choices and answers ``--help`` without them. A test checks that this list
equals the names of :mod:`pipeline.stages`, in order.
"""

STAGE_NAMES = ("ingest", "label", "train", "extract", "baselines", "aggregate", "fit", "predict",
               "export")
