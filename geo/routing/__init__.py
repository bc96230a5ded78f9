"""Routing: the road graph (CSR arrays), snapping, nearest / bounded / OD searches, partitioned
searches on Dask. The lowest layer: it knows nothing of configs, facilities or coverage."""
