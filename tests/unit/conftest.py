import pytest
from oslo_config import cfg

from migrator import conf  # noqa: F401 - registers the options
from migrator.conf import CONF
from migrator.db import api as db_api


@pytest.fixture(autouse=True)
def parsed_config():
    """The options parsed, from no file, as a service parses them at start (oslo.policy
    looks its policy file up in the config directories, which needs a parsed CONF; the CLI
    tests parse and clear it themselves)."""
    try:
        CONF.find_file('policy.yaml')
    except cfg.NotInitializedError:
        CONF([], project='migrator', default_config_files=[], default_config_dirs=[])


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


@pytest.fixture
def config():
    """Sets options for one test, undone after it: config(name=value, group='libvirt')."""
    overridden = []

    def override(group=None, **values):
        for name, value in values.items():
            CONF.set_override(name, value, group=group)
            overridden.append((name, group))
    yield override
    for name, group in overridden:
        CONF.clear_override(name, group=group)
