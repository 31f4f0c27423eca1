"""The fault tests' live servers (harness.py): one set for the whole package, made whole before each test.

On the PostgreSQL pass of tests/run.py the set runs on a PostgreSQL server of its own, which a test may
restart; on the SQLite pass, on a SQLite file.
"""

import pytest
from django.conf import settings

from tests.faults import harness


@pytest.fixture(scope="package")
def fault_servers(tmp_path_factory):
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    with harness.start_fault_servers(tmp_path_factory.mktemp("faults"), postgres=on_postgres) as servers:
        yield servers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing fault test shows the end of every process's log (the killed ones' too)."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    if report.failed and "fault_servers" in funcargs:
        report.sections.append(("fault servers' logs", funcargs["fault_servers"].live.logs()))
    if report.failed and "dispatching" in funcargs:
        report.sections.append(("celery worker and beat logs", funcargs["dispatching"].logs()))
    return report
