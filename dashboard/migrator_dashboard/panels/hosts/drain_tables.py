"""The drain page: the job itself and one row per guest, each refreshing itself until it
has reached its outcome."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.panels.hosts import tables as host_tables
from migrator_dashboard.panels.migrations import tables as migration_tables

ITEM_STATUSES = (('pending', None), ('running', None), ('moved', True), ('gone', True),
                 ('failed', False), ('cancelled', False))


def item_id(item):
    return item.get('instance_uuid') or item['instance_name']


class UpdateItemRow(tables.Row):
    ajax = True

    def get_data(self, request, obj_id):
        drain_id = self.table.kwargs['drain_id']
        try:
            job = migrator.drain_get(request, drain_id)
        except Exception:
            exceptions.handle(request, _('Unable to refresh drain %s.') % drain_id)
            return None
        for item in job.get('items') or []:
            if item_id(item) == obj_id:
                return item
        return None


def item_progress(item):
    live = item.get('migration') or {}
    if item.get('status') == 'moved':
        live = dict(live, progress=100.0, status='completed')
    return migration_tables.progress_bar({
        'progress': live.get('progress') or 0.0,
        'status': live.get('status') or item.get('status')})


def migration_link(item):
    if not item.get('migration_id'):
        return None
    return reverse('horizon:admin:migrations:detail', args=(item['migration_id'],))


class DrainItemsTable(tables.DataTable):
    instance = tables.Column('instance_name', verbose_name=_('Guest'), link=migration_link)
    status = tables.Column('status', verbose_name=_('Outcome'), status=True,
                           status_choices=ITEM_STATUSES)
    route = tables.Column(migration_tables.route, verbose_name=_('Source \u2192 Target'))
    kind = tables.Column(lambda i: i.get('migration_type') or '-', verbose_name=_('Kind'))
    progress = tables.Column(item_progress, verbose_name=_('Progress'))
    attempts = tables.Column(lambda i: i.get('attempts') or 0, verbose_name=_('Attempts'))
    reason = tables.Column(lambda i: i.get('reason') or '-', verbose_name=_('Reason'))

    def get_object_id(self, datum):
        return item_id(datum)

    class Meta:
        name = 'drain_items'
        verbose_name = _('Guests')
        status_columns = ('status',)
        row_class = UpdateItemRow


class DrainJobTable(host_tables.DrainsTable):
    """The job alone, on its own page: its status and summary refresh themselves."""

    class Meta:
        name = 'drain'
        verbose_name = _('Drain')
        status_columns = ('status',)
        row_class = host_tables.UpdateDrainRow
        row_actions = (host_tables.CancelDrain,)
