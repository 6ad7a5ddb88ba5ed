"""How many bare-libvirt live migrations a sandbox guest survives, by what is done to the
job while it runs. No migrator service is involved: this tells QEMU's own losses of guest
memory (QEMU before 9.0 under TCG, see tests/functional/faults/guest_health.py) apart from
ours.

Each mode gets a fresh guest (256 MiB, shared disk) on a private two-host sandbox and
migrates it back and forth, peer to peer with the agent's flags, until --count migrations or
until its kernel reports trouble on its console (checked after each migration, once the
guest ticked again). Modes, all but `held` and `cut` started at full speed:

  plain     nothing done to the job
  touch     mid-job migrateSetMaxSpeed/migrateSetMaxDowntime with values that change nothing
  speed     1 MiB/s from the start (as the fault suite's crawl), unlimited again mid-job
  downtime  the allowed downtime stepped 50 -> 500 ms, one step per memory iteration (as the
            agent does with the default live_migration_downtime and _steps)
  held      --held-speed MiB/s (default 12) set before the job and never changed: a slow
            job with many memory iterations (as the fault suite once held its live jobs)
  cut       as held, and the migration network between the hosts cut for CUT_S s once
            the job copies memory (as the fault suite's network_cut): the job stalls, then
            resumes

Prints one row per mode: migrations run, the migration after which trouble showed (or -),
median seconds per migration, and the first trouble line. A guest that stops ticking for
TICK_TIMEOUT s after a migration is trouble too (its kernel may say why only minutes later:
"task ... blocked for more than 120 seconds").

  MIGRATOR_SANDBOX_NET=127.0.21 python -m benchmarks.tcg_migration_soak --count 40
"""

import argparse
import os
import random
import statistics
import tempfile
import threading
import time

import libvirt

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import faults, probe
from tests.functional.faults import guest_health

MODES = ('plain', 'touch', 'speed', 'downtime', 'held', 'cut')
FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
         | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
         | libvirt.VIR_MIGRATE_UNSAFE)
CRAWL_MIB_S, UNLIMITED_MIB_S = 1, 1 << 20
HELD_MIB_S = 12
CUT_S = 10
DOWNTIME_STEPS_MS = [50 * i for i in range(1, 11)]
DEFAULT_DOWNTIME_MS = 300     # QEMU's own default: what `touch` sets again
TICK_TIMEOUT = 60


class Steer(threading.Thread):
    """Does the mode's changes to the job from a connection of its own (on the job's own
    connection migrateSetMaxSpeed was seen to block until the job ended)."""

    def __init__(self, uri, name, mode, rng, held_speed=HELD_MIB_S, addresses=()):
        super().__init__(daemon=True)
        self.addresses = addresses
        self.conn = libvirt.open(uri)
        self.dom = self.conn.lookupByName(name)
        self.mode, self.rng = mode, rng
        self.done = threading.Event()
        self.dom.migrateSetMaxSpeed({'speed': CRAWL_MIB_S, 'held': held_speed,
                                     'cut': held_speed}.get(
            mode, UNLIMITED_MIB_S), 0)

    def run(self):
        act_at = None
        acted = self.mode in ('plain', 'downtime', 'held')
        seen = None
        step = 0
        while not self.done.wait(0.1):
            try:
                stats = self.dom.jobStats(0)
            except libvirt.libvirtError:
                continue            # the job is not there yet, or just left
            if not stats.get('memory_total'):
                continue
            if not acted:
                if act_at is None:
                    act_at = time.monotonic() + self.rng.uniform(0.3, 3.0)
                elif time.monotonic() >= act_at:
                    acted = self._act()
            if self.mode == 'downtime':
                seen, step = self._step(stats.get('memory_iteration'), seen, step)

    def _act(self):
        if self.mode == 'cut':
            with faults.MigrationNetworkCut(self.addresses):
                self.done.wait(CUT_S)
            return True
        try:
            self.dom.migrateSetMaxSpeed(UNLIMITED_MIB_S, 0)
            if self.mode == 'touch':
                self.dom.migrateSetMaxDowntime(DEFAULT_DOWNTIME_MS, 0)
        except libvirt.libvirtError:
            pass                    # the job ended meanwhile
        return True

    def _step(self, iteration, seen, step):
        if iteration is None or iteration == seen:
            return seen, step
        if seen is not None:
            step = min(len(DOWNTIME_STEPS_MS) - 1, step + iteration - seen)
        try:
            self.dom.migrateSetMaxDowntime(DOWNTIME_STEPS_MS[step], 0)
        except libvirt.libvirtError:
            pass
        return iteration, step

    def stop(self):
        self.done.set()
        self.join()
        self.conn.close()


def soak(cluster, mode, count, seed, out, held_speed=HELD_MIB_S):
    """Migrates one fresh guest up to `count` times in `mode`; fills out[mode]."""
    rng = random.Random(seed)
    host_uris = {h['name']: h['uri'] for h in cluster['hosts']}
    record = cluster_mod.add_guest(state_dir=cluster['state_dir'], disks='shared')
    name, console = record['name'], record['console_log']
    row = out[mode] = {'guest': name, 'run': 0, 'trouble_after': None, 'seconds': [],
                       'trouble': None}
    conns = {h: libvirt.open(uri) for h, uri in host_uris.items()}
    try:
        for number in range(1, count + 1):
            hosts = probe.where(name, cluster=cluster)
            if len(hosts) != 1:
                row['trouble'] = f'runs on {hosts}'
                return
            source = hosts[0]
            target = next(h for h in host_uris if h != source)
            mark = guest_health.console_mark(console)
            steer = Steer(host_uris[source], name, mode, rng, held_speed,
                          [h['address'] for h in cluster['hosts']])
            steer.start()
            started = time.monotonic()
            try:
                conns[source].lookupByName(name).migrateToURI3(host_uris[target], {}, FLAGS)
            except libvirt.libvirtError as exc:
                row['trouble'] = f'migration {number} failed: {exc}'
                return
            finally:
                steer.stop()
            row['seconds'].append(time.monotonic() - started)
            row['run'] = number
            ticked = _wait_tick(console, mark)
            trouble = guest_health.trouble_since(console, mark)
            if not ticked:
                trouble.append(f'stopped ticking (no tick within {TICK_TIMEOUT} s)')
            if trouble:
                row['trouble_after'], row['trouble'] = number, trouble[0]
                return
    finally:
        for conn in conns.values():
            conn.close()


def _wait_tick(console, mark):
    deadline = time.monotonic() + TICK_TIMEOUT
    while time.monotonic() < deadline:
        with open(console, 'rb') as f:
            f.seek(mark)
            if len(probe.TICK_RE.findall(f.read())) >= 2:
                return True
        time.sleep(0.5)
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--count', type=int, default=40, help='migrations per mode')
    parser.add_argument('--modes', default=','.join(MODES),
                        help=f'comma-separated, of {", ".join(MODES)}')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--held-speed', type=int, default=HELD_MIB_S,
                        help=f'MiB/s of the held mode (default {HELD_MIB_S})')
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(',') if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f'unknown modes {sorted(unknown)}; choose from {", ".join(MODES)}')
    if not os.environ.get('MIGRATOR_SANDBOX_NET'):
        parser.error('set MIGRATOR_SANDBOX_NET to a free 127.0.x net for the sandbox')
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)   # lookups miss on purpose
    state_dir = tempfile.mkdtemp(prefix='tcg-soak-', dir='/var/tmp')
    out = {}
    try:
        cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
        cluster = cluster_mod.load(state_dir)
        threads = [threading.Thread(target=soak, args=(cluster, mode, args.count,
                                                       args.seed + i, out, args.held_speed))
                   for i, mode in enumerate(modes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        cluster_mod.down(state_dir)
    print(f'{"mode":<9} {"run":>4} {"trouble after":>13} {"median s":>8}  first trouble')
    for mode in modes:
        row = out.get(mode, {})
        seconds = row.get('seconds') or [0.0]
        print(f'{mode:<9} {row.get("run", 0):>4} {row.get("trouble_after") or "-":>13} '
              f'{statistics.median(seconds):>8.1f}  {(row.get("trouble") or "")[:160]}')


if __name__ == '__main__':
    main()
