"""The API's access log (migrator.api.access_log): a line per request, under the request's
own id and caller, in order, none dropped, written by a thread of its own."""

import logging
import threading

import pytest

from migrator.api import access_log, read_cache
from migrator.common import context
from tests.unit.api.test_read_cache import Clock, Counting, get


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []
        self.threads = []

    def emit(self, record):
        self.records.append(record)
        self.threads.append(threading.current_thread().name)


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger('migrator.api.access')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    access_log.flush()
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_cached_answer_is_logged_under_its_own_request_id(config, records):
    config('api', read_cache_ttl=30.0)
    cache = read_cache.ReadCache(Counting(), clock=Clock())
    first = get(cache, request_id='req-00000000-0000-4000-8000-000000000001')
    # The thread's current context is another request's: the line must not take it.
    context.from_environ({}, request_id='req-00000000-0000-4000-8000-0000000000ff') \
        .update_store()
    second = get(cache, request_id='req-00000000-0000-4000-8000-000000000002')
    access_log.flush()

    assert second.headers['X-Openstack-Request-Id'] == \
        'req-00000000-0000-4000-8000-000000000002'
    cached = [r for r in records.records if '(cached)' in r.getMessage()]
    assert len(cached) == 1
    assert cached[0].context.request_id == 'req-00000000-0000-4000-8000-000000000002'
    assert cached[0].context.user_name == 'noauth'
    assert '"GET /v1/hosts" status 200' in cached[0].getMessage()
    assert first.status_int == 200


def test_lines_are_written_in_order_by_the_writer_thread(records):
    log = access_log.AccessLog(logging.getLogger('migrator.api.access'))
    for n in range(500):
        log.log(None, 'line %d', n)
    log.flush()
    assert [r.getMessage() for r in records.records] == [f'line {n}' for n in range(500)]
    assert set(records.threads) == {'api-access-log'}


def test_past_the_backlog_bound_the_request_thread_writes_its_own_line(records):
    log = access_log.AccessLog(logging.getLogger('migrator.api.access'), max_pending=0)
    log.log(None, 'now %s', 'please')
    # Written before log() returned, by this thread: nothing is dropped or left waiting.
    assert [r.getMessage() for r in records.records] == ['now please']
    assert records.threads == [threading.current_thread().name]
    log.flush()


def test_nothing_is_queued_when_info_is_off(records):
    logging.getLogger('migrator.api.access').setLevel(logging.WARNING)
    log = access_log.AccessLog(logging.getLogger('migrator.api.access'))
    log.log(None, 'not wanted')
    log.flush()
    assert records.records == []
    assert log._writer is None
