from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from horizon import tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import roles


class CreateGroup(roles.AdminOnly, tables.LinkAction):
    name = 'create'
    verbose_name = _('Create Server Group')
    url = 'horizon:admin:migration_server_groups:create'
    classes = ('ajax-modal',)
    icon = 'plus'


class DeleteGroup(roles.AdminOnly, tables.DeleteAction):
    name = 'delete'

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Delete Server Group', 'Delete Server Groups', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Deleted Server Group', 'Deleted Server Groups', count)

    def delete(self, request, obj_id):
        migrator.server_group_delete(request, obj_id)


def group_url(group):
    return reverse('horizon:admin:migration_server_groups:detail', args=(group['id'],))


class GroupsTable(tables.DataTable):
    name = tables.Column('name', verbose_name=_('Name'), link=group_url)
    policy = tables.Column('policy', verbose_name=_('Policy'))
    members = tables.Column(lambda g: ', '.join(g.get('member_names') or []) or '-',
                            verbose_name=_('Members'))

    def get_object_id(self, datum):
        return datum['id']

    def get_object_display(self, datum):
        return datum['name']

    class Meta:
        name = 'server_groups'
        verbose_name = _('Server groups')
        table_actions = (CreateGroup, DeleteGroup)
        row_actions = (DeleteGroup,)


class AddMember(roles.AdminOnly, tables.LinkAction):
    name = 'add_member'
    verbose_name = _('Add Member')
    classes = ('ajax-modal',)
    icon = 'plus'

    def get_link_url(self, datum=None):
        return reverse('horizon:admin:migration_server_groups:add_member',
                       args=(self.table.kwargs['group_id'],))


class RemoveMember(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'remove'
    classes = ('btn-danger',)

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Remove Member', 'Remove Members', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Removed Member', 'Removed Members', count)

    def action(self, request, obj_id):
        migrator.server_group_remove_member(request, self.table.kwargs['group_id'], obj_id)


class MembersTable(tables.DataTable):
    name = tables.Column('name', verbose_name=_('Instance'))
    uuid = tables.Column('uuid', verbose_name=_('UUID'))
    host = tables.Column(lambda i: i.get('host') or '-', verbose_name=_('Host'))
    power_state = tables.Column(lambda i: i.get('power_state') or '-',
                                verbose_name=_('Power state'))

    def get_object_id(self, datum):
        return datum['uuid']

    def get_object_display(self, datum):
        return datum['name']

    class Meta:
        name = 'members'
        verbose_name = _('Members')
        table_actions = (AddMember,)
        row_actions = (RemoveMember,)
