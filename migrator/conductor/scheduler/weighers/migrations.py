from oslo_config import cfg

from migrator.conductor.scheduler import weighers

CONF = cfg.CONF


class MigrationsInFlightWeigher(weighers.BaseWeigher):
    """Fewest migrations entering or leaving the host now: they share its network and
    memory bandwidth with ours. [scheduler] migrations_weight_multiplier."""

    attribute = 'migrations_in_flight'
    higher_is_better = False

    def multiplier(self):
        return CONF.scheduler.migrations_weight_multiplier
