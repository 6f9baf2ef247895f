"""Tile sources and tile reading: folders of GeoTIFFs, mosaics cut into windows, scaling, acquisition dates."""
