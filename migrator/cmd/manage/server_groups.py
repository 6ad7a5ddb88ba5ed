"""`migrator-manage server-group ...`: affinity and anti-affinity groups of instances."""

from migrator.cmd.manage import output

GROUP_FIELDS = ('id', 'name', 'policy', 'members', 'created_at')


def _show(args, group):
    output.emit(args, group, lambda: output.format_record(group, GROUP_FIELDS))
    return 0


def do_list(args):
    groups = args.client.server_group_list()
    output.emit(args, {'server_groups': groups}, lambda: output.format_table(
        ['ID', 'Name', 'Policy', 'Members'],
        [(g['id'], g['name'], g['policy'], ', '.join(g['members'])) for g in groups]))
    return 0


def do_show(args):
    return _show(args, args.client.server_group_get(args.group))


def do_create(args):
    return _show(args, args.client.server_group_create(args.name, args.policy, args.member))


def do_delete(args):
    args.client.server_group_delete(args.group)
    if args.format == 'json':
        print('{}')
    else:
        print(f'Server group {args.group} deleted.')
    return 0


def do_add_member(args):
    return _show(args, args.client.server_group_add_member(args.group, args.instance))


def do_remove_member(args):
    return _show(args, args.client.server_group_remove_member(args.group, args.instance))


def register(commands):
    group = output.group(commands, 'server-group',
                         'Server groups: instances kept together (affinity) or apart '
                         '(anti-affinity) when the scheduler moves them.')
    output.leaf(group, 'list', do_list, 'List the server groups.')
    leaf = output.leaf(group, 'show', do_show, 'Show one server group.')
    leaf.add_argument('group', metavar='GROUP', help='Id or name.')
    leaf = output.leaf(group, 'create', do_create, 'Create a server group.')
    leaf.add_argument('name', metavar='NAME')
    leaf.add_argument('--policy', required=True, choices=('affinity', 'anti-affinity'))
    leaf.add_argument('--member', action='append', default=[], metavar='INSTANCE',
                      help='An instance (UUID or name) to put in it; repeatable.')
    leaf = output.leaf(group, 'delete', do_delete, 'Delete a server group.')
    leaf.add_argument('group', metavar='GROUP', help='Id or name.')
    leaf = output.leaf(group, 'add-member', do_add_member, 'Add an instance to a group.')
    leaf.add_argument('group', metavar='GROUP', help='Id or name.')
    leaf.add_argument('instance', metavar='INSTANCE', help='UUID or name.')
    leaf = output.leaf(group, 'remove-member', do_remove_member,
                       'Remove an instance from a group.')
    leaf.add_argument('group', metavar='GROUP', help='Id or name.')
    leaf.add_argument('instance', metavar='INSTANCE', help='UUID or name.')
