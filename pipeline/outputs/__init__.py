"""What a run hands to people: the map files, the interactive map and the run report.

- :mod:`~pipeline.outputs.bundle`: everything an export needs, read from a run directory.
- :mod:`~pipeline.outputs.formats`: one writer per format (COG, GeoPackage, GeoParquet, CSV,
  PNG, HTML), used by the ``export`` stage and by ``poverty-pipeline export``.
- :mod:`~pipeline.outputs.webmap`: ``map.html`` (folium / Leaflet).
- :mod:`~pipeline.outputs.report`: ``report.html``, one self-contained file.
- :mod:`~pipeline.outputs.tables`: the run's metrics, stages and rejected rows as tables.
"""
