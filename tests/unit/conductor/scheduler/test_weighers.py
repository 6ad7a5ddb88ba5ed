import pytest

from migrator.common import exceptions
from migrator.conductor.scheduler import weighers
from migrator.conductor.scheduler.weighers import migrations, ram
from migrator.conf import CONF
from tests.unit.conductor.scheduler.helpers import host, spec


def _best(weigher_list, hosts, request):
    weighed = weighers.weigh(weigher_list, hosts, request)
    return max(weighed, key=lambda wh: wh[0])[1].name


def test_ram_weigher_spreads_by_default():
    hosts = [host('full', memory_mb_used=6000), host('empty'), host('half', memory_mb_used=4000)]
    assert _best([ram.RamWeigher()], hosts, spec()) == 'empty'
    assert ram.RamWeigher().raw_weights(hosts, spec()) == [8192 - 6000, 8192, 8192 - 4000]


def test_ram_weigher_packs_with_negative_multiplier():
    CONF.set_override('ram_weight_multiplier', -1.0, group='scheduler')
    try:
        hosts = [host('full', memory_mb_used=6000), host('empty')]
        assert _best([ram.RamWeigher()], hosts, spec()) == 'full'
    finally:
        CONF.clear_override('ram_weight_multiplier', group='scheduler')


def test_migrations_weigher_prefers_quiet_hosts():
    hosts = [host('busy', inbound_migrations=1, outbound_migrations=1),
             host('quiet'), host('some', outbound_migrations=1)]
    assert _best([migrations.MigrationsInFlightWeigher()], hosts, spec()) == 'quiet'
    assert migrations.MigrationsInFlightWeigher().raw_weights(hosts, spec()) == [-2, 0, -1]


def test_best_ranks_and_breaks_ties_by_order():
    hosts = [host('a', memory_mb_used=100), host('b'), host('c'), host('d', memory_mb_used=50)]
    ranking = weighers.best([ram.RamWeigher()], hosts, spec(), 3)
    assert [h.name for _, h in ranking] == ['b', 'c', 'd']
    assert ranking[0][0] == 1.0


def test_weights_are_normalised_and_multiplied():
    # Memory says a, migrations say b; with equal multipliers the normalised weights tie
    # and the larger multiplier decides.
    a = host('a', inbound_migrations=2)
    b = host('b', memory_mb_used=4096)
    both = [ram.RamWeigher(), migrations.MigrationsInFlightWeigher()]
    totals = dict((h.name, w) for w, h in weighers.weigh(both, [a, b], spec()))
    assert totals == {'a': 1.0, 'b': 1.0}
    CONF.set_override('migrations_weight_multiplier', 2.0, group='scheduler')
    try:
        assert _best(both, [a, b], spec()) == 'b'
    finally:
        CONF.clear_override('migrations_weight_multiplier', group='scheduler')


def test_zero_multiplier_switches_a_weigher_off():
    CONF.set_override('ram_weight_multiplier', 0.0, group='scheduler')
    try:
        totals = weighers.weigh([ram.RamWeigher()], [host('a'), host('b', memory_mb_used=9)],
                                spec())
        assert [w for w, _ in totals] == [0.0, 0.0]
    finally:
        CONF.clear_override('ram_weight_multiplier', group='scheduler')


def test_weighers_are_enabled_by_config():
    assert [w.name for w in weighers.enabled(CONF.scheduler.enabled_weighers)] == [
        'RamWeigher', 'MigrationsInFlightWeigher']
    assert set(weighers.all_weighers()) == {'RamWeigher', 'MigrationsInFlightWeigher'}


def test_unknown_weigher_is_named():
    with pytest.raises(exceptions.Invalid, match="unknown weighers Nope; the weighers are"):
        weighers.enabled(['RamWeigher', 'Nope'])
