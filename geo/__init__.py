"""gapmap: palliative care access gaps between GPs and specialist palliative care services.

Where to start reading: :mod:`geo.workflows.pipeline` chains the three public stages that every
command, scenario, batch and benchmark uses,

``load_inputs`` (:mod:`geo.inputs.region`) → ``analyse`` (:mod:`geo.analysis.region`) →
``write`` (:mod:`geo.render.region`),

and :mod:`geo.analysis.coverage` is the one definition of who is covered. The subpackages follow
the data flow, and a lower one never imports a higher one (checked by import-linter):

* :mod:`geo.routing`: the road graph (CSR arrays), snapping, nearest / bounded / OD searches,
  partitioned searches on Dask;
* :mod:`geo.inputs`: roads and speeds, facilities, population, remoteness and need, read under
  one CRS rule and snapped to the network once;
* :mod:`geo.analysis`: service times (one search plan, two executors), coverage per need group
  (with unknown states), :class:`~geo.results.Findings`, gap tables, access scores, catchments,
  uncertainty, site selection and scenario edits;
* :mod:`geo.render`: map, report, charts, the findings in words, workshop packs, the
  what-if workshop page, files;
* :mod:`geo.workflows`: the pipeline, scenarios, site selection, the workshop page and batches;
* :mod:`geo.cli`: the ``gapmap`` command; :mod:`geo.demo`: the synthetic demo region.

Shared by all: :mod:`geo.config` (every config model and the one YAML reader),
:mod:`geo.results` (the objects passed between layers), :mod:`geo.errors`, :mod:`geo.progress`
and :mod:`geo.reference` (the cited reference tables, as package data).
"""

from __future__ import annotations

import logging

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
