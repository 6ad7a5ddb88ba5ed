"""The scheduler: filters, then weighers, over the host-state cache; then a claim in the DB.

select_destination() is what a migration task calls: it chooses the target and claims the
guest's resources and an inbound slot there atomically (db.queries.scheduling claim_target), trying
the next best host when another conductor took the room first. check() answers the API's
question "could this be placed now?" without claiming; explain() is the dry run.
"""

import datetime

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, metrics
from migrator.common.timeutils import utcnow
from migrator.conductor.scheduler import filters as filters_mod
from migrator.conductor.scheduler import host_state, request_spec
from migrator.conductor.scheduler import weighers as weighers_mod
from migrator.conductor.scheduler.filters import memory

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

EXAMPLES = 3     # refused hosts quoted per filter in a message
TOP_WEIGHTS = 5  # candidates shown with their weights in a dry run


class Decision:
    """The outcome of filtering and weighing, with what is needed to explain it."""

    def __init__(self, spec, considered, staged, ranking, requested_target, passed):
        self.spec = spec
        self.considered = considered
        self._staged = staged         # () -> [(filter, hosts before it, hosts after it)]
        self._stages = None
        self.ranking = ranking        # [(weight, HostState)] best first
        self.requested_target = requested_target
        self.passed = passed          # how many hosts passed every filter (None: not counted)

    @property
    def stages(self):
        """The filters one by one (computed only to explain: a dry run, a refusal)."""
        if self._stages is None:
            self._stages = self._staged()
        return self._stages

    @property
    def host(self):
        return self.ranking[0][1].name if self.ranking else None

    def refusing_filter(self):
        for flt, before, after in self.stages:
            if len(after) < len(before) and not after:
                return flt
        return None

    @property
    def transient(self):
        """No host fits only because of limits that free themselves (inbound slots)."""
        flt = self.refusing_filter()
        return flt is not None and flt.transient

    def filter_report(self):
        report = []
        for flt, before, after in self.stages:
            removed = len(before) - len(after)
            entry = {'filter': flt.name, 'hosts_before': len(before), 'removed': removed,
                     'examples': []}
            if removed:
                kept = {id(h) for h in after}
                gone = [h for h in before if id(h) not in kept]
                entry['examples'] = [flt.explain(h, self.spec) for h in gone[:EXAMPLES]]
            report.append(entry)
        return report

    def refusal(self):
        """The sentence for NoValidHost."""
        if self.requested_target is not None:
            flt = self.refusing_filter()
            host = self.stages[-1][1][0] if self.stages else None
            if flt is None or host is None:
                return f'target {self.requested_target} is not known to the scheduler'
            return (f'target {self.requested_target} refused by {flt.name}: '
                    f'{flt.explain(host, self.spec)}')
        if not self.considered:
            return 'no hosts are known'
        parts = []
        for entry in self.filter_report():
            if entry['removed']:
                more = entry['removed'] - len(entry['examples'])
                examples = '; '.join(entry['examples']) + (f'; {more} more' if more > 0 else '')
                parts.append(f"{entry['filter']} removed {entry['removed']} ({examples})")
        return f"none of {self.considered} hosts passed the filters: {' | '.join(parts)}"

    def no_valid_host(self):
        exc = exceptions.NoValidHost(instance=self.spec.instance_name, reason=self.refusal())
        flt = self.refusing_filter()
        exc.filter_name = flt.name if flt is not None else None
        exc.transient = self.transient
        return exc


class Scheduler:
    def __init__(self, db, cache=None):
        self.db = db
        self.cache = cache if cache is not None else host_state.HostStateCache(db)
        self._filters = None
        self._filter_names = None
        self._chains = {}
        self.weighers = weighers_mod.enabled(CONF.scheduler.enabled_weighers)
        # True: always filter and weigh every host (what the fast path is tested against).
        self.full_pass = False

    # -- building blocks --------------------------------------------------------------------

    def filters(self):
        names = tuple(CONF.scheduler.enabled_filters)
        if names != self._filter_names:
            known = filters_mod.all_filters()
            unknown = [n for n in names if n not in known]
            if unknown:
                raise exceptions.Invalid(
                    f"[scheduler] enabled_filters names unknown filters {', '.join(unknown)}; "
                    f"the filters are: {', '.join(known)}")
            self._filters = [known[n]() for n in names]
            self._filter_names = names
            self._chains = {}
        return self._filters

    def build_spec(self, instance, migration_type='live', block_migration=None):
        group = self.db.server_group_of_instance(instance['uuid'])
        in_flight = (self.db.claim_targets_of(list(group['member_hosts']))
                     if group is not None else None)
        return request_spec.RequestSpec.from_instance(instance, migration_type,
                                                      block_migration, group, in_flight)

    def decide(self, spec, requested_target=None, ignore_transient=False, top=1):
        """Filter and weigh the cached hosts for spec; no DB access but for a forced target.

        The filters that apply to this request run as one compiled list comprehension (one
        pass over the hosts); they run one by one only when the decision is explained.
        `top`: how many of the best hosts to rank (each costs a pass over the candidates).
        """
        spec.source = self.cache.get(spec.source_host)
        spec.heartbeat_after = utcnow() - datetime.timedelta(
            seconds=CONF.conductor.service_down_time)
        if requested_target is not None:
            # One host: read it fresh (a primary-key lookup), so an operator's status change
            # is seen at once.
            target = self.cache.refresh_host(requested_target)
            hosts = [target] if target is not None else []
        else:
            hosts = self.cache.hosts()
        chain = [flt for flt in self.filters()
                 if not (ignore_transient and flt.transient) and flt.applies(spec)]
        key = tuple(id(flt) for flt in chain)
        compiled = self._chains.get(key)
        if compiled is None:
            compiled = self._chains[key] = (filters_mod.compile_chain(chain),
                                            filters_mod.compile_test(chain))
        run, test = compiled
        values = [v for flt in chain for v in flt.bind(spec)]

        def staged():
            stages, current = [], hosts
            for flt in chain:
                after = flt.filter_all(current, spec)
                stages.append((flt, current, after))
                current = after
                if not current:
                    break
            return stages

        if requested_target is None and top == 1 and not self.full_pass:
            # Visit only the hosts at the ends of the cache's free-memory orderings
            # (memory_index explains why the choice is the full pass's).
            floor = (spec.memory_mb
                     if any(isinstance(f, memory.MemoryFilter) for f in chain) else None)
            best = self.cache.index.best(self.weighers, lambda h: test(h, *values), floor)
            if best is not NotImplemented:
                # How many hosts passed is not counted here (only a dry run reports it).
                return Decision(spec, len(hosts), staged, [best] if best else [],
                                requested_target, None if best else 0)
        passed = run(hosts, *values)
        ranking = []
        if passed:
            ranking = weighers_mod.best(self.weighers, passed, spec, top)
        return Decision(spec, len(hosts), staged, ranking, requested_target, len(passed))

    # -- what callers use -------------------------------------------------------------------

    @metrics.timed(metrics.SCHEDULER_DECISION)
    def select_destination(self, instance, migration_type, requested_target, migration_id,
                           block_migration=None):
        """Choose the target and claim the guest's room there; returns the host's name.

        Raises NoValidHost (with .filter_name, and .transient when only a full inbound slot
        stands in the way) when no host qualifies.
        """
        self.cache.refresh_if_stale()
        spec = self.build_spec(instance, migration_type, block_migration)
        resources = {'memory_mb': spec.memory_mb, 'vcpus': spec.vcpus,
                     'disk_gb': spec.disk_gb if spec.copies_disks else 0}
        limits = self._claim_limits()
        lost = []
        while len(lost) < CONF.scheduler.claim_attempts:
            decision = self.decide(spec, requested_target)
            if decision.host is None:
                raise decision.no_valid_host()
            # The best host only: when its claim fails we re-read it and decide again, which
            # sees what the other conductor took.
            for _weight, host in decision.ranking:
                if self.db.claim_target(migration_id, spec.instance_uuid, spec.source_host,
                                        host.name, resources, limits):
                    host.add_claim(resources['memory_mb'], resources['vcpus'],
                                   resources['disk_gb'])
                    LOG.info('Migration %s of %s: %s chosen and claimed (%s)', migration_id,
                             spec.instance_name, host.name, resources)
                    return host.name
                LOG.info('Migration %s: the claim on %s failed (changed since we looked); '
                         'trying the next host', migration_id, host.name)
                lost.append(host.name)
                self.cache.refresh_host(host.name)
                if len(lost) >= CONF.scheduler.claim_attempts:
                    break
        raise exceptions.NoValidHost(
            instance=spec.instance_name,
            reason=f"the room on {', '.join(lost)} was taken by other migrations while this "
                   "one was being placed; try again")

    def check(self, instance, migration_type, requested_target=None, block_migration=None):
        """The host a request would go to now, ignoring full inbound slots (it would wait
        for those in the queue); raises NoValidHost. Claims nothing."""
        self.cache.refresh_if_stale()
        spec = self.build_spec(instance, migration_type, block_migration)
        decision = self.decide(spec, requested_target, ignore_transient=True)
        if decision.host is None:
            raise decision.no_valid_host()
        return decision.host

    def explain(self, instance, migration_type, requested_target=None, block_migration=None):
        """The dry run: the chosen target and why, or why no host fits. Claims nothing."""
        self.cache.refresh_if_stale()
        spec = self.build_spec(instance, migration_type, block_migration)
        decision = self.decide(spec, requested_target, top=TOP_WEIGHTS)
        result = {
            'possible': decision.host is not None,
            'target_host': decision.host,
            'hosts_considered': decision.considered,
            'filters': decision.filter_report(),
            'weights': [{'host': h.name, 'weight': round(w, 4),
                         'memory_mb_free_after': h.free_memory_mb - spec.memory_mb,
                         'migrations_in_flight': h.inbound_migrations + h.outbound_migrations}
                        for w, h in decision.ranking[:TOP_WEIGHTS]],
            'server_group': ({'name': spec.group_name, 'policy': spec.group_policy,
                              'hosts': sorted(spec.group_hosts)} if spec.group_name else None),
        }
        if decision.host is not None:
            best = decision.ranking[0][1]
            result['reason'] = (
                f'{best.name} passed every filter, as did {decision.passed - 1} other hosts '
                f'of {decision.considered}, and weighs most: {best.free_memory_mb - spec.memory_mb}'
                f' MiB of memory free after the move, '
                f'{best.inbound_migrations + best.outbound_migrations} migrations in flight')
        else:
            result['reason'] = decision.refusal()
            if decision.transient:
                result['reason'] += '; the migration would wait in the queue for a slot'
        return result

    def _claim_limits(self):
        sched = CONF.scheduler
        return {
            'ram_ratio': sched.ram_allocation_ratio, 'cpu_ratio': sched.cpu_allocation_ratio,
            'disk_ratio': sched.disk_allocation_ratio,
            'reserved_disk_gb': CONF.compute.reserved_host_disk_gb,
            'inbound': sched.max_inbound_per_host,
            'heartbeat_after': utcnow() - datetime.timedelta(
                seconds=CONF.conductor.service_down_time),
        }
