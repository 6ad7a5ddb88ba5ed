from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import format as fmt
from migrator_dashboard.common import roles

IN_FLIGHT = ('accepted', 'queued', 'scheduling', 'preparing', 'running', 'post_copy',
             'stopping', 'copying', 'starting', 'finishing', 'cancelling', 'rolling_back')
ABORTABLE = ('accepted', 'queued', 'scheduling', 'preparing', 'running', 'stopping',
             'copying', 'starting')
FINAL_OK = ('completed',)
FINAL_BAD = ('cancelled', 'failed', 'error')

# Horizon polls a row while its status maps to None, and stops once it is True or False.
STATUS_CHOICES = tuple((s, None) for s in IN_FLIGHT) + tuple(
    (s, True) for s in FINAL_OK) + tuple((s, False) for s in FINAL_BAD)

STATUS_DISPLAY = tuple((s, s.replace('_', ' ').capitalize()) for s in
                       IN_FLIGHT + FINAL_OK + FINAL_BAD)


class AbortMigration(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'abort'
    classes = ('btn-danger',)
    help_text = _('The guest stays on (or goes back to) its source host.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Abort Migration', 'Abort Migrations', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Abort requested for Migration',
                             'Abort requested for Migrations', count)

    def allowed_for(self, request, datum):
        return datum is None or datum['status'] in ABORTABLE

    def action(self, request, obj_id):
        migrator.migration_abort(request, obj_id)


class ForceCompleteMigration(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'force_complete'
    classes = ('btn-warning',)
    help_text = _('Pauses the guest (or switches to post-copy when permitted) so that '
                  'the migration finishes now.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Force Complete', 'Force Complete', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Force-completion requested for Migration',
                             'Force-completion requested for Migrations', count)

    def allowed_for(self, request, datum):
        return (datum is not None and datum['status'] == 'running'
                and datum['type'] == 'live')

    def action(self, request, obj_id):
        migrator.migration_force_complete(request, obj_id)


class MigrationFilter(tables.FilterAction):
    filter_type = 'server'
    filter_choices = (('status', _('Status ='), True),
                      ('host', _('Host ='), True),
                      ('instance', _('Instance ='), True))


class UpdateRow(tables.Row):
    ajax = True

    def get_data(self, request, migration_id):
        try:
            return migrator.migration_get(request, migration_id)
        except Exception:
            exceptions.handle(request, _('Unable to refresh migration %s.') % migration_id)


def progress_bar(migration):
    status = migration.get('status')
    if status == 'completed':
        bar_class = 'progress-bar-success'
    elif status in FINAL_BAD or status == 'failed':
        bar_class = 'progress-bar-danger'
    elif status in IN_FLIGHT:
        bar_class = 'progress-bar-striped active'
    else:
        bar_class = ''
    return render_to_string('admin/migrations/_progress.html', {
        'progress': migration.get('progress') or 0.0, 'status': status,
        'bar_class': bar_class})


def route(migration):
    return f"{migration.get('source_host') or '-'} \u2192 {migration.get('target_host') or '?'}"


def instance_name(migration):
    return migration.get('instance_name') or migration.get('instance_uuid')


def detail_url(migration):
    return reverse('horizon:admin:migrations:detail', args=(migration['id'],))


class MigrationsTable(tables.DataTable):
    instance = tables.Column(instance_name, verbose_name=_('Instance'), link=detail_url)
    type = tables.Column('type', verbose_name=_('Type'))
    status = tables.Column('status', verbose_name=_('Status'), status=True,
                           status_choices=STATUS_CHOICES, display_choices=STATUS_DISPLAY)
    route = tables.Column(route, verbose_name=_('Source \u2192 Target'))
    progress = tables.Column(progress_bar, verbose_name=_('Progress'),
                             classes=('migration-progress-cell',))
    eta = tables.Column(lambda m: fmt.seconds(m.get('eta_seconds'))
                        if m.get('status') in IN_FLIGHT else '-', verbose_name=_('ETA'))
    started = tables.Column(lambda m: fmt.timestamp(m.get('started_at')),
                            verbose_name=_('Started'))
    duration = tables.Column(lambda m: fmt.seconds(m.get('duration_seconds')),
                             verbose_name=_('Duration'))

    def get_object_id(self, datum):
        return datum['id']

    def get_object_display(self, datum):
        return f"{instance_name(datum)} ({datum['id'][:8]})"

    class Meta:
        name = 'migrations'
        verbose_name = _('Migrations')
        status_columns = ('status',)
        row_class = UpdateRow
        table_actions = (MigrationFilter, AbortMigration)
        row_actions = (ForceCompleteMigration, AbortMigration)
