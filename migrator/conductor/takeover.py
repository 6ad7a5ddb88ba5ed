"""A conductor's liveness in the DB, and the adoption of work no live conductor drives.

Identity: one conductor per [DEFAULT] host name at a time. At start a conductor records a new
incarnation under its name (migrator.db.queries.conductors). It refuses to start while another
incarnation of the name is alive -- its heartbeat younger than [conductor] takeover_after --
unless that one ran on this machine and its process is gone (a conductor killed and started
again does not wait). A second conductor under the same name as a live one would otherwise
settle the other's work; the agents also address a conductor by that name.

Every [conductor] heartbeat_interval seconds the watchdog here:
- beats (a beat that finds another incarnation under our name stops this conductor's
  adoption: it has been replaced);
- adopts the migrations, drains and plans of dead conductors, and plans being applied
  that no conductor took (their apply message was lost), each by a compare-and-swap on
  (conductor, generation) so exactly one live conductor gets each;
- starts migrations and drains that stayed `accepted` longer than [conductor]
  accept_grace (their start message was lost), by the same compare-and-swap as the
  message would have (any conductor may take them).
"""

import datetime
import os
import socket
import threading
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import context, version
from migrator.common.timeutils import utcnow

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def process_alive(pid):
    """Whether a process with this id runs on this machine (signal 0 checks, sends none)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Liveness:
    """The conductor's incarnation, heartbeat and watchdog. `conductor` is the
    ConductorManager: adopt_migrations(), drains (DrainRunner), adopt_plan(), migrate()."""

    def __init__(self, db, conductor, name):
        self.db = db
        self.conductor = conductor
        self.name = name
        self.incarnation = str(uuid.uuid4())
        self.machine = socket.gethostname()
        self.replaced = threading.Event()
        self.registered = False
        self._stop = threading.Event()
        self._thread = None

    def register(self):
        """Record this incarnation; raises ConductorAlreadyRunning (see the module)."""
        current = self.db.conductor_get(self.name)
        dead = None
        if current is not None and current['machine'] == self.machine and \
                current['pid'] != os.getpid() and not process_alive(current['pid']):
            dead = current['incarnation']
        previous = self.db.conductor_register(
            self.name, self.incarnation, CONF.conductor.takeover_after,
            machine=self.machine, pid=os.getpid(), dead_incarnation=dead,
            version=version.version_string())
        self.registered = True
        LOG.info('Conductor %s started (incarnation %s%s)', self.name, self.incarnation,
                 f", after incarnation {previous['incarnation']}" if previous else '')
        return previous

    def start(self):
        self._thread = threading.Thread(target=self._watch, name='conductor-watchdog',
                                        daemon=True)
        self._thread.start()

    def stop(self, clean=True):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if clean and self.registered and not self.replaced.is_set():
            try:
                self.db.conductor_stopped(self.name, self.incarnation)
            except Exception:
                LOG.exception('Could not record the stop of conductor %s', self.name)

    def _watch(self):
        while not self._stop.wait(CONF.conductor.heartbeat_interval):
            try:
                self.tick()
            except Exception:
                LOG.exception('Conductor watchdog pass failed; trying again in %.1fs',
                              CONF.conductor.heartbeat_interval)

    def tick(self):
        """One pass: beat, adopt, start what was lost. Returns what was taken, by kind."""
        if not self.db.conductor_heartbeat(self.name, self.incarnation):
            if not self.replaced.is_set():
                LOG.error('Conductor %s (incarnation %s) has been replaced by another '
                          'incarnation under the same name: it adopts nothing any more, '
                          'and its transitions of work the other one took fail. Stop it.',
                          self.name, self.incarnation)
            self.replaced.set()
            return {}
        self.replaced.clear()
        takeover_after = CONF.conductor.takeover_after
        grace_cutoff = utcnow() - datetime.timedelta(seconds=CONF.conductor.accept_grace)
        taken = {
            'migrations': self.conductor.adopt_migrations(
                self.db.work_orphans('migration', takeover_after)),
            'drains': self.conductor.drains.adopt(
                self.db.work_orphans('drain', takeover_after)),
            'plans': [p['id'] for p in self.db.work_orphans(
                'plan', takeover_after, unowned_before=grace_cutoff)
                if self.conductor.adopt_plan(p)],
        }
        # Work whose start message was lost is still done for whoever asked for it.
        for migration in self.db.work_unstarted('migration', grace_cutoff):
            LOG.warning('Migration %s is accepted since %s: its start message was lost; '
                        'starting it here', migration['id'], migration['updated_at'])
            ctxt = context.from_record(migration)
            with context.acting_for(ctxt):
                self.conductor.migrate(ctxt, migration['id'])
        for drain in self.db.work_unstarted('drain', grace_cutoff):
            LOG.warning('Drain %s is accepted since %s: its start message was lost; '
                        'starting it here', drain['id'], drain['updated_at'])
            ctxt = context.from_record(drain)
            with context.acting_for(ctxt):
                self.conductor.drains.take(ctxt, drain['id'])
        return taken
