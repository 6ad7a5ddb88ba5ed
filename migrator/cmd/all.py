"""migrator-all: API, conductor and compute agents in one process, for one machine.

The services talk over the in-process inproc:// bus (migrator.common.inproc_bus) unless
transport_url says otherwise, and the database is the embedded SQLite by default. Compute
agents are started for every host of the sandbox cluster (cluster.json) and every [all]
compute_hosts entry.
"""

import json
import os
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging

from migrator import conf  # noqa: F401  (registers the options)
from migrator.api import app as api_app
from migrator.api import auth, wsgi
from migrator.cmd import compute as compute_cmd
from migrator.cmd import conductor as conductor_cmd
from migrator.common import exceptions, notifications, rpc, service
from migrator.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def compute_hosts():
    """(name, uri, virt_type, remote_tls_pki_path, tool_wrapper) of every compute agent
    this process runs.

    A sandbox made with --tls gives each host client credentials of its own, and each host
    a script that runs the nbd disk copy's tools in its libvirtd's mount namespace; agents
    of [all] compute_hosts use [libvirt] remote_tls_pki_path and [compute]
    disk_tool_wrapper."""
    hosts = []
    cluster_file = os.path.join(CONF.all.sandbox_state_dir, 'cluster.json')
    if os.path.exists(cluster_file):
        with open(cluster_file) as f:
            cluster = json.load(f)
        hosts.extend((h['name'], h['uri'], cluster.get('virt_type', 'qemu'),
                      h.get('tls_pki_path'), h.get('tool_wrapper')) for h in cluster['hosts'])
    for entry in CONF.all.compute_hosts:
        name, sep, uri = entry.partition('=')
        if not sep or not name or not uri:
            raise exceptions.Invalid(f"[all] compute_hosts entry '{entry}' is not name=uri")
        hosts.append((name.strip(), uri.strip(), CONF.libvirt.virt_type, None, None))
    return hosts


class AllInOne:
    def __init__(self):
        problem = auth.check_listen(CONF.api.host_ip)
        if problem:
            raise auth.AuthConfigError(f'migrator-all cannot start: {problem}')
        self.db = db_api.get_database()
        self.conductor, self.conductor_service = conductor_cmd.build(self.db)
        self.agents = []
        for name, uri, virt_type, pki_path, tool_wrapper in compute_hosts():
            self.agents.append(compute_cmd.build(host=name, uri=uri, virt_type=virt_type,
                                                 remote_tls_pki_path=pki_path,
                                                 tool_wrapper=tool_wrapper))
        self.api_server = wsgi.build_server(api_app.setup_app(db=self.db), CONF.api.host_ip,
                                            CONF.api.port, CONF.api.threads)
        self.api_thread = None

    def start(self):
        if CONF.all.sync_db:
            self.db.sync()
        self.conductor_service.start()
        self.conductor.start()
        for agent, rpc_service in self.agents:
            rpc_service.start()
            agent.start()
        self.api_thread = threading.Thread(target=self.api_server.run, name='api',
                                           daemon=True)
        self.api_thread.start()
        if CONF.auth_strategy == 'noauth':
            LOG.warning('API on http://%s:%s has no authentication (auth_strategy = '
                        'noauth): anyone on this machine can migrate every VM.',
                        CONF.api.host_ip, CONF.api.port)
        else:
            LOG.info('API listening on http://%s:%s, auth_strategy = %s', CONF.api.host_ip,
                     CONF.api.port, CONF.auth_strategy)

    def stop(self):
        self.api_server.close()
        for agent, rpc_service in self.agents:
            rpc_service.stop()
            agent.stop()
        self.conductor_service.stop()
        self.conductor.stop()
        notifications.reset()
        rpc.cleanup()


def main(argv=None):
    from oslo_messaging import transport
    CONF.register_opts(transport._transport_opts)
    CONF.set_default('transport_url', 'inproc://')
    service.prepare(argv if argv is not None else sys.argv, 'migrator, every service in one '
                    'process')
    try:
        everything = AllInOne()
        everything.start()
    except exceptions.MigratorException as exc:
        LOG.error('%s', exc)
        return 1
    try:
        service.wait_for_signal()
    finally:
        everything.stop()
    return 0
