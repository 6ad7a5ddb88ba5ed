from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from horizon import tables

from migrator_dashboard.common import roles


class MigrateInstance(roles.AdminOnly, tables.LinkAction):
    name = 'migrate'
    verbose_name = _('Migrate')
    url = 'horizon:admin:migration_instances:migrate'
    classes = ('ajax-modal', 'btn-primary')
    icon = 'exchange'

    def allowed_for(self, request, datum):
        return datum is not None and datum.get('host') and not datum.get('migration_id')


class InstanceFilter(tables.FilterAction):
    filter_type = 'server'
    filter_choices = (('host', _('Host ='), True),)


def migration_link(instance):
    if not instance.get('migration_id'):
        return None
    return reverse('horizon:admin:migrations:detail', args=(instance['migration_id'],))


class InstancesTable(tables.DataTable):
    name = tables.Column('name', verbose_name=_('Name'))
    uuid = tables.Column('uuid', verbose_name=_('UUID'))
    host = tables.Column(lambda i: i.get('host') or '-', verbose_name=_('Host'))
    power_state = tables.Column('power_state', verbose_name=_('Power state'))
    memory = tables.Column(lambda i: f"{i.get('memory_mb')} MiB", verbose_name=_('Memory'))
    vcpus = tables.Column('vcpus', verbose_name=_('vCPUs'))
    disk = tables.Column(lambda i: f"{i.get('disk_gb')} GiB", verbose_name=_('Disk'))
    migration = tables.Column(lambda i: _('in flight') if i.get('migration_id') else '-',
                              verbose_name=_('Migration'), link=migration_link)

    def get_object_id(self, datum):
        return datum['uuid']

    def get_object_display(self, datum):
        return datum['name']

    class Meta:
        name = 'instances'
        verbose_name = _('Instances')
        table_actions = (InstanceFilter,)
        row_actions = (MigrateInstance,)
