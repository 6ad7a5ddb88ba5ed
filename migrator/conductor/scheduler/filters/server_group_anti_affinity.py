from migrator.conductor.scheduler import filters


class ServerGroupAntiAffinityFilter(filters.BaseFilter):
    """Anti-affinity: never onto a host where another member of the group runs or is
    going."""

    def host_passes(self, host, spec):
        return spec.group_policy != 'anti-affinity' or host.name not in spec.group_hosts

    def filter_all(self, hosts, spec):
        if spec.group_policy != 'anti-affinity' or not spec.group_hosts:
            return hosts
        taken = spec.group_hosts
        return [h for h in hosts if h.name not in taken]

    def explain(self, host, spec):
        return (f"{host.name} runs another member of anti-affinity group "
                f"'{spec.group_name}'")
