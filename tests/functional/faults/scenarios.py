"""The fault matrix: one fault injected at one point of one kind of migration, then the
checks every scenario must pass once the fault has cleared (within SETTLE_BOUND):

- the migration is terminal (else: stuck);
- the guest runs on exactly one host (else: lost, or running twice) and its console ticks;
- `migrator-manage audit` finds nothing, and no slot or claim is held.

Kinds: live (shared storage), block (block live migration of a local disk), cold.
Points: preparing and finishing are held with a failpoint (the conductor pauses right after
the transition until the fault is in place); running (copying, for cold) with a slow job:
live and block jobs start at a held speed (HOLD_MIB_S) and keep it to their end, cold copies
run at the agents' disk_copy_bandwidth. A block migration is faulted while it copies the disk
(libvirt's NBD mirror), a live one while it copies memory. Nothing about a job is changed
while it runs: on QEMU 7.2 under TCG a speed change mid-job is what damages guests (see
guest_health).
"""

import dataclasses
import os
import time

from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import faults, probe
from tests.functional.faults import guest_health
from tests.functional.service import processes

KINDS = ('live', 'block', 'cold')
POINTS = ('preparing', 'running', 'finishing')
SETTLE_BOUND = 60          # seconds after the fault clears (the target)
TERMINAL = ('completed', 'failed', 'cancelled', 'error')
UNLIMITED_MIB_S = 1 << 20
# The speed a live or block job is held at when the fault strikes while it runs, from its
# start to its end: slow enough that the job runs for seconds, fast enough that its memory
# phase takes few iterations (each one a chance for QEMU 7.2's TCG dirty-bitmap bug to lose
# a guest write: at 12 MiB/s a sandbox guest hung once in 11 live runs). A live job lasts
# about 4 s at this speed; a block job's disk copy counts the whole 1 GiB disk, zeroes
# included (about 20 s), before its memory phase.
HOLD_MIB_S = {'live': 24, 'block': 48}
OUTAGE_S = 5               # how long a broker or database stays down
NET_CUT_S = 10
GUEST_TICK_TIMEOUT = 240   # seconds for the guest's console to tick once it settled


@dataclasses.dataclass
class Run:
    """What a scenario did: the scenario, the outcome, and what the checks found."""
    scenario: str
    migration: dict = None
    migration_id: str = None
    # completed|failed|cancelled|error|stuck|lost|running_twice, or not_run when the
    # scenario could not even start (its problems say why)
    outcome: str = None
    settle_s: float = None    # from the fault's end to the migration's end
    problems: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.problems


class Scenario:
    def __init__(self, fault, kind, point):
        self.fault, self.kind, self.point = fault, kind, point
        self.name = f'{fault.name}@{kind}/{point}'

    def __repr__(self):
        return self.name


# -- the faults: inject(dep, ctx) then clear(dep, ctx); ctx holds the migration and hosts --


class Fault:
    name = None
    points = POINTS
    kinds = KINDS
    failpoint = ''        # armed before the migration starts, besides the point's own

    def inject(self, dep, ctx):
        pass

    def clear(self, dep, ctx):
        pass

    def after(self, dep, ctx):
        """Put the deployment back for the next scenario."""


class KillConductor(Fault):
    name = 'conductor_kill'

    def inject(self, dep, ctx):
        ctx['killed'] = _driving_conductor(dep, ctx)
        dep.services[ctx['killed']].kill()

    def clear(self, dep, ctx):
        dep.services[ctx['killed']].start()


class ConductorTakeover(KillConductor):
    """Killed and not started again until the migration settled: the other conductor must
    adopt its work."""
    name = 'conductor_takeover'

    def clear(self, dep, ctx):
        pass

    def after(self, dep, ctx):
        dep.services[ctx['killed']].start()


class KillAgent(Fault):
    def __init__(self, side):
        self.side = side
        self.name = f'{side}_agent_kill'

    def inject(self, dep, ctx):
        dep.services[ctx[self.side]].kill()

    def clear(self, dep, ctx):
        dep.services[ctx[self.side]].start()


class RestartLibvirtd(Fault):
    def __init__(self, side):
        self.side = side
        self.name = f'{side}_libvirtd_restart'

    def inject(self, dep, ctx):
        cluster_mod.restart_libvirtd(dep.state_dir, ctx[self.side], stop_timeout=10)


class RestartRabbit(Fault):
    name = 'rabbitmq_restart'

    def inject(self, dep, ctx):
        dep.rabbit.stop_app()
        time.sleep(OUTAGE_S)    # the outage itself, not a wait for something

    def clear(self, dep, ctx):
        dep.rabbit.start_app()


class RestartPostgres(Fault):
    name = 'postgresql_restart'

    def inject(self, dep, ctx):
        dep.pg.stop_server()
        time.sleep(OUTAGE_S)

    def clear(self, dep, ctx):
        dep.pg.start()


class DropJobEnd(Fault):
    """The agent's cast of the job's end is lost: only a backstop that asks the hypervisor
    can end the migration."""
    name = 'job_end_dropped'
    points = ('running',)
    failpoint = 'compute.job_done=drop'


class CutNetwork(Fault):
    """The migration network between the two hypervisors cut during the job (for cold: the
    nbd copy between the source's exports and the target's qemu-img)."""
    name = 'network_cut'
    points = ('running',)
    kinds = ('live', 'block', 'cold')

    def inject(self, dep, ctx):
        addresses = [dep.host(ctx[side])['address'] for side in ('source', 'target')]
        with faults.MigrationNetworkCut(addresses):
            time.sleep(NET_CUT_S)


FAULTS = [KillConductor(), ConductorTakeover(), KillAgent('source'), KillAgent('target'),
          RestartLibvirtd('source'), RestartLibvirtd('target'), RestartRabbit(),
          RestartPostgres(), DropJobEnd(), CutNetwork()]


def matrix(faults_=None, kinds=None, points=None):
    """Every applicable (fault, kind, point), optionally narrowed by names."""
    return [Scenario(f, k, p) for f in FAULTS if not faults_ or f.name in faults_
            for k in f.kinds if not kinds or k in kinds
            for p in f.points if not points or p in points]


def fault(name):
    return next(f for f in FAULTS if f.name == name)


def _driving_conductor(dep, ctx):
    body = dep.api.get(f"/v1/migrations/{ctx['id']}").json()
    return body.get('conductor') or 'conductor1'


# -- running one scenario ---------------------------------------------------------------


def guest_of(dep, kind):
    return dep.shared_guest if kind == 'live' else dep.local_guest


def _held_state(kind, point):
    return {'running': 'copying' if kind == 'cold' else 'running'}.get(point, point)


def run(dep, scenario, bound=SETTLE_BOUND, result=None, check_kernel=False):
    """Runs one scenario on a ready deployment; returns its Run (problems empty when every
    check passed; pass `result` to keep what is known when it raises). Leaves the
    deployment ready for the next one."""
    fault_, kind, point = scenario.fault, scenario.kind, scenario.point
    result = result or Run(scenario.name)
    name = guest_of(dep, kind)
    console_from = guest_health.console_mark(_console_log(dep, name))
    source = _settled_host(dep, name)
    target = next(h for h in dep.host_names() if h != source)
    ctx = {'source': source, 'target': target}
    gate = os.path.join(dep.workdir, f'gate-{time.monotonic_ns()}')
    mig_type = 'cold' if kind == 'cold' else 'live'
    points = [fault_.failpoint] if fault_.failpoint else []
    if point in ('preparing', 'finishing'):
        points.append(f'conductor.{mig_type}.{point}=pause:{gate}')
    dep.arm(';'.join(points))
    held = point == 'running' and kind != 'cold'
    # A job takes the domain's migration bandwidth when it starts, and a block migration's
    # disk copy (NBD) keeps it to its end whatever is set later. So the speed is set before
    # the job and never touched while it runs.
    dep.set_bandwidth(name, source, HOLD_MIB_S[kind] if held else UNLIMITED_MIB_S)
    try:
        body = {'instance': name, 'type': mig_type, 'target_host': target}
        if kind == 'block':
            body['block_migration'] = True
        response = dep.api.post('/v1/migrations', body)
        assert response.status_code == 202, response.text
        ctx['id'] = result.migration_id = response.json()['id']
        _wait_for_point(dep, ctx, kind, point, gate)
        fault_.inject(dep, ctx)
    finally:
        dep.arm('')
        if point in ('preparing', 'finishing'):
            open(gate, 'w').close()
    fault_.clear(dep, ctx)
    cleared = time.monotonic()
    migration = _wait_terminal(dep, ctx['id'], bound)
    result.migration = migration
    if migration is None:
        result.outcome = 'stuck'
        status = dep.api.get(f"/v1/migrations/{ctx['id']}").json()['status']
        result.problems.append(f'still {status} {bound} s after the fault cleared')
    else:
        result.settle_s = time.monotonic() - cleared
        result.outcome = migration['status']
    _check_guest(dep, name, result)
    if check_kernel:
        # Off in the CI slice: on QEMU 7.2 under TCG a guest's memory can come out of any
        # live migration damaged (see guest_health), which is QEMU's fault, not ours; the
        # matrix counts it in a column of its own.
        _check_guest_kernel(dep, name, console_from, result)
    fault_.after(dep, ctx)
    _check_bookkeeping(dep, result)
    return result


def _settled_host(dep, name, timeout=60):
    """The one host the guest runs on, once the DB says the same and no migration holds
    it (the previous scenario's end may still be on its way into the DB)."""
    def agreed():
        hosts = probe.where(name, cluster=dep.cluster)
        instance = dep.api.instance(name) or {}
        if len(hosts) == 1 and instance.get('host') == hosts[0] \
                and not instance.get('migration_id'):
            return hosts[0]
        return None
    return processes.wait_until(agreed, timeout, f'{name} to run on one host, as the DB says',
                                interval=0.5)


def _wait_for_point(dep, ctx, kind, point, gate):
    held = _held_state(kind, point)
    if point in ('preparing', 'finishing'):
        processes.wait_until(lambda: os.path.exists(gate + '.reached'), 180,
                             f'the migration to reach {held}', interval=0.1)
        return

    def there():
        body = dep.api.get(f"/v1/migrations/{ctx['id']}").json()
        if body['status'] in TERMINAL:
            raise AssertionError(f"ended {body['status']} before {held}: {body.get('error')}")
        processed = body.get('memory_total' if kind == 'live' else 'disk_processed')
        return body['status'] == held and processed
    processes.wait_until(there, 180, f'the migration to be {held} with progress',
                         interval=0.1)


def _wait_for_job(dep, ctx):
    def started():
        body = dep.api.get(f"/v1/migrations/{ctx['id']}").json()
        if body['status'] in TERMINAL:
            raise AssertionError(f"ended {body['status']} before its job ran: "
                                 f"{body.get('error')}")
        return body['status'] == 'running' and (body.get('disk_total')
                                                or body.get('memory_total'))
    processes.wait_until(started, 180, 'the migration job to report progress', interval=0.1)


def _wait_terminal(dep, migration_id, bound):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            body = dep.api.get(f'/v1/migrations/{migration_id}').json()
        except Exception:       # the API may answer 503 while the DB is down
            body = {}
        if body.get('status') in TERMINAL:
            return body
        time.sleep(0.2)
    return None


def _console_log(dep, name):
    return next(g for g in dep.cluster['guests'] if g['name'] == name)['console_log']


def _check_guest_kernel(dep, name, console_from, result):
    """The guest's kernel printed no fault since the scenario began: a guest that runs on
    one host and ticks may still have come out of a migration with damaged memory (on this
    machine's QEMU 7.2 under TCG, a known QEMU bug: see guest_health)."""
    trouble = guest_health.trouble_since(_console_log(dep, name), console_from)
    if trouble:
        result.outcome = 'guest_fault'
        result.problems.extend(trouble)


def _check_guest(dep, name, result):
    hosts = _where(dep, name)
    if not hosts:
        result.outcome = 'lost'
        result.problems.append(f'{name} runs on no host')
        return
    if len(hosts) > 1:
        # Two copies executing is the harm; a paused copy beside the running one (the
        # incoming side of a migration that has not ended) is a leftover, not a second guest.
        executing = probe.where(name, cluster=dep.cluster, executing_only=True)
        if len(executing) > 1:
            result.outcome = 'running_twice'
            result.problems.append(f'{name} runs on {executing}')
        else:
            result.problems.append(f'{name} is active on {hosts}, executing on {executing}')
        return
    guest = next(g for g in dep.cluster['guests'] if g['name'] == name)
    size = os.path.getsize(guest['console_log'])

    def ticked():
        with open(guest['console_log'], 'rb') as f:
            f.seek(size)
            return probe.TICK_RE.search(f.read())
    # A cold-migrated guest boots afresh under TCG: on a machine busy with other work that
    # alone has taken over a minute. The settle bound is the migration's; this only asks
    # whether the guest lives.
    try:
        processes.wait_until(ticked, GUEST_TICK_TIMEOUT, f'{name} to tick', interval=0.2)
    except AssertionError as exc:
        result.problems.append(str(exc))


def _where(dep, name, grace=15):
    """The hosts running the guest; waits up to `grace` s while it runs nowhere (a
    libvirtd that just restarted may not list it yet)."""
    deadline = time.monotonic() + grace
    while True:
        try:
            hosts = probe.where(name, cluster=dep.cluster)
        except Exception:       # a daemon not answering yet
            hosts = []
        if hosts or time.monotonic() > deadline:
            return hosts
        time.sleep(0.5)


def _check_bookkeeping(dep, result):
    try:
        dep.wait_ready()
    except AssertionError as exc:
        result.problems.append(f'deployment not ready again: {exc}')
        return
    deadline = time.monotonic() + 45
    while True:
        code, text = dep.audit()
        hosts = dep.api.get('/v1/hosts').json()['hosts']
        held = [h['name'] for h in hosts if h['migrations_in_flight'] or h['memory_mb_claimed']]
        if code == 0 and not held:
            return
        if time.monotonic() > deadline:
            if code != 0:
                result.problems.append(f'audit: {text.strip()}')
            if held:
                result.problems.append(f'slots or claims still held on {held}')
            return
        time.sleep(1)
