"""A short-lived cache of the API's read documents (GET of hosts, instances, migrations and
/v1), so a burst of identical reads costs one database read and one rendering per
[api] read_cache_ttl, not one per request (issue 15: GET /v1/hosts did 15-50 times less
than a hello-world application on the same server).

What keeps it correct:

- Freshness: an answer is at most [api] read_cache_ttl seconds older than the database,
  counted from the moment its request started reading. Every committed write transaction
  of this process's Database (the API's own writes, and in migrator-all the conductor's
  too) empties the cache at once; a write by another process (a conductor of its own) is
  seen within the TTL.
- A fill never outlives a write it may have missed: an answer is kept only if no write
  committed while it was being made (a generation number counts the writes).
- Identity: the key holds every identity header the authentication layer set (user,
  project, domains, roles, scope: all that oslo.policy sees of the caller), the path, the
  query string, the microversion header, Accept, and the scheme, host and path prefix links
  are built from. A reader and an admin, or two projects, never share an entry; only
  200 answers are kept, so a refusal is always decided afresh. A change to the policy file
  is seen when the entries made under the old one expire (within the TTL).
- Every answer has its own X-Openstack-Request-Id, and is logged like any other request,
  under that id and caller (migrator.api.access_log).
"""

import re
import threading
import time

from oslo_config import cfg

from migrator.api import access_log, auth
from migrator.common import context

CONF = cfg.CONF

# The read documents kept: the lists and single documents of hosts, instances and
# migrations, and the v1 document. Sub-resources (samples, observations, drains) are not.
CACHEABLE_PATH = re.compile(r'^/v1(?:/(?:hosts|instances|migrations)(?:/[^/]+)?)?/?$')
# Request headers the answer depends on besides identity (environ keys).
_VARY = ('HTTP_OPENSTACK_API_VERSION', 'HTTP_ACCEPT', 'SCRIPT_NAME', 'HTTP_HOST',
         'wsgi.url_scheme')
# What oslo.context reads of the caller besides the identity headers auth sets.
_IDENTITY = auth.IDENTITY_PREFIXES + ('HTTP_OPENSTACK_SYSTEM_SCOPE',)
_REQUEST_ID = 'x-openstack-request-id'
# A bound on memory: a key per path, query and caller; past it the cache starts over.
MAX_ENTRIES = 4096
# Seconds a request waits for the same request in progress to make its answer before it
# reads for itself.
FILL_WAIT = 30.0


class _Entry:
    __slots__ = ('expires', 'status', 'headers', 'body')

    def __init__(self, expires, status, headers, body):
        self.expires = expires
        self.status = status
        self.headers = headers
        self.body = body


class ReadCache:
    """WSGI layer between the authentication layer (whose identity headers it keys on) and
    the application."""

    def __init__(self, app, db=None, clock=time.monotonic):
        self.app = app
        self.clock = clock
        self._entries = {}
        self._generation = 0
        self._filling = {}    # key -> Event set when the request making its answer ends
        self._lock = threading.Lock()
        if db is not None and hasattr(db, 'add_write_listener'):
            db.add_write_listener(self.invalidate, key=('read_cache', id(self)))

    def invalidate(self):
        """Forget every answer, and refuse the fills of requests that started before."""
        with self._lock:
            self._generation += 1
            self._entries = {}

    def __len__(self):
        return len(self._entries)

    @staticmethod
    def key(environ):
        """What the answer depends on, or None when it is not to be cached."""
        if environ.get('REQUEST_METHOD') != 'GET':
            return None
        path = environ.get('PATH_INFO', '')
        if not CACHEABLE_PATH.match(path):
            return None
        if environ.get('CONTENT_LENGTH') or environ.get('HTTP_TRANSFER_ENCODING'):
            return None
        identity = tuple(sorted((k, v) for k, v in environ.items()
                                if k.startswith(_IDENTITY)))
        return (path, environ.get('QUERY_STRING', ''),
                tuple(environ.get(k) for k in _VARY), identity)

    def __call__(self, environ, start_response):
        method = environ.get('REQUEST_METHOD')
        ttl = CONF.api.read_cache_ttl
        if method not in ('GET', 'HEAD', 'OPTIONS'):
            # A write through this API: its own commit empties the cache (write listener),
            # and so does its end, for a Database without listeners (tests' fakes).
            try:
                return self.app(environ, start_response)
            finally:
                self.invalidate()
        key = self.key(environ) if ttl > 0 else None
        if key is None:
            return self.app(environ, start_response)
        started = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires > started:
            return self._answer(environ, start_response, entry, started, key)
        # One request makes the answer; the same requests arriving meanwhile wait for it
        # instead of each reading and rendering it too (at expiry, all [api] threads would).
        with self._lock:
            filling = self._filling.get(key)
            if filling is None:
                self._filling[key] = threading.Event()
        if filling is not None:
            filling.wait(FILL_WAIT)
            entry = self._entries.get(key)
            if entry is not None and entry.expires > started:
                return self._answer(environ, start_response, entry, started, key)
            return self.app(environ, start_response)   # not kept (an error, a write)
        try:
            return self._fill(environ, start_response, key, started, ttl)
        finally:
            with self._lock:
                self._filling.pop(key).set()

    def _answer(self, environ, start_response, entry, started, key):
        req_id = environ.get('openstack.request_id')
        headers = [(name, req_id if name.lower() == _REQUEST_ID and req_id else value)
                   for name, value in entry.headers]
        start_response(entry.status, headers)
        if access_log.enabled():
            self._log(environ, entry, started, key[3])
        return [entry.body]

    def _log(self, environ, entry, started, identity):
        # The context is made in the access log's writer thread, from the identity
        # headers the key holds: a request thread's time is the cache's to save.
        ids = {'request_id': environ.get('openstack.request_id'),
               'global_request_id': environ.get('openstack.global_request_id')}
        access_log.log(None, '%s "%s %s%s" status %s len %s time %.3f (cached)',
                       environ.get('REMOTE_ADDR'), 'GET', environ.get('PATH_INFO', ''),
                       '?' + environ['QUERY_STRING'] if environ.get('QUERY_STRING') else '',
                       entry.status.split(' ', 1)[0], len(entry.body), self.clock() - started,
                       make_context=lambda: context.from_environ(dict(identity), **ids))

    def _fill(self, environ, start_response, key, started, ttl):
        generation = self._generation
        seen = {}

        def start(status, headers, exc_info=None):
            seen['status'] = status
            seen['headers'] = list(headers)
            seen['exc_info'] = exc_info
            return start_response(status, headers, exc_info)

        chunks = self.app(environ, start)
        try:
            body = b''.join(chunks)
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()
        if seen.get('status', '').startswith('200') and seen.get('exc_info') is None:
            entry = _Entry(started + ttl, seen['status'], seen['headers'], body)
            with self._lock:
                if self._generation == generation:
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries = {}
                    self._entries[key] = entry
        return [body]


def wrap(app, db=None):
    return ReadCache(app, db)
