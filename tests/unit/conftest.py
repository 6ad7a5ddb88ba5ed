import pytest

from migrator import conf  # noqa: F401 - registers the options
from migrator.db import api as db_api


@pytest.fixture
def db(tmp_path):
    """A synced SQLite database of the test's own (tests/unit/db tests every backend)."""
    database = db_api.Database(f'sqlite:///{tmp_path}/unit.sqlite')
    database.sync()
    return database


@pytest.fixture
def conductor():
    from tests.unit.api import fakes
    fake = fakes.FakeConductor()
    yield fake
    fake.join()
