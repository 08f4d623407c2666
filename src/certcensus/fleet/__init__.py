"""Fleets: probes spread over Dask workers, on this machine or others, and vantage points.

A stage of its own, between the store and the analysis: it runs plans (probe/plan.py) on a
Dask cluster and writes what comes back into the store, or lets the workers write straight
into a PostgreSQL store. No cluster code of our own: Dask's scheduler places the work,
reschedules what a dead worker held, and pins work to vantage points through its resources.

- `cluster.py`: `--dask local:N | tcp://HOST:PORT` -> a connected client;
- `batches.py`: the unit of work, one batch of one stratum, and the task that runs it on a
  worker;
- `scan.py`: FleetScan, the driver: strata, stop-when-sure per stratum, batches in and out;
- `worker.py`: `certcensus worker`, a Dask worker that advertises a vantage.
"""
