"""Serving the API with waitress, in a way that can be stopped from another thread or a
signal handler (migrator-api, migrator-all and the tests all need that)."""

import socket
import threading

from oslo_log import log as logging
from waitress import server as waitress_server
from waitress import wasyncore

from migrator.api import errors

LOG = logging.getLogger(__name__)


def server_name(host):
    """SERVER_NAME of the requests: the address bound to, the machine's name for a wildcard
    one. Links are built from it unless [api] public_endpoint is set (middleware.TrustedHost),
    never from the client's Host header."""
    if host in ('', '0.0.0.0', '::', '[::]'):
        return socket.getfqdn()
    return host


class APIServer:
    """A waitress server: run() serves until close() is called (from any thread)."""

    def __init__(self, app, host, port, threads=8):
        self._map = {}
        self._server = waitress_server.create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident='migrator-api',
            max_request_body_size=errors.max_request_body(), server_name=server_name(host))
        self.host = self._server.effective_host
        self.port = int(self._server.effective_port)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.RLock()  # close() may run in a signal handler
        self._running_in = None
        self._closed = False

    @property
    def url(self):
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}'

    def run(self):
        """Serves until close(); returns then. Call it once."""
        with self._lock:
            if self._closed or self._stop.is_set():
                return
            self._running_in = threading.get_ident()
        try:
            timeout = self._server.adj.asyncore_loop_timeout
            while self._map and not self._stop.is_set():
                wasyncore.loop(timeout=timeout, map=self._map, count=1)
        finally:
            self._shutdown()
            self._done.set()

    def close(self, timeout=10):
        """Stops serving: no new connections, requests in progress get a few seconds to
        finish. Safe to call more than once, from any thread or from a signal handler of
        the thread that runs run()."""
        with self._lock:
            self._stop.set()
            running_in = self._running_in
        if running_in is None:
            self._shutdown()
            return
        if running_in == threading.get_ident():
            return  # a signal handler: the loop sees the flag within asyncore_loop_timeout
        try:
            self._server.pull_trigger()  # wakes the loop now instead of after its timeout
        except OSError:
            pass
        self._done.wait(timeout)

    def _shutdown(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map)


def build_server(app, host, port, threads=8):
    """A server for `app` listening on host:port (port 0 picks a free one: see .port).

    server.run() serves until server.close(); both are meant to run in different threads,
    or close() in a signal handler.
    """
    server = APIServer(app, host, port, threads)
    LOG.debug('migrator-api bound to %s', server.url)
    return server
