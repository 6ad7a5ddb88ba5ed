"""`migrator-manage status`: is the service ready, and which services report, how recently,
at which version: the conductors (from their heartbeats in the database, API microversion
1.3 on) and the compute agents."""

import datetime

from migrator.cmd.manage import output

# Hosts carry their agent's version from this API microversion on.
AGENT_VERSION_MICROVERSION = '1.2'
# GET /v1/conductors exists from this API microversion on.
CONDUCTORS_MICROVERSION = '1.3'


def _age(timestamp, now):
    if not timestamp:
        return None
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace('Z', '+00:00'))
    except ValueError:
        return None
    return max(0.0, (now - then).total_seconds())


def collect(client, now=None):
    """What `status` shows, as one document (the JSON output)."""
    now = now or datetime.datetime.now(datetime.UTC)
    [version] = client.versions()['versions'][:1]
    api = {'url': client.url, 'min_version': version.get('min_version', '1.0'),
           'max_version': version.get('version', '1.0')}
    ready, reasons = client.readiness()
    microversion = (AGENT_VERSION_MICROVERSION
                    if _tuple(api['max_version']) >= _tuple(AGENT_VERSION_MICROVERSION)
                    else api['max_version'])
    services = []
    if _tuple(api['max_version']) >= _tuple(CONDUCTORS_MICROVERSION):
        for conductor in client.conductor_list(f'migration {CONDUCTORS_MICROVERSION}'):
            services.append({
                'binary': 'migrator-conductor', 'host': conductor['name'],
                'state': conductor['state'], 'status': None,
                'last_heartbeat': conductor['last_heartbeat'],
                'heartbeat_age_seconds': conductor['heartbeat_age_seconds'],
                'version': conductor['version'],
            })
    for host in client.host_list_at(f'migration {microversion}'):
        age = _age(host.get('last_heartbeat'), now)
        services.append({
            'binary': 'migrator-compute', 'host': host['name'], 'state': host.get('state'),
            'status': host.get('status'), 'last_heartbeat': host.get('last_heartbeat'),
            'heartbeat_age_seconds': round(age, 1) if age is not None else None,
            'version': host.get('agent_version'),
        })
    return {'api': api, 'ready': ready, 'readiness': reasons, 'services': services}


def _tuple(text):
    major, _, minor = str(text).partition('.')
    return int(major or 0), int(minor or 0)


def do_status(args):
    status = collect(args.client)
    api = status['api']

    def table():
        lines = [f"API {api['url']}: microversions {api['min_version']} to "
                 f"{api['max_version']}",
                 f"Ready: {'yes' if status['ready'] else 'NO'} "
                 f"({'; '.join(map(str, status['readiness']))})", '']
        lines.append(output.format_table(
            ['Binary', 'Host', 'State', 'Status', 'Last heartbeat', 'Age (s)', 'Version'],
            [(s['binary'], s['host'], s['state'], s['status'], s['last_heartbeat'],
              s['heartbeat_age_seconds'], s['version']) for s in status['services']]))
        return '\n'.join(lines)

    output.emit(args, status, table)
    return 2 if degraded(status) else 0


def degraded(status):
    """Not ready; an agent down; a conductor dead (it died without stopping: its work is
    being adopted), or none alive while some have run. A conductor stopped cleanly is
    no fault."""
    services = status['services']
    conductors = [s for s in services if s['binary'] == 'migrator-conductor']
    return (not status['ready']
            or any(s['state'] != 'up' for s in services
                   if s['binary'] == 'migrator-compute')
            or any(s['state'] == 'dead' for s in conductors)
            or bool(conductors) and not any(s['state'] == 'alive' for s in conductors))


def register(commands):
    output.leaf(commands, 'status', do_status,
                'Readiness of the API (database and message bus), and every service with its '
                'heartbeat and version. Exit status 0: ready and every service up; 2: not '
                'ready, an agent down, or a conductor dead (or none alive); 1: the API '
                'could not be asked.')
