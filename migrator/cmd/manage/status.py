"""`migrator-manage status`: is the service ready, and which services report, how recently,
at which version."""

import datetime

from migrator.cmd.manage import output

# Hosts carry their agent's version from this API microversion on.
AGENT_VERSION_MICROVERSION = '1.2'


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
    degraded = not status['ready'] or any(s['state'] != 'up' for s in status['services'])
    return 2 if degraded else 0


def register(commands):
    output.leaf(commands, 'status', do_status,
                'Readiness of the API (database and message bus), and every service with its '
                'heartbeat and version. Exit status 0: ready and every service up; 2: not '
                'ready or a service down; 1: the API could not be asked.')
