"""The audit: the DB compared with what every hypervisor says, live.

The conductor asks every known host's agent for its domains (and whether the live migrations
the DB has in flight from it still have a libvirt job) in parallel, reads the DB, and lists
each discrepancy as {kind, subject, detail, fix}, fix being 'safe' (bookkeeping the audit may
repair with --fix) or 'person' (someone must look: the audit never touches a guest).

kinds:
  host_unreachable  an agent did not answer: its guests could not be checked  (person)
  running_twice     a guest runs on two hosts or more                          (person)
  not_running       a guest runs on no host (shut off, or defined nowhere)     (person)
  wrong_host        the DB says another host than the one the guest runs on    (safe)
  stale_lock        an instance is locked by a migration that has ended        (safe)
  stale_claim       a claim or slot held for a migration that has ended, or a
                    landed claim its target has accounted for since            (safe)
  counter_mismatch  a host's or the cluster's slot/claim counters differ from
                    what the claims add up to                                  (safe)
  no_job            a live migration `running` whose source has no libvirt job (person)
  not_started       a migration `accepted` that no conductor has taken         (person)

Guests and migrations that change while the audit looks (a migration in flight, an instance
row written after the DB was read) are not judged: the grace ([conductor] audit_grace)
keeps young migrations out of no_job and not_started.
"""

import collections
import datetime

import futurist
import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import states
from migrator.db.queries.audit import expected_counts

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

SAFE, PERSON = 'safe', 'person'
_JOB_STATES = (states.RUNNING, states.POST_COPY)


def _item(kind, subject, detail, fix, **data):
    return {'kind': kind, 'subject': subject, 'detail': detail, 'fix': fix, **data}


def gather(ctxt, compute_api, host_names, job_uuids):
    """{host: {'domains': [...], 'jobs': {uuid: bool}}} of the hosts whose agent answered,
    and {host: why} of the others; the agents are asked in parallel."""
    answers, failures = {}, {}
    if not host_names:
        return answers, failures
    with futurist.ThreadPoolExecutor(max_workers=min(16, len(host_names))) as pool:
        futures = {name: pool.submit(compute_api.audit_domains, ctxt, name,
                                     sorted(job_uuids.get(name, ())))
                   for name in host_names}
        for name, future in futures.items():
            try:
                answers[name] = future.result()
            except messaging.MessagingTimeout:
                failures[name] = (f'its agent did not answer within '
                                  f'{CONF.conductor.compute_rpc_timeout} s')
            except Exception as exc:    # a remote error: the agent answered, but failed
                failures[name] = f'its agent failed to list its domains: {exc}'
    return answers, failures


def find(snapshot, answers, failures, now=None, grace=None):
    """The discrepancies between the DB `snapshot` (Database.audit_snapshot) and the
    hypervisors' `answers`; pure, so it is tested without hosts."""
    now = now or snapshot['read_at']
    grace = datetime.timedelta(seconds=CONF.conductor.audit_grace if grace is None
                               else grace)
    found = [_item('host_unreachable', host, f'{why}; the guests of {host} were not checked',
                   PERSON, host=host) for host, why in sorted(failures.items())]
    running, defined = collections.defaultdict(list), collections.defaultdict(list)
    incoming = collections.defaultdict(list)
    for host, answer in answers.items():
        for dom in answer['domains']:
            if dom.get('incoming'):
                incoming[dom['uuid']].append(host)
            elif dom.get('active'):
                running[dom['uuid']].append(host)
            else:
                defined[dom['uuid']].append(host)
    status = snapshot['migration_status']
    unfinished = {m['id']: m for m in snapshot['unfinished']}
    for inst in sorted(snapshot['instances'], key=lambda i: (i['name'], i['uuid'])):
        uuid, name = inst['uuid'], inst['name']
        subject = f'instance {name} ({uuid})'
        lock = inst['migration_id']
        if lock and (status.get(lock) is None or status[lock] in states.TERMINAL):
            found.append(_item('stale_lock', subject,
                               f'locked by migration {lock}, which '
                               + ('does not exist' if status.get(lock) is None
                                  else f'ended {status[lock]}'),
                               SAFE, instance=uuid, migration=lock))
            lock = None
        hosts_running = sorted(running.get(uuid, ()))
        if len(hosts_running) > 1:
            found.append(_item('running_twice', subject,
                               f"runs on {' and '.join(hosts_running)}", PERSON,
                               instance=uuid, hosts=hosts_running))
            continue
        if lock:
            continue    # a migration moves it: its end decides where it is
        if inst['updated_at'] and inst['updated_at'] > snapshot['read_at']:
            continue
        if not hosts_running:
            if failures:
                continue    # it may run on a host that did not answer
            where = sorted(defined.get(uuid, ()))
            found.append(_item('not_running', subject,
                               f"runs on no host (defined, shut off, on {', '.join(where)})"
                               if where else 'runs on no host and is defined on none',
                               PERSON, instance=uuid, hosts=where, db_host=inst['host']))
        elif hosts_running[0] != inst['host']:
            found.append(_item('wrong_host', subject,
                               f"runs on {hosts_running[0]} but the DB says "
                               f"{inst['host'] or 'no host'}", SAFE, instance=uuid,
                               host=hosts_running[0], db_host=inst['host']))
    reported = {h['name']: h.get('usage_reported_at') for h in snapshot['hosts']}
    for claim in snapshot['claims']:
        mig = claim['migration_id']
        if claim['landed_at'] is None:
            if status.get(mig) is None or status[mig] in states.TERMINAL:
                ended = 'does not exist' if status.get(mig) is None else f'ended {status[mig]}'
                found.append(_item('stale_claim', f'migration {mig}',
                                   f'{_claim_text(claim)} held, but the migration {ended}',
                                   SAFE, migration=mig))
        else:
            seen = reported.get(claim['target_host'])
            if seen is not None and seen >= claim['landed_at'] + grace:
                found.append(_item('stale_claim', f'migration {mig}',
                                   f"{_claim_text(claim)} still held after it landed, though "
                                   f"{claim['target_host']} has reported since",
                                   SAFE, migration=mig, landed_before=seen))
    counts, active = expected_counts(snapshot['claims'], [h['name'] for h in snapshot['hosts']])
    if snapshot['active_migrations'] != active:
        found.append(_item('counter_mismatch', 'cluster',
                           f"{snapshot['active_migrations']} migration slots taken, but "
                           f"{active} migrations hold one", SAFE))
    for host in snapshot['hosts']:
        wrong = [f'{col} {host[col]} (claims say {val})'
                 for col, val in counts[host['name']].items() if host[col] != val]
        if wrong:
            found.append(_item('counter_mismatch', f"host {host['name']}",
                               '; '.join(wrong), SAFE, host=host['name']))
    for mig in sorted(unfinished.values(), key=lambda m: m['created_at']):
        if now - (mig['updated_at'] or mig['created_at']) < grace:
            continue
        subject = f"migration {mig['id']} ({mig['instance_name']})"
        if mig['status'] == states.ACCEPTED:
            found.append(_item('not_started', subject,
                               f"accepted at {mig['created_at']:%H:%M:%S} and taken by no "
                               'conductor', PERSON, migration=mig['id']))
        elif mig['type'] == 'live' and mig['status'] in _JOB_STATES:
            answer = answers.get(mig['source_host'])
            if answer is not None and not answer['jobs'].get(mig['instance_uuid'], True):
                found.append(_item('no_job', subject,
                                   f"{mig['status']}, but {mig['source_host']} has no "
                                   'migration job for it', PERSON, migration=mig['id']))
    return found


def _claim_text(claim):
    parts = []
    if claim['holds_slot']:
        parts.append(f"a slot on {claim['source_host']}")
    if claim['target_host']:
        parts.append(f"{claim['memory_mb']} MiB / {claim['vcpus']} vCPU on "
                     f"{claim['target_host']}")
    return ' and '.join(parts) or 'a claim'


def job_uuids(snapshot):
    """{source host: uuids} of the live migrations whose libvirt job the audit checks."""
    wanted = collections.defaultdict(set)
    for mig in snapshot['unfinished']:
        if mig['type'] == 'live' and mig['status'] in _JOB_STATES:
            wanted[mig['source_host']].add(mig['instance_uuid'])
    return wanted


def repair(db, found):
    """Applies the safe repairs of `found`; returns what was done, one line each."""
    done = []
    for item in found:
        kind = item['kind']
        if kind == 'stale_lock' and db.audit_clear_lock(item['instance'], item['migration']):
            done.append(f"{item['subject']}: lock of migration {item['migration']} released")
        elif kind == 'wrong_host' and db.audit_set_host(item['instance'], item['db_host'],
                                                        item['host']):
            done.append(f"{item['subject']}: host set to {item['host']} "
                        f"(was {item['db_host'] or 'none'})")
        elif kind == 'stale_claim' and db.audit_drop_claim(item['migration'],
                                                           item.get('landed_before')):
            done.append(f"{item['subject']}: claim given back")
    # Last, so the claims given back above are counted out too.
    if any(i['kind'] in ('stale_claim', 'counter_mismatch') for i in found):
        for subject, column, was, now in db.audit_recount():
            done.append(f'{subject}: {column} {was} -> {now}')
    return done


class Auditor:
    def __init__(self, ctxt, db, compute_api):
        self.ctxt = ctxt
        self.db = db
        self.compute_api = compute_api

    def run(self, fix=False, grace=None):
        """{'discrepancies': [...], 'fixed': [lines], 'hosts_checked': [names]}; with fix,
        the safe repairs are made and the discrepancies are those left after them."""
        snapshot = self.db.audit_snapshot()
        names = [h['name'] for h in snapshot['hosts']]
        answers, failures = gather(self.ctxt, self.compute_api, names, job_uuids(snapshot))
        found = find(snapshot, answers, failures, grace=grace)
        fixed = []
        if fix and any(i['fix'] == SAFE for i in found):
            fixed = repair(self.db, found)
            LOG.warning('Audit repaired: %s', '; '.join(fixed) or 'nothing')
            snapshot = self.db.audit_snapshot()
            answers, failures = gather(self.ctxt, self.compute_api, names,
                                       job_uuids(snapshot))
            found = find(snapshot, answers, failures, grace=grace)
        # Only JSON goes back over the bus.
        found = [{k: v for k, v in item.items() if k != 'landed_before'} for item in found]
        return {'discrepancies': found, 'fixed': fixed, 'hosts_checked': sorted(answers)}
