"""Wiring of a conductor and compute agents without a bus, over the fake virt driver."""

from migrator.common import context, exceptions
from migrator.compute import manager as compute_manager
from migrator.compute.virt import fake


class DirectComputeAPI:
    """ComputeAPI's interface, calling the agents' endpoints in-process."""

    def __init__(self):
        self.agents = {}
        self.nbd_allowed = True     # False: as under [upgrade_levels] compute < 1.10

    def __getattr__(self, method):
        def call(ctxt, host, *args, rpc_timeout=None, **kwargs):
            # rpc_timeout is the client's own, like ComputeAPI._call's: it never reaches
            # the agent.
            if method == 'report_now':
                return None
            if method == 'export_disks' and not self.nbd_allowed:
                raise exceptions.ServiceTooOld(service='compute', method=method,
                                               needed='1.10', cap='1.9')
            return getattr(self.agents[host], method)(ctxt, *args, **kwargs)
        return call


class DirectConductorAPI:
    """ConductorAPI's agent-facing interface, calling the conductor in-process."""

    def __init__(self):
        self.conductor = None

    def report_host(self, ctxt, host, inventory, domains, reported_at):
        self.conductor.report_host(ctxt, host, inventory, domains, reported_at)

    def migration_progress(self, ctxt, conductor, migration_id, stats):
        self.conductor.migration_progress(ctxt, migration_id, stats)

    def migration_job_done(self, ctxt, conductor, migration_id, outcome):
        self.conductor.migration_job_done(ctxt, migration_id, outcome)


class FakeCluster:
    def __init__(self, conductor_factory, hosts=('host1', 'host2', 'host3'), memory_mb=8192):
        self.cloud = fake.FakeCloud()
        self.compute_api = DirectComputeAPI()
        self.conductor_api = DirectConductorAPI()
        self.conductor = conductor_factory(self.compute_api)
        self.conductor_api.conductor = self.conductor
        self.ctxt = context.get_admin_context()
        self.drivers = {}
        for host in hosts:
            driver = fake.FakeDriver(self.cloud, memory_mb=memory_mb)
            agent = compute_manager.ComputeManager(host, driver, self.conductor_api)
            driver.init_host(host)
            self.drivers[host] = driver
            self.compute_api.agents[host] = agent

    def report_all(self):
        for agent in self.compute_api.agents.values():
            agent._report()

    def where(self, uuid):
        return sorted(h for h, doms in self.cloud.domains.items() if uuid in doms)
