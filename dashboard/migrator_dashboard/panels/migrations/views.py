from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables, views

from migrator_dashboard.api import migrator
from migrator_dashboard.common import chart
from migrator_dashboard.common import format as fmt
from migrator_dashboard.panels.migrations import tables as migration_tables

# Samples drawn on the detail page: the newest ones, enough for a long migration's shape.
CHART_SAMPLES = 600


class IndexView(tables.DataTableView):
    table_class = migration_tables.MigrationsTable
    page_title = _('Migrations')
    template_name = 'admin/migrations/index.html'

    def get_data(self):
        filters = {}
        info = self.get_server_filter_info(self.request)
        if info['value'] and info['field']:
            filters[info['field']] = info['value']
        try:
            return migrator.migration_list(self.request, **filters)
        except Exception:
            exceptions.handle(self.request, _('Unable to list migrations.'))
            return []


class DetailView(views.HorizonTemplateView):
    template_name = 'admin/migrations/detail.html'
    page_title = _('Migration {{ migration.instance_name }}')
    index_url = reverse_lazy('horizon:admin:migrations:index')

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        migration_id = kwargs['migration_id']
        try:
            migration = migrator.migration_get(self.request, migration_id)
            samples = migrator.migration_samples(self.request, migration_id,
                                                 limit=CHART_SAMPLES)
        except Exception:
            exceptions.handle(self.request, _('Unable to show migration %s.') % migration_id,
                              redirect=self.index_url)
        context['migration'] = migration
        context['events'] = migration.get('events') or []
        context['samples_count'] = len(samples)
        context['chart'] = chart.migration_chart(samples)
        context['fields'] = _fields(migration)
        context['in_flight'] = migration['status'] in migration_tables.IN_FLIGHT
        context['progress_bar'] = migration_tables.progress_bar(migration)
        return context


def _fields(m):
    requester = m.get('requester') or {}
    conv = m.get('convergence') or {}
    rows = [
        (_('ID'), m['id']),
        (_('Instance'), f"{m.get('instance_name')} ({m.get('instance_uuid')})"),
        (_('Type'), m.get('type')),
        (_('Status'), m.get('status')),
        (_('Source host'), m.get('source_host')),
        (_('Target host'), m.get('target_host') or '-'),
        (_('Requested target'), m.get('requested_target') or _('any')),
        (_('Block migration'), m.get('block_migration')),
        (_('Conductor'), m.get('conductor')),
        (_('Progress'), f"{m.get('progress') or 0:.1f} %"),
        (_('ETA'), fmt.seconds(m.get('eta_seconds'))),
        (_('Memory remaining'), fmt.mib(m.get('memory_remaining'))),
        (_('Disk remaining'), fmt.mib(m.get('disk_remaining'))),
        (_('Dirty rate'), fmt.mib(m.get('dirty_rate')) + '/s'),
        (_('Transfer rate'), fmt.mib(m.get('transfer_rate')) + '/s'),
        (_('Iteration'), m.get('iteration')),
        (_('Downtime'), f"{m.get('downtime_ms')} ms" if m.get('downtime_ms') is not None
         else '-'),
        (_('Created'), fmt.timestamp(m.get('created_at'))),
        (_('Started'), fmt.timestamp(m.get('started_at'))),
        (_('Finished'), fmt.timestamp(m.get('finished_at'))),
        (_('Duration'), fmt.seconds(m.get('duration_seconds'))),
        (_('Requested by'), requester.get('user_name') or '-'),
        (_('Error'), m.get('error') or '-'),
    ]
    rows.extend((key.replace('_', ' ').capitalize(), value) for key, value in conv.items())
    return rows
