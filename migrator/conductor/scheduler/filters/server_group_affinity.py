from migrator.conductor.scheduler import filters


class ServerGroupAffinityFilter(filters.BaseFilter):
    """Affinity: the guest goes where the other members of its group run (or are going)."""

    @staticmethod
    def passes(h, affinity_hosts):
        return h.name in affinity_hosts

    def applies(self, spec):
        return spec.group_policy == 'affinity' and bool(spec.group_hosts)

    def bind(self, spec):
        return (spec.group_hosts,)

    def explain(self, host, spec):
        return (f"{host.name} does not run the other members of affinity group "
                f"'{spec.group_name}' (they are on {', '.join(sorted(spec.group_hosts))})")
