import threading

import pytest

from migrator import conf  # noqa: F401 - registers the options
from migrator.api import app as api_app
from migrator.api import wsgi
from tests.unit.api import fakes


@pytest.fixture
def cluster(db):
    """Three hosts; vm1 and vm2 on host1, vm3 on host2."""
    for name in ('host1', 'host2', 'host3'):
        fakes.add_host(db, name)
    fakes.add_instances(db, 'host1', 'vm1', 'vm2')
    fakes.add_instances(db, 'host2', 'vm3')
    return db


@pytest.fixture
def api_url(db, conductor):
    """The API, on a free port, served by build_server in a thread."""
    server = wsgi.build_server(api_app.setup_app(db=db, conductor_api=conductor),
                               '127.0.0.1', 0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.url
    server.close()
    thread.join(10)


@pytest.fixture(autouse=True)
def _reset_config():
    """main() parses the configuration; later tests must see the defaults again."""
    yield
    conf.CONF.clear()
