from oslo_config import cfg

from migrator.conductor.scheduler import weighers

CONF = cfg.CONF


class RamWeigher(weighers.BaseWeigher):
    """Free memory left after the guest lands (the guest's size is the same for every
    candidate, so the free memory now orders them alike). With a positive [scheduler]
    ram_weight_multiplier the emptiest host wins (spread); negative, the fullest host that
    still fits (pack)."""

    attribute = 'free_memory_mb'

    def multiplier(self):
        return CONF.scheduler.ram_weight_multiplier
