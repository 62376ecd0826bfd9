"""pytest glue: the long tests (marked `long` in test_all.py) start first, so that pytest-xdist's workers finish
together: the suite takes as long as its busiest worker, and a long test started last runs alone."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'long(order): a test of a minute or more (a whole pipeline); collected first, '
                                       'the longest (order=1) first')


def pytest_collection_modifyitems(items):
    def key(item):
        mark = item.get_closest_marker('long')
        return (0, mark.kwargs.get('order', 99)) if mark else (1, 0)
    items.sort(key=key)  # stable: file order for the rest
