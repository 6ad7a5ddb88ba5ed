from oslo_config import cfg

from migrator.conductor.scheduler import weighers

CONF = cfg.CONF


class RamWeigher(weighers.BaseWeigher):
    """Free memory left after the guest lands. With a positive [scheduler]
    ram_weight_multiplier the emptiest host wins (spread); negative, the fullest host that
    still fits (pack)."""

    def multiplier(self):
        return CONF.scheduler.ram_weight_multiplier

    def raw_weights(self, hosts, spec):
        need = spec.memory_mb
        return [h.free_memory_mb - need for h in hosts]
