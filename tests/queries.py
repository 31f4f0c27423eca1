"""Counting the queries of every thread of this process (sockets read in threads of their own,
which CaptureQueriesContext does not see): for the tests' `all_queries` and the benchmarks."""

import threading


class QueryCounter:
    def __init__(self, setattr_=setattr):
        """setattr_: how to put the counting cursor methods in place (a test's monkeypatch.setattr
        takes them out again afterwards)."""
        from django.db.backends import utils as backend_utils

        self.count, self._lock = 0, threading.Lock()
        for name in ("execute", "executemany"):
            setattr_(backend_utils.CursorWrapper, name, self._counting(getattr(backend_utils.CursorWrapper, name)))

    def _counting(self, real):
        def counting(cursor, *args, **kwargs):
            with self._lock:
                self.count += 1
            return real(cursor, *args, **kwargs)

        return counting
