"""pytest glue, so that `pytest -n auto` (pytest-xdist) keeps every worker busy to the end: the suite takes as long
as its busiest worker. Before any test, one small UMAP fit fills numba's on-disk cache (metrics.umap_cached): on a
new machine the workers and the pipelines they start would otherwise each compile UMAP's ~250 functions at once
(~15 s of CPU each, ~100 s in all). Tests run under xdist's 'worksteal' scheduler: worker k is sent the k-th
contiguous share of the collection, and a worker that runs dry steals from the back of the fullest queue. So the
long tests (marked `long(s=...)` in test_all.py, s their measured seconds) are dealt out first, longest first, each to
the share with the least work so far, and sit at the front of their share; the short ones fill the back, where a
steal takes them. (Merely collected first, the long tests would all fall in the first share: one worker would run
every pipeline in turn while the other ran dry.)"""
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
    config.addinivalue_line('markers', 'long(s): a test of ~5 s or more; s its seconds on an idle 2-core machine, '
                                       'by which the tests are dealt to the workers')
    if getattr(config.option, 'dist', None) == 'load':  # what -n sets; an explicit --dist=... is left alone
        config.option.dist = 'worksteal'


@pytest.hookimpl(tryfirst=True)  # before xdist starts its workers (its own hook runs last)
def pytest_sessionstart(session):
    if hasattr(session.config, 'workerinput'):  # a worker: the controller has done it
        return
    fit = 'import numpy as np, metrics; metrics.embed(np.random.default_rng(0).normal(size=(60, 16)), 15, 0.1, 3, 0)'
    subprocess.run([sys.executable, '-c', fit], cwd=os.path.dirname(os.path.abspath(__file__)), check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # a failure shows in the tests that use UMAP


def pytest_collection_modifyitems(config, items):
    seconds = lambda item: item.get_closest_marker('long').kwargs['s']
    long = sorted((item for item in items if item.get_closest_marker('long')), key=seconds, reverse=True)
    short = [item for item in items if not item.get_closest_marker('long')]  # file order
    workers = getattr(config, 'workerinput', {}).get('workercount', 1)
    sizes, left = [], len(items)  # the shares worksteal sends: each idle worker len(pending) // workers left
    for k in range(workers):
        sizes.append(left // (workers - k))
        left -= sizes[-1]
    shares, work = [[] for _ in sizes], [0.0] * workers
    for item in long:  # longest first, to the share with the least work that still has room
        k = min((k for k in range(workers) if len(shares[k]) < sizes[k]), key=lambda k: work[k])
        shares[k].append(item)
        work[k] += seconds(item)
    for k in range(workers):
        need = sizes[k] - len(shares[k])
        shares[k] += short[:need]
        short = short[need:]
    items[:] = [item for share in shares for item in share]
