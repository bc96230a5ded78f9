"""Analysis: service times (one search plan, two executors), the one coverage model, findings,
gap tables, access scores, catchments, uncertainty, site selection, scenario edits, the
workshop page's tables and model; the analysis stage :func:`geo.analysis.region.analyse`."""
