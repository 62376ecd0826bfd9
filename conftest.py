"""pytest glue, so that `pytest -n auto` (pytest-xdist) keeps both workers busy to the end: the suite takes as long
as its busiest worker. The long tests (marked `long` in test_all.py) are collected first, the longest (order=1) first,
and a worker that runs out of tests takes queued ones from the other (xdist's 'worksteal' instead of 'load': with
'load', the tests queued behind the longest one waited for it while the other worker sat idle)."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'long(order): a test of a minute or more (a whole pipeline); collected first, '
                                       'the longest (order=1) first')
    if getattr(config.option, 'dist', None) == 'load':  # what -n sets; an explicit --dist=... is left alone
        config.option.dist = 'worksteal'


def pytest_collection_modifyitems(items):
    def key(item):
        mark = item.get_closest_marker('long')
        return (0, mark.kwargs.get('order', 99)) if mark else (1, 0)
    items.sort(key=key)  # stable: file order for the rest
