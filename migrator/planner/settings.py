"""The planner's settings from a configuration object ([planner] options), passed in so
that the planner itself reads no global configuration."""

from migrator.planner import duration, score

MIB = 2 ** 20


def score_config(conf):
    return score.ScoreConfig(cpu_allocation_ratio=conf.planner.cpu_allocation_ratio)


def duration_model(conf):
    return duration.DurationModel(
        bandwidth_bps=conf.planner.assumed_bandwidth_mib_s * MIB,
        default_dirty_rate_bps=conf.planner.default_dirty_rate_mib_s * MIB,
        overhead_seconds=conf.planner.migration_overhead_seconds)
