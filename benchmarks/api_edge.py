"""What the API edge costs per request: the same requests through the whole application
(request id, CORS, http_proxy_to_wsgi, sizelimit, the trusted-host, JSON-only and fault
layers; the read cache off) and, as the baseline in the same process, through the bare pecan
application, taking turns request by request, on a real SQLite database in a temporary
directory; median and p99 per request and the ratio.

- GET /v1 (no database), GET /v1/hosts?limit=50 of 200 hosts (a page), and a POST whose body
  is refused by the JSON schema (the body checks run on both paths, pecan's parse too).

    .venv/bin/python -m benchmarks.api_edge [-n 2000]
"""

import argparse
import json
import statistics
import tempfile
import time

import pecan
from oslo_config import cfg
from webob import Request

from migrator import conf  # noqa: F401 - registers the options
from migrator.api import app as api_app
from migrator.api import hooks
from migrator.api.controllers import root
from migrator.db import api as db_api
from tests.unit.api import fakes

CONF = cfg.CONF


def bare_app(db, conductor):
    """setup_app without the WSGI layers around pecan."""
    return pecan.make_app(root.RootController(),
                          hooks=[hooks.ContextHook(), hooks.ResourcesHook(db, conductor),
                                 hooks.ErrorHook()],
                          debug=False, force_canonical=False, guess_content_type_from_ext=False)


def once(app, method, path, body):
    req = Request.blank(path, method=method)
    if body is not None:
        req.body = body
        req.content_type = 'application/json'
    start = time.perf_counter()
    resp = req.get_response(app)
    elapsed = time.perf_counter() - start
    assert resp.status_int < 500, resp.text
    return elapsed


def timed(apps, method, path, body, n):
    """(p50, p99) per app; the apps take turns, so load from elsewhere hits both alike."""
    samples = [[] for _ in apps]
    for _ in range(n):
        for i, app in enumerate(apps):
            samples[i].append(once(app, method, path, body))
    result = []
    for s in samples:
        s.sort()
        result.append((statistics.median(s), s[max(0, int(len(s) * 0.99) - 1)]))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=2000, help='requests per case')
    args = parser.parse_args(argv)
    # The layers are measured, not the read cache: every GET goes to pecan on both paths.
    CONF.set_override('read_cache_ttl', 0.0, 'api')
    with tempfile.TemporaryDirectory() as tmp:
        db = db_api.Database(f'sqlite:///{tmp}/bench.sqlite')
        db.sync()
        for i in range(200):
            fakes.add_host(db, f'host{i:03d}')
        conductor = fakes.FakeConductor()
        full = api_app.setup_app(db=db, conductor_api=conductor)
        bare = bare_app(db, conductor)
        refused = json.dumps({'instance': 'vm1', 'priority': 1000}).encode()
        cases = [('GET /v1', 'GET', '/v1', None),
                 ('GET /v1/hosts?limit=50', 'GET', '/v1/hosts?limit=50', None),
                 ('POST /v1/migrations (400)', 'POST', '/v1/migrations', refused)]
        print(f'{"request":28} {"edge p50 ms":>12} {"bare p50 ms":>12} {"ratio":>6} '
              f'{"edge p99 ms":>12} {"bare p99 ms":>12}')
        for name, method, path, body in cases:
            timed([full, bare], method, path, body, 200)   # warm-up
            (edge_p50, edge_p99), (bare_p50, bare_p99) = timed([full, bare], method, path,
                                                               body, args.n)
            print(f'{name:28} {edge_p50 * 1e3:12.3f} {bare_p50 * 1e3:12.3f} '
                  f'{edge_p50 / bare_p50:6.2f} {edge_p99 * 1e3:12.3f} {bare_p99 * 1e3:12.3f}')
        db.dispose()


if __name__ == '__main__':
    main()
