"""The API's access log (migrator.api.access_log): a line per request, under the request's
own id and caller, under one logger an operator can turn off."""

import logging
import threading
import time

import pytest

from migrator.api import access_log, read_cache
from migrator.common import context
from tests.unit.api.test_read_cache import Clock, Counting, get


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger('migrator.api.access')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
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
    assert access_log.flush()

    assert second.headers['X-Openstack-Request-Id'] == \
        'req-00000000-0000-4000-8000-000000000002'
    cached = [r for r in records.records if '(cached)' in r.getMessage()]
    assert len(cached) == 1
    assert cached[0].context.request_id == 'req-00000000-0000-4000-8000-000000000002'
    assert cached[0].context.user_name == 'noauth'
    assert '"GET /v1/hosts" status 200' in cached[0].getMessage()
    assert first.status_int == 200


def test_the_lines_can_be_turned_off_with_their_logger(config, records):
    config('api', read_cache_ttl=30.0)
    logging.getLogger('migrator.api.access').setLevel(logging.WARNING)
    cache = read_cache.ReadCache(Counting(), clock=Clock())
    assert get(cache).status_int == 200
    assert get(cache).status_int == 200   # the cached answer
    assert access_log.flush()
    assert records.records == []


def test_lines_are_written_in_order_with_their_request_s_time_and_thread(records):
    before = time.time()
    for i in range(3 * access_log._BATCH + 7):
        access_log.log(None, 'line %d', i)
    after = time.time()
    assert access_log.flush()

    lines = [r for r in records.records if r.getMessage().startswith('line ')]
    assert [r.getMessage() for r in lines] == [f'line {i}' for i in range(len(lines))]
    assert len(lines) == 3 * access_log._BATCH + 7
    assert all(before <= r.created <= after for r in lines)
    assert {r.threadName for r in lines} == {threading.current_thread().name}


def test_a_context_that_cannot_be_made_leaves_the_line_without_a_caller(records):
    def broken():
        raise KeyError('HTTP_X_USER_ID')

    access_log.log(None, 'lonely line', make_context=broken)
    access_log.log(None, 'next line')
    assert access_log.flush()

    got = {r.getMessage(): r for r in records.records}
    assert got['lonely line'].context is None
    assert 'next line' in got
