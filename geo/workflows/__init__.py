"""Workflows: the pipeline (load_inputs → analyse → write), scenarios, site selection, the
workshop page and batches, each built from the same public stages."""
