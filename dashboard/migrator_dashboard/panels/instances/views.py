from concurrent import futures

from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import views
from migrator_dashboard.panels.instances import forms as instance_forms
from migrator_dashboard.panels.instances import tables as instance_tables

INDEX_URL = reverse_lazy('horizon:admin:migration_instances:index')
MIGRATIONS_URL = reverse_lazy('horizon:admin:migrations:index')
# Dry runs asked at once when the Migrate form opens (one per candidate host).
DRY_RUN_WORKERS = 4


class IndexView(tables.DataTableView):
    table_class = instance_tables.InstancesTable
    page_title = _('Instances')
    template_name = 'admin/migration_instances/index.html'

    def get_data(self):
        info = self.get_server_filter_info(self.request)
        host = info['value'] if info and info['field'] == 'host' else None
        try:
            return migrator.instance_list(self.request, host=host or None)
        except Exception:
            exceptions.handle(self.request, _('Unable to list instances.'))
            return []


def _answer(request, instance, host):
    """The scheduler's dry-run answer for one target (None: its own choice)."""
    try:
        return migrator.migration_dry_run(request, instance, target_host=host)
    except migrator.MigratorAPIError as exc:
        return {'possible': False, 'target_host': None, 'reason': str(exc)}


def dry_runs(request, instance):
    """(instance, [(host or None, answer)], [host names]): the scheduler's word on each
    host the instance could go to, asked in parallel; the first entry is its own choice."""
    hosts = [h['name'] for h in migrator.host_list(request)
             if h['name'] != instance.get('host')]
    candidates = [None] + hosts
    with futures.ThreadPoolExecutor(max_workers=DRY_RUN_WORKERS) as pool:
        answers = list(pool.map(lambda h: _answer(request, instance['uuid'], h),
                                candidates))
    return list(zip(candidates, answers, strict=True))


def target_label(host, answer):
    if host is None:
        if answer.get('possible'):
            return _('Let the scheduler choose (now: %s)') % answer.get('target_host')
        return _('Let the scheduler choose (no host fits now)')
    if answer.get('possible'):
        return _('%s \u2014 fits') % host
    return _('%(host)s \u2014 refused: %(reason)s') % {'host': host,
                                                       'reason': answer.get('reason')}


class MigrateView(views.AdminModalFormView):
    form_class = instance_forms.MigrateForm
    form_id = 'migrate_instance_form'
    modal_id = 'migrate_instance_modal'
    submit_label = _('Migrate')
    page_title = _('Migrate Instance')
    side_template = 'admin/migration_instances/_dry_run.html'
    help_text = _('Empty fields take the service defaults, shown under each field. The '
                  'migration then appears in the Migrations panel.')

    def _scheduler_view(self):
        if not hasattr(self, '_answers'):
            try:
                instance = migrator.instance_get(self.request, self.kwargs['instance'])
                self._instance = instance
                self._answers = dry_runs(self.request, instance)
            except Exception:
                exceptions.handle(self.request, _('Unable to ask the scheduler about %s.')
                                  % self.kwargs['instance'], redirect=INDEX_URL)
        return self._instance, self._answers

    def get_initial(self):
        return {'instance': self.kwargs['instance']}

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        _instance, answers = self._scheduler_view()
        kwargs['targets'] = [(host or '', target_label(host, answer))
                             for host, answer in answers]
        kwargs['defaults'] = answers[0][1].get('convergence') if answers else None
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        instance, answers = self._scheduler_view()
        context['instance'] = instance
        context['answers'] = [{'host': host, 'possible': bool(answer.get('possible')),
                               'reason': answer.get('reason'),
                               'target_host': answer.get('target_host')}
                              for host, answer in answers]
        return context

    def next_url(self, form):
        return MIGRATIONS_URL
