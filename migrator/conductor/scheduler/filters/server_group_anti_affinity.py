from migrator.conductor.scheduler import filters


class ServerGroupAntiAffinityFilter(filters.BaseFilter):
    """Anti-affinity: never onto a host where another member of the group runs or is
    going."""

    @staticmethod
    def passes(h, anti_affinity_hosts):
        return h.name not in anti_affinity_hosts

    def applies(self, spec):
        return spec.group_policy == 'anti-affinity' and bool(spec.group_hosts)

    def bind(self, spec):
        return (spec.group_hosts,)

    def explain(self, host, spec):
        return (f"{host.name} runs another member of anti-affinity group "
                f"'{spec.group_name}'")
