"""pytest glue, so that `pytest -n auto` (pytest-xdist) keeps both workers busy to the end: the suite takes as long
as its busiest worker. Before any test, one small UMAP fit fills numba's on-disk cache (metrics.umap_cached): on a
new machine the workers and the pipelines they start would otherwise each compile UMAP's ~250 functions at once
(~15 s of CPU each, ~100 s in all). The long tests (marked `long` in test_all.py) are collected first, the longest
(order=1) first, and a worker that runs out of tests takes queued ones from the other (xdist's 'worksteal' instead
of 'load': with 'load', the tests queued behind the longest one waited for it while the other worker sat idle)."""
import os
import subprocess
import sys

# One thread per test process and per process a test starts (xdist runs one worker per core): a BLAS, OpenMP or numba
# pool of 2 threads beside a busy second worker spins for its share, and once UMAP has run in a process its idle
# numba threads slowed torch there 4x (overfit test: 9 s -> 37 s). Set before anything imports numpy.
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS'):
    os.environ.setdefault(var, '1')

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'long(order): a test of a minute or more (a whole pipeline); collected first, '
                                       'the longest (order=1) first')
    if getattr(config.option, 'dist', None) == 'load':  # what -n sets; an explicit --dist=... is left alone
        config.option.dist = 'worksteal'


@pytest.hookimpl(tryfirst=True)  # before xdist starts its workers (its own hook runs last)
def pytest_sessionstart(session):
    if hasattr(session.config, 'workerinput'):  # a worker: the controller has done it
        return
    fit = 'import numpy as np, metrics; metrics.embed(np.random.default_rng(0).normal(size=(60, 16)), 15, 0.1, 3, 0)'
    subprocess.run([sys.executable, '-c', fit], cwd=os.path.dirname(os.path.abspath(__file__)), check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # a failure shows in the tests that use UMAP


def pytest_collection_modifyitems(items):
    def key(item):
        mark = item.get_closest_marker('long')
        return (0, mark.kwargs.get('order', 99)) if mark else (1, 0)
    items.sort(key=key)  # stable: file order for the rest
