"""Inputs: roads and speeds, facilities, population, remoteness, need; one reader with one CRS
rule (:mod:`geo.inputs.readers`); the inputs stage :func:`geo.inputs.region.load_inputs`."""
