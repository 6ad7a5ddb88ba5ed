"""The agent's libvirt connection, which reopens itself when libvirtd goes away.

A virConnect to a daemon that stopped stays dead: every call on it fails, and events stop.
libvirt says so through the close callback (registerCloseCallback: the daemon closed the
socket, or keep-alives went unanswered for 5 x 3 s). Then, in the dispatch thread (never the
event loop itself):

- the connection is dropped and on_lost(reason) tells the agent, which reports its host down
  (the scheduler stops choosing it) and stops its heartbeats;
- a reconnect thread opens a new connection with backoff ([libvirt] reconnect_interval
  doubling up to reconnect_interval_max), until the daemon answers again;
- on_open(conn) sets the new connection up (event callbacks, re-attaching migration jobs),
  and only then is the connection handed out again and on_restored() called, upon which the
  agent reports its host at once.

Callers ask for the connection with get(): while it is down they wait up to [libvirt]
reconnect_wait seconds for it (a libvirtd restart is ~30 s of exit and a few of start), then
get a HypervisorError that says the daemon is not reachable.
"""

import threading
import time

import libvirt
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt.libvirt import events

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: 'connection error',
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: 'the daemon closed the connection',
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: 'keep-alive timeout',
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: 'closed by the client',
}


class HypervisorConnection:
    def __init__(self, uri, host, on_open, on_lost=None, on_restored=None):
        self.uri = uri
        self.host = host
        self.on_open = on_open
        self.on_lost = on_lost
        self.on_restored = on_restored
        self._conn = None
        self._up = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reconnecting = False
        self.lost_at = None           # monotonic time the connection was lost, while it is

    def open(self):
        """The first connection; raises HypervisorError when the daemon does not answer."""
        conn = self._connect()
        self.on_open(conn)
        with self._lock:
            self._conn = conn
            self._up.set()

    def close(self):
        self._stopping.set()
        with self._lock:
            conn, self._conn = self._conn, None
            self._up.clear()
        if conn is not None:
            _quietly(conn.unregisterCloseCallback)
            _quietly(conn.close)

    @property
    def connected(self):
        return self._up.is_set()

    def get(self, wait=None):
        """The open connection; waits up to `wait` seconds ([libvirt] reconnect_wait when
        None) while it is being reopened."""
        wait = CONF.libvirt.reconnect_wait if wait is None else wait
        if not self._up.wait(wait):
            lost_at = self.lost_at
            since = (f'lost {time.monotonic() - lost_at:.0f}s ago; reconnecting'
                     if lost_at is not None else 'not connected')
            raise exceptions.HypervisorError(
                host=self.host, reason=f'libvirtd at {self.uri} is not reachable ({since})')
        with self._lock:
            if self._conn is None:      # lost again just now
                raise exceptions.HypervisorError(
                    host=self.host, reason=f'libvirtd at {self.uri} is not reachable')
            return self._conn

    # -- internals --------------------------------------------------------------------------

    def _connect(self):
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise exceptions.HypervisorError(
                host=self.host, reason=f'cannot connect to {self.uri}: '
                                       f'{exc.get_error_message()}') from exc
        try:
            # Keep-alives let the event loop notice a daemon that hangs or vanished without
            # closing the socket; the close callback then fires.
            conn.setKeepAlive(5, 3)
            conn.registerCloseCallback(self._closed, None)
        except libvirt.libvirtError:
            _quietly(conn.close)
            raise
        return conn

    def _closed(self, conn, reason, _opaque):
        # The event-loop thread: hand off, never wait here.
        events.dispatch(self._lost, conn, _CLOSE_REASONS.get(reason, f'reason {reason}'))

    def _lost(self, conn, reason):
        with self._lock:
            if self._conn is not conn or self._stopping.is_set():
                return          # an older connection, or we are closing it ourselves
            self._conn = None
            self._up.clear()
            self.lost_at = time.monotonic()
            start = not self._reconnecting
            self._reconnecting = True
        LOG.warning('Lost the connection to libvirtd at %s (%s); reconnecting', self.uri,
                    reason)
        _quietly(conn.unregisterCloseCallback)
        _quietly(conn.close)
        if self.on_lost is not None:
            try:
                self.on_lost(reason)
            except Exception:
                LOG.exception('Reporting the lost connection to %s failed', self.uri)
        if start:
            threading.Thread(target=self._reconnect, name=f'libvirt-reconnect-{self.host}',
                             daemon=True).start()

    def _reconnect(self):
        delay = CONF.libvirt.reconnect_interval
        attempts = 0
        while not self._stopping.is_set():
            attempts += 1
            conn = None
            try:
                conn = self._connect()
                self.on_open(conn)
                if not conn.isAlive():
                    raise exceptions.HypervisorError(host=self.host,
                                                     reason='closed again at once')
            except Exception as exc:
                if conn is not None:
                    _quietly(conn.unregisterCloseCallback)
                    _quietly(conn.close)
                if attempts == 1 or attempts % 20 == 0:
                    LOG.info('libvirtd at %s not back yet (%s); trying again every %.1fs '
                             'at most', self.uri, exc, CONF.libvirt.reconnect_interval_max)
                self._stopping.wait(delay)
                delay = min(delay * 2, CONF.libvirt.reconnect_interval_max)
                continue
            with self._lock:
                self._conn = conn
                self._reconnecting = False
                self._up.set()
                lost_for = time.monotonic() - (self.lost_at or time.monotonic())
                self.lost_at = None
            LOG.info('Reconnected to libvirtd at %s after %.1fs (%d attempts)', self.uri,
                     lost_for, attempts)
            if self.on_restored is not None:
                try:
                    self.on_restored()
                except Exception:
                    LOG.exception('Reporting the restored connection to %s failed', self.uri)
            return


def _quietly(call):
    try:
        call()
    except libvirt.libvirtError:
        pass
