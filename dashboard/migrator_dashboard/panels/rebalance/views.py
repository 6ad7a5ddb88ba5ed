from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import format as fmt
from migrator_dashboard.common import load_chart, views
from migrator_dashboard.panels.rebalance import forms as plan_forms
from migrator_dashboard.panels.rebalance import tables as plan_tables

INDEX_URL = reverse_lazy('horizon:admin:rebalance:index')


class IndexView(tables.DataTableView):
    table_class = plan_tables.PlansTable
    page_title = _('Rebalance')
    template_name = 'admin/rebalance/index.html'

    def get_data(self):
        try:
            return migrator.plan_list(self.request)
        except Exception:
            exceptions.handle(self.request, _('Unable to list plans.'))
            return []


class CreateView(views.AdminModalFormView):
    form_class = plan_forms.CreatePlanForm
    form_id = 'create_plan_form'
    modal_id = 'create_plan_modal'
    submit_label = _('Create Plan')
    page_title = _('Create Rebalance Plan')
    help_text = _('The planner moves nothing: it proposes moves that even out memory and '
                  'vCPU use, in jobsets whose moves run together. You review the plan, then '
                  'apply it.')

    def next_url(self, form):
        if form and form.plan:
            return reverse('horizon:admin:rebalance:detail', args=(form.plan['id'],))
        return INDEX_URL


def jobsets(moves):
    """[(jobset, [moves], predicted seconds)]: a jobset lasts as long as its longest move."""
    groups = {}
    for move in moves:
        groups.setdefault(move.get('jobset', 0), []).append(move)
    return [(number, group, max((m.get('predicted_seconds') or 0) for m in group))
            for number, group in sorted(groups.items())]


class DetailView(tables.MultiTableView):
    table_classes = (plan_tables.PlanTable, plan_tables.MovesTable)
    template_name = 'admin/rebalance/detail.html'
    page_title = _('Rebalance plan')

    def _plan(self):
        if not hasattr(self, '_plan_cache'):
            try:
                self._plan_cache = migrator.plan_get(self.request, self.kwargs['plan_id'])
            except Exception:
                exceptions.handle(self.request, _('Unable to show plan %s.')
                                  % self.kwargs['plan_id'], redirect=INDEX_URL)
        return self._plan_cache

    def get_plan_data(self):
        return [self._plan()]

    def get_moves_data(self):
        return sorted(self._plan().get('moves') or [], key=lambda m: m['seq'])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plan = self._plan()
        context['plan'] = plan
        context['jobsets'] = [{'number': n, 'moves': len(g), 'predicted': fmt.seconds(p)}
                              for n, g, p in jobsets(plan.get('moves') or [])]
        context['fields'] = [
            (_('Score'), plan_tables.score(plan)),
            (_('Memory spread'), f"{plan.get('memory_spread_before', 0):.4f} \u2192 "
                                 f"{plan.get('memory_spread_after', 0):.4f}"),
            (_('vCPU spread'), f"{plan.get('vcpu_spread_before', 0):.4f} \u2192 "
                               f"{plan.get('vcpu_spread_after', 0):.4f}"),
            (_('Predicted duration'), fmt.seconds(plan.get('predicted_seconds'))),
            (_('Why the planner stopped'), plan.get('stop_reason') or '-'),
            (_('Error'), plan.get('error') or '-'),
        ]
        planned = plan.get('status') == 'planned'
        try:
            hosts = migrator.host_list(self.request)
        except Exception:
            exceptions.handle(self.request, _('Unable to list hosts.'))
            hosts = []
        # Before it is applied: the hosts now, and as the moves would leave them. Once
        # applied the hosts already show the moves' effect: only "now" is honest.
        context['load_chart'] = load_chart.load_chart(
            hosts, plan.get('moves') if planned else (), show_after=planned)
        return context
