import datetime

import pytest

from migrator.common.timeutils import utcnow
from migrator.conductor.scheduler import filters
from migrator.conductor.scheduler.filters import (
    cpu_compatibility,
    disk,
    host_status,
    host_up,
    hypervisor_version,
    inbound_limit,
    memory,
    not_sending,
    not_source,
    server_group_affinity,
    server_group_anti_affinity,
    vcpu,
    virt_type,
)
from migrator.conf import CONF
from tests.unit.conductor.scheduler.helpers import host, spec


def _check(flt, passing, refused, request, *words):
    """filter_all and host_passes agree; a refused host's explanation names `words`."""
    kept = flt.filter_all(passing + refused, request)
    assert [h.name for h in kept] == [h.name for h in passing]
    for h in passing:
        assert flt.host_passes(h, request)
    for h in refused:
        assert not flt.host_passes(h, request)
        text = flt.explain(h, request)
        assert h.name in text
        for word in words:
            assert word in text, (word, text)


def test_host_up():
    stale = utcnow() - datetime.timedelta(seconds=31)
    _check(host_up.HostUpFilter(), [host('a')],
           [host('b', last_heartbeat=stale), host('c', last_heartbeat=None)], spec(), 'down')


def test_host_status():
    _check(host_status.HostStatusFilter(), [host('a')],
           [host('b', status='disabled', status_reason='firmware'),
            host('c', status='maintenance')], spec(), 'is ')
    assert 'b is disabled: firmware' in host_status.HostStatusFilter().explain(
        host('b', status='disabled', status_reason='firmware'), spec())


def test_not_source():
    _check(not_source.NotSourceFilter(), [host('a')], [host('src')], spec(), 'source')


def test_virt_type():
    _check(virt_type.VirtTypeFilter(), [host('a')], [host('b', virt_type='kvm')], spec(),
           'kvm', 'qemu')


def test_hypervisor_version_not_older_than_source():
    source = host('src', hypervisor_version=8000000)
    _check(hypervisor_version.HypervisorVersionFilter(),
           [host('same', hypervisor_version=8000000), host('newer', hypervisor_version=9000000)],
           [host('older', hypervisor_version=7002000)], spec(source=source), '7002000', 'older')


def test_cpu_named_model_needs_it_usable_on_target():
    _check(cpu_compatibility.CpuCompatibilityFilter(),
           [host('a')],
           [host('b', cpu_models='["Nehalem"]'), host('c', cpu_models=None)],
           spec(cpu_model='qemu64'))
    flt = cpu_compatibility.CpuCompatibilityFilter()
    assert 'cannot run CPU model qemu64' in flt.explain(host('b', cpu_models='["Nehalem"]'),
                                                        spec(cpu_model='qemu64'))
    assert 'does not report' in flt.explain(host('c', cpu_models=None), spec())


def test_cpu_host_passthrough_needs_same_host_cpu():
    request = spec(cpu_model=None, source=host('src', cpu_model='Skylake'))
    _check(cpu_compatibility.CpuCompatibilityFilter(), [host('a', cpu_model='Skylake')],
           [host('b', cpu_model='Haswell')], request, 'Haswell', 'Skylake')


def test_memory_counts_used_reserved_claims_and_ratio(monkeypatch):
    request = spec(memory_mb=1024)
    fits = host('fits', memory_mb=4096, memory_mb_used=2048, reserved_memory_mb=1024)
    full = host('full', memory_mb=4096, memory_mb_used=2048, reserved_memory_mb=1024,
                claimed_memory_mb=1)
    _check(memory.MemoryFilter(), [fits], [full], request, '1023 MiB', 'needs 1024 MiB',
           'claimed')
    CONF.set_override('ram_allocation_ratio', 1.5, group='scheduler')
    try:
        full.recompute()
        assert memory.MemoryFilter().host_passes(full, request)
    finally:
        CONF.clear_override('ram_allocation_ratio', group='scheduler')


def test_vcpus_with_allocation_ratio():
    request = spec(vcpus=2)
    # 2 physical CPUs x 4.0 = 8, 7 used: one left.
    _check(vcpu.VcpuFilter(), [host('a', vcpus=2, vcpus_used=6)],
           [host('b', vcpus=2, vcpus_used=7)], request, '1 vCPUs free', 'needs 2')


def test_disk_only_when_disks_are_copied():
    small = host('small', disk_gb=20, disk_gb_used=15)
    flt = disk.DiskFilter()
    assert flt.filter_all([small], spec(disk_gb=10, copies_disks=False)) == [small]
    _check(flt, [host('big')], [small], spec(disk_gb=10, copies_disks=True), '5 GiB',
           'need 10 GiB')


def test_affinity_goes_where_the_members_are():
    request = spec(group_name='g', group_policy='affinity', group_hosts=frozenset({'a'}))
    _check(server_group_affinity.ServerGroupAffinityFilter(), [host('a')], [host('b')],
           request, "affinity group 'g'", 'a')
    alone = spec(group_name='g', group_policy='affinity', group_hosts=frozenset())
    assert server_group_affinity.ServerGroupAffinityFilter().host_passes(host('b'), alone)


def test_anti_affinity_avoids_members_hosts():
    request = spec(group_name='g', group_policy='anti-affinity',
                   group_hosts=frozenset({'a', 'c'}))
    _check(server_group_anti_affinity.ServerGroupAntiAffinityFilter(), [host('b')],
           [host('a'), host('c')], request, "anti-affinity group 'g'")
    # An affinity group does not keep anyone apart.
    other = spec(group_name='g', group_policy='affinity', group_hosts=frozenset({'a'}))
    assert server_group_anti_affinity.ServerGroupAntiAffinityFilter().host_passes(
        host('a'), other)


def test_inbound_limit_is_transient():
    flt = inbound_limit.InboundLimitFilter()
    assert flt.transient
    _check(flt, [host('a', inbound_migrations=1)], [host('b', inbound_migrations=2)], spec(),
           'receives 2', 'max_inbound_per_host')


def test_every_filter_is_known_and_all_but_the_opt_in_one_enabled_by_default():
    assert set(filters.all_filters()) - set(CONF.scheduler.enabled_filters) == {
        'NotSendingFilter'}
    assert set(CONF.scheduler.enabled_filters) <= set(filters.all_filters())


def test_not_sending_is_transient():
    flt = not_sending.NotSendingFilter()
    assert flt.transient
    _check(flt, [host('a', inbound_migrations=1)], [host('b', outbound_migrations=2)], spec(),
           'sending 2 guests away')


class _CalledFilter(filters.BaseFilter):
    """A test of more than one statement: the compiled chain calls it."""

    @staticmethod
    def passes(h, floor):
        spare = h.free_memory_mb - floor
        return spare > 0

    def bind(self, spec):
        return (1000,)


def test_chain_inlines_one_expression_and_calls_anything_else():
    assert filters.inline_expression(memory.MemoryFilter) == 'h.free_memory_mb >= memory_need'
    assert filters.inline_expression(_CalledFilter) is None
    chain = [memory.MemoryFilter(), _CalledFilter()]
    hosts = [host('roomy'), host('tight', memory_mb_used=7500), host('full', memory_mb=200)]
    request = spec(memory_mb=256)
    values = [v for flt in chain for v in flt.bind(request)]
    expected = [h.name for h in hosts if all(f.host_passes(h, request) for f in chain)]
    assert [h.name for h in filters.compile_chain(chain)(hosts, *values)] == expected
    assert [h.name for h in hosts if filters.compile_test(chain)(h, *values)] == expected
    assert expected == ['roomy']


@pytest.mark.parametrize('name', sorted(filters.all_filters()))
def test_default_filter_passes_a_plain_host(name):
    flt = filters.all_filters()[name]()
    assert flt.filter_all([host('a')], spec()) != [] or name == 'NotSourceFilter'
