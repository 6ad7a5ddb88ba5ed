"""benchmarks.faults.heal: what it does to the deployment after a bad run (the libvirt and
API sides replaced by recorders)."""

from benchmarks import faults
from tests.functional.faults import scenarios


class Api:
    url = 'http://api'

    def instance(self, name):
        return {'host': 'host1'}


class Dep:
    shared_guest, local_guest = 'shared-vm', 'local-vm'
    cluster = {}
    api = Api()

    def __init__(self):
        self.ready = 0

    def wait_ready(self):
        self.ready += 1


def _heal(monkeypatch, run, running):
    acts = []
    monkeypatch.setattr(faults.probe, 'where', lambda name, cluster, **kw: running[name])
    monkeypatch.setattr(faults, '_act', lambda dep, host, name, action:
                        acts.append((action, name, host)))
    monkeypatch.setattr(faults.subprocess, 'run', lambda *a, **kw: None)
    dep = Dep()
    faults.heal(dep, run)
    assert dep.ready == 1
    return acts


def test_a_guest_that_stopped_ticking_is_booted_again_where_it_runs(monkeypatch):
    run = scenarios.Run('conductor_kill@live/running', outcome='completed',
                        problems=['timed out after 240s waiting for shared-vm to tick'])
    acts = _heal(monkeypatch, run, {'shared-vm': ['host2'], 'local-vm': ['host1']})
    assert acts == [('destroy', 'shared-vm', 'host2'), ('create', 'shared-vm', 'host2')]


def test_a_damaged_block_guest_is_booted_again(monkeypatch):
    run = scenarios.Run('rabbitmq_restart@block/running', outcome='guest_fault',
                        problems=['kernel: general protection fault'])
    acts = _heal(monkeypatch, run, {'shared-vm': ['host1'], 'local-vm': ['host2']})
    assert acts == [('destroy', 'local-vm', 'host2'), ('create', 'local-vm', 'host2')]


def test_a_guest_running_twice_keeps_the_copy_the_db_names(monkeypatch):
    run = scenarios.Run('network_cut@live/running', outcome='running_twice',
                        problems=['shared-vm runs on [host1, host2]'])
    acts = _heal(monkeypatch, run, {'shared-vm': ['host1', 'host2'], 'local-vm': ['host1']})
    assert acts == [('destroy', 'shared-vm', 'host2')]
