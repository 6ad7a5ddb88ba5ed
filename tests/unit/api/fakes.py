"""Shared by the API and CLI tests: a real SQLite Database, a fake conductor, and helpers
that put hosts and instances in the DB the way the conductor does (DB API calls)."""

import json
import threading
import uuid

from webob import Request

from migrator.common import exceptions
from migrator.common import forecast as forecast_model


def add_host(db, name, **values):
    report = {
        'address': f'127.0.0.{2 + sum(map(ord, name)) % 200}',
        'hypervisor_uri': f'qemu+tcp://{name}/system',
        'virt_type': 'qemu',
        'hypervisor_version': 9000000,
        'cpu_model': 'qemu64',
        'memory_mb': 8192,
        'memory_mb_used': 1024,
        'vcpus': 4,
        'vcpus_used': 1,
        'disk_gb': 100,
        'disk_gb_used': 10,
        'reserved_memory_mb': 512,
    }
    report.update(values)
    db.host_report(name, report)
    return db.host_get(name)


def add_instances(db, host, *names, **values):
    """Puts guests `names` on `host` (as an agent's report would) and returns them."""
    domains = []
    for name in names:
        domain = {'uuid': uuid_of(name), 'name': name,
                  'power_state': 'running', 'memory_mb': 256, 'vcpus': 1, 'disk_gb': 1,
                  'active': True, 'incoming': False}
        domain.update(values)
        domains.append(domain)
    db.instance_sync_host(host, domains)
    return [db.instance_get(name) for name in names]


class FakeConductor:
    """Records what the API asks of the conductor; can refuse or fail like the real one."""

    def __init__(self, destination='host2'):
        self.destination = destination
        self.select_error = None   # raised by select_destination when set
        self.migrate_error = None  # raised by migrate when set
        self.on_migrate = None     # called as on_migrate(migration_id) in a thread
        self.selects = []
        self.block_migrations = []
        self.dry_runs = []
        self.dry_run_controls = []
        self.casts = []
        self.aborts = []            # (conductor, migration id, reason) asked of it
        self.abort_error = None     # raised by abort_migration when set
        self.on_abort = None        # abort_migration returns on_abort(migration_id) if set
        self.threads = []
        self.drain_error = None    # raised by drain when set
        self.drains = []
        self.force_completes = []
        self.force_result = {'forced': 'paused'}
        self.planner = None        # create_plan(goal, **kwargs) -> plan id, when set
        self.plan_requests = []
        self.applied_plans = []
        self.apply_error = None    # raised by apply_plan when set
        self.audits = []           # the fix flag of each audit asked of it
        self.audit_answer = None   # audit(fix) -> its answer, when set
        self.dirty_rate = 2 * 2 ** 20       # what the forecast's guest dirties, bytes/s
        self.dirty_rate_interval = None     # (low, high) bytes/s, as measured; None: not
        self.writes_in_bursts = False       # figures.writes_in_bursts (1.11)

    def select_destination(self, ctxt, instance_uuid, migration_type, target_host=None,
                           block_migration=None):
        self.selects.append((instance_uuid, migration_type, target_host))
        self.block_migrations.append(block_migration)
        if self.select_error is not None:
            raise self.select_error
        return target_host or self.destination

    def schedule_dry_run(self, ctxt, instance_uuid, migration_type, target_host=None,
                         block_migration=None, controls=None):
        self.dry_runs.append((instance_uuid, migration_type, target_host, block_migration))
        self.dry_run_controls.append(controls)
        answer = {'possible': True, 'target_host': target_host or self.destination,
                  'reason': 'fake', 'filters': [], 'weights': []}
        if controls is not None:
            # What the conductor answers, from the real model over fixed figures.
            figures = forecast_model.Figures(
                memory_bytes=128 * 2 ** 20, dirty_rate_bps=self.dirty_rate,
                bandwidth_bps=(controls['bandwidth_mib'] or 1000) * 2 ** 20,
                max_downtime_ms=controls['max_downtime_ms'],
                downtime_steps=controls['downtime_steps'])
            answer['forecast'] = {
                **forecast_model.with_outcomes(
                    forecast_model.forecast(figures, self.dirty_rate_interval), controls),
                'figures': {'memory_bytes': 128 * 2 ** 20, 'dirty_rate': self.dirty_rate,
                            'dirty_rate_source': 'default', 'dirty_rate_note': None,
                            'dirty_rate_low': (self.dirty_rate_interval or (None,))[0],
                            'dirty_rate_high': (self.dirty_rate_interval or (None, None))[1],
                            'working_set_bytes': None,
                            'writes_in_bursts': self.writes_in_bursts,
                            'bandwidth': int(figures.bandwidth_bps),
                            'bandwidth_source': 'bandwidth_mib',
                            'max_downtime_ms': figures.max_downtime_ms,
                            'downtime_steps': figures.downtime_steps,
                            'completion_timeout_seconds': None, 'overhead_seconds': 2.0,
                            'overhead_source': 'default',
                            'overhead_note': '[planner] migration_overhead_seconds',
                            'effective_bandwidth': int(figures.bandwidth_bps),
                            'effective_bandwidth_source': 'default',
                            'effective_bandwidth_note': 'no migration observed under 8 '
                                                        'MiB/s: the bandwidth itself'}}
        return answer

    def migrate(self, ctxt, migration_id):
        if self.migrate_error is not None:
            raise self.migrate_error
        self.casts.append(migration_id)
        if self.on_migrate is not None:
            thread = threading.Thread(target=self.on_migrate, args=(migration_id,),
                                      daemon=True)
            thread.start()
            self.threads.append(thread)

    def drain(self, ctxt, drain_id):
        if self.drain_error is not None:
            raise self.drain_error
        self.drains.append(drain_id)

    def abort_migration(self, ctxt, conductor, migration_id, reason):
        self.aborts.append((conductor, migration_id, reason))
        if self.abort_error is not None:
            raise self.abort_error
        return self.on_abort(migration_id)

    def force_complete(self, ctxt, migration_id):
        self.force_completes.append(migration_id)
        if isinstance(self.force_result, Exception):
            raise self.force_result
        return self.force_result

    def create_plan(self, ctxt, goal, max_moves=None, min_gain=None, max_parallel=None):
        request = {'goal': goal, 'max_moves': max_moves, 'min_gain': min_gain,
                   'max_parallel': max_parallel}
        self.plan_requests.append(request)
        return self.planner(**request)

    def apply_plan(self, ctxt, plan_id):
        if self.apply_error is not None:
            raise self.apply_error
        self.applied_plans.append(plan_id)

    def audit(self, ctxt, fix=False):
        self.audits.append(fix)
        if isinstance(self.audit_answer, Exception):
            raise self.audit_answer
        return self.audit_answer(fix)

    def join(self, timeout=10):
        for thread in self.threads:
            thread.join(timeout)


def no_valid_host(instance, reason):
    return exceptions.NoValidHost(instance=instance, reason=reason)


class WSGIClient:
    """Drives the WSGI app in-process."""

    def __init__(self, app):
        self.app = app

    def request(self, method, path, body=None, raw=None, headers=None):
        req = Request.blank(path, method=method, headers=headers or {})
        if raw is not None:
            req.body = raw.encode() if isinstance(raw, str) else raw
            req.content_type = 'application/json'
        elif body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = 'application/json'
        elif method in ('POST', 'PUT', 'PATCH') and 'Content-Type' not in (headers or {}):
            req.content_type = 'application/json'  # as the CLI's client sends it
        return req.get_response(self.app)

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, body=None, **kw):
        return self.request('POST', path, body=body, **kw)


def assert_error(resp, code, *words):
    """The response is the JSON error document with `code`, naming every one of `words`."""
    assert resp.status_int == code, resp.text
    assert resp.content_type == 'application/json'
    error = json.loads(resp.text)['error']
    assert error['code'] == code
    assert error['title']
    for word in words:
        assert word in error['message'], (word, error['message'])
    assert 'Traceback' not in resp.text
    return error


def uuid_of(name):
    """The uuid add_instances gives the instance called `name`."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
