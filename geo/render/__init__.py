"""Render: the map (layers, legends, rasters, offline assets), the report and its charts, the
findings in words, workshop packs, the what-if workshop page, scenario and site maps, batch
pages, and file writing (atomic, safe). It reads :class:`~geo.results.Results` and computes no
figure of its own."""
