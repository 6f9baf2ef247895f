"""Raster and vector I/O helpers (rasterio, geopandas)."""
