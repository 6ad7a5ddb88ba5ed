from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import views
from migrator_dashboard.panels.server_groups import forms as group_forms
from migrator_dashboard.panels.server_groups import tables as group_tables

INDEX_URL = reverse_lazy('horizon:admin:migration_server_groups:index')


def _instances(request):
    try:
        return migrator.instance_list(request)
    except Exception:
        exceptions.handle(request, _('Unable to list instances.'))
        return []


class IndexView(tables.DataTableView):
    table_class = group_tables.GroupsTable
    page_title = _('Server Groups')
    template_name = 'admin/migration_server_groups/index.html'

    def get_data(self):
        try:
            groups = migrator.server_group_list(self.request)
        except Exception:
            exceptions.handle(self.request, _('Unable to list server groups.'))
            return []
        names = {i['uuid']: i['name'] for i in _instances(self.request)} if groups else {}
        for group in groups:
            group['member_names'] = [names.get(m, m) for m in group.get('members') or []]
        return groups


class CreateView(views.AdminModalFormView):
    form_class = group_forms.CreateGroupForm
    form_id = 'create_server_group_form'
    modal_id = 'create_server_group_modal'
    submit_label = _('Create')
    page_title = _('Create Server Group')
    help_text = _('The scheduler keeps the members of an affinity group on one host and '
                  'those of an anti-affinity group on different hosts.')

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs['instances'] = _instances(self.request)
        return kwargs

    def next_url(self, form):
        return INDEX_URL


class DetailView(tables.DataTableView):
    table_class = group_tables.MembersTable
    template_name = 'admin/migration_server_groups/detail.html'
    page_title = _('Server group {{ group.name }}')

    def _group(self):
        if not hasattr(self, '_group_cache'):
            try:
                self._group_cache = migrator.server_group_get(self.request,
                                                              self.kwargs['group_id'])
            except Exception:
                exceptions.handle(self.request, _('Unable to show server group %s.')
                                  % self.kwargs['group_id'], redirect=INDEX_URL)
        return self._group_cache

    def get_data(self):
        members = self._group().get('members') or []
        known = {i['uuid']: i for i in _instances(self.request)}
        return [known.get(uuid, {'uuid': uuid, 'name': uuid}) for uuid in members]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context['group'] = self._group()
        return context


class AddMemberView(views.AdminModalFormView):
    form_class = group_forms.AddMemberForm
    form_id = 'add_member_form'
    modal_id = 'add_member_modal'
    submit_label = _('Add')
    page_title = _('Add Member')

    def get_initial(self):
        return {'group': self.kwargs['group_id']}

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs['instances'] = _instances(self.request)
        return kwargs

    def next_url(self, form):
        return reverse('horizon:admin:migration_server_groups:detail',
                       args=(self.kwargs['group_id'],))
