from migrator.conductor.scheduler import filters


class ServerGroupAffinityFilter(filters.BaseFilter):
    """Affinity: the guest goes where the other members of its group run (or are going)."""

    def host_passes(self, host, spec):
        return (spec.group_policy != 'affinity' or not spec.group_hosts
                or host.name in spec.group_hosts)

    def explain(self, host, spec):
        return (f"{host.name} does not run the other members of affinity group "
                f"'{spec.group_name}' (they are on {', '.join(sorted(spec.group_hosts))})")
