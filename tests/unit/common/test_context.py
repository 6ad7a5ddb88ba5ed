"""The request context: from the auth middleware's environ, over RPC, as a thread's current
context (which the DB records and oslo.log prints)."""

import logging
import threading

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import formatters, log

from migrator.common import context, rpc

ENVIRON = {
    'HTTP_X_IDENTITY_STATUS': 'Confirmed', 'HTTP_X_USER_ID': 'u-1', 'HTTP_X_USER_NAME': 'alice',
    'HTTP_X_PROJECT_ID': 'p-1', 'HTTP_X_PROJECT_NAME': 'ops', 'HTTP_X_ROLES': 'reader, member',
}
GLOBAL_ID = 'req-0123abcd-1234-4234-9234-123456789abc'


def in_thread(fn):
    """Runs fn in a new thread (no current context yet) and returns its result."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault('value', fn()))
    thread.start()
    thread.join(30)
    return result['value']


def test_identity_headers_make_the_caller_who_they_say():
    ctxt = context.from_environ(ENVIRON, global_request_id=GLOBAL_ID)
    assert (ctxt.user_id, ctxt.user_name, ctxt.project_id, ctxt.project_name) == (
        'u-1', 'alice', 'p-1', 'ops')
    assert ctxt.roles == ['reader', 'member']
    assert not ctxt.is_admin and ctxt.authenticated
    assert ctxt.global_request_id == GLOBAL_ID
    assert ctxt.request_id.startswith('req-') and ctxt.request_id != GLOBAL_ID


def test_no_identity_is_the_noauth_admin():
    ctxt = context.from_environ({'REMOTE_ADDR': '127.0.0.1'}, request_id='req-local')
    assert ctxt.is_admin and ctxt.user_name == 'noauth' and 'admin' in ctxt.roles
    assert ctxt.request_id == 'req-local' and ctxt.global_request_id is None


def test_an_invalid_token_is_not_authenticated():
    ctxt = context.from_environ(dict(ENVIRON, HTTP_X_IDENTITY_STATUS='Invalid'))
    assert not ctxt.authenticated


def test_the_requester_travels_over_rpc():
    serializer = rpc.ContextSerializer()
    sent = context.from_environ(ENVIRON, global_request_id=GLOBAL_ID)
    received = in_thread(lambda: serializer.deserialize_context(
        serializer.serialize_context(sent)))
    assert context.requester(received) == context.requester(sent)
    assert received.roles == sent.roles


def test_acting_for_makes_the_context_current_then_restores_none():
    def work():
        ctxt = context.from_record({'user_id': 'u-9', 'request_id': 'req-r'})
        seen_before = oslo_context.get_current()
        with context.acting_for(ctxt):
            inside = context.requester()
        return seen_before, inside, oslo_context.get_current()
    before, inside, after = in_thread(work)
    assert before is None and after is None
    assert inside['user_id'] == 'u-9' and inside['request_id'] == 'req-r'


def test_log_lines_written_for_a_context_carry_its_request_ids():
    """What the services' log lines look like with oslo.log's default context format."""
    ctxt = context.from_record({'request_id': 'req-local-1', 'global_request_id': GLOBAL_ID,
                                'user_id': 'u-1'})
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    formatter = formatters.ContextFormatter(config=conf)

    def format_line():
        with context.acting_for(ctxt):
            record = logging.LogRecord('migrator.test', logging.INFO, __file__, 1,
                                       'Starting live migration %s', ('m-1',), None)
            return formatter.format(record)
    line = in_thread(format_line)
    assert f'[{GLOBAL_ID} req-local-1 u-1' in line, line
    assert 'Starting live migration m-1' in line
