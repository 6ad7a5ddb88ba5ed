from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import format as fmt
from migrator_dashboard.common import views
from migrator_dashboard.panels.hosts import drain_tables
from migrator_dashboard.panels.hosts import forms as host_forms
from migrator_dashboard.panels.hosts import tables as host_tables

INDEX_URL = reverse_lazy('horizon:admin:migration_hosts:index')


class IndexView(tables.MultiTableView):
    table_classes = (host_tables.HostsTable, host_tables.DrainsTable)
    page_title = _('Hosts')
    template_name = 'admin/migration_hosts/index.html'

    def get_hosts_data(self):
        try:
            return migrator.host_list(self.request)
        except Exception:
            exceptions.handle(self.request, _('Unable to list hosts.'))
            return []

    def get_drains_data(self):
        try:
            return migrator.drain_list(self.request, limit=20)
        except Exception:
            exceptions.handle(self.request, _('Unable to list drains.'))
            return []


class AdminFormView(views.AdminModalFormView):
    """A form about one host (its name in the URL)."""

    def get_initial(self):
        return {'host': self.kwargs['host']}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context['host'] = self.kwargs['host']
        return context

    def next_url(self, form):
        return form.success_url() if form else INDEX_URL


class DrainView(AdminFormView):
    form_class = host_forms.DrainForm
    form_id = 'drain_host_form'
    modal_id = 'drain_host_modal'
    help_text = _('The host goes into maintenance (nothing new is placed there) and every '
                  'guest moves off it, a few at a time; the drain page shows what becomes of '
                  'each guest.')
    submit_label = _('Drain')
    page_title = _('Drain Host')

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        try:
            hosts = [h['name'] for h in migrator.host_list(self.request)]
        except Exception:
            exceptions.handle(self.request, _('Unable to list hosts.'))
            hosts = []
        kwargs['hosts'] = [h for h in hosts if h != self.kwargs['host']]
        return kwargs


class UndrainView(AdminFormView):
    form_class = host_forms.UndrainForm
    form_id = 'undrain_host_form'
    modal_id = 'undrain_host_modal'
    help_text = _('The host is enabled again. Returning the guests moves back those its '
                  'last drain took away.')
    submit_label = _('Undrain')
    page_title = _('Undrain Host')


class DrainDetailView(tables.MultiTableView):
    table_classes = (drain_tables.DrainJobTable, drain_tables.DrainItemsTable)
    template_name = 'admin/migration_hosts/drain_detail.html'
    page_title = _('Drain of {{ job.host }}')

    def _job(self):
        if not hasattr(self, '_job_cache'):
            try:
                self._job_cache = migrator.drain_get(self.request, self.kwargs['drain_id'])
            except Exception:
                exceptions.handle(self.request, _('Unable to show drain %s.')
                                  % self.kwargs['drain_id'], redirect=INDEX_URL)
        return self._job_cache

    def get_drain_data(self):
        return [self._job()]

    def get_drain_items_data(self):
        return self._job().get('items') or []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self._job()
        context['job'] = job
        requester = job.get('requester') or {}
        context['fields'] = [
            (_('ID'), job['id']), (_('Kind'), job.get('kind')), (_('Host'), job.get('host')),
            (_('Mode'), job.get('mode')), (_('Max parallel'), job.get('max_parallel')),
            (_('Target hosts'), ', '.join(job.get('target_hosts') or []) or _('any')),
            (_('Requested by'), requester.get('user_name') or '-'),
            (_('Created'), fmt.timestamp(job.get('created_at'))),
            (_('Finished'), fmt.timestamp(job.get('finished_at'))),
        ]
        return context
