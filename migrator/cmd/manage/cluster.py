"""`migrator-manage cluster snapshot`: the cluster as a snapshot for offline planning."""

import json

from migrator.cmd.manage import output
from migrator.planner import snapshot


def do_cluster_snapshot(args):
    hosts = args.client.host_list()
    instances = args.client.instance_list()
    up = {h['name']: h.get('state') == 'up' for h in hosts}
    print(json.dumps(snapshot.document(hosts, instances, up), indent=2))
    return 0



def register(commands):
    cluster = output.group(commands, 'cluster', 'The cluster as a whole.')
    output.leaf(cluster, 'snapshot', do_cluster_snapshot,
                'Print the cluster (hosts and instances) as a snapshot for offline planning '
                '(JSON on stdout).')
