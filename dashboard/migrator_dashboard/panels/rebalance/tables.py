from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import format as fmt
from migrator_dashboard.common import roles
from migrator_dashboard.panels.migrations import tables as migration_tables

PLAN_STATUSES = (('planned', True), ('applying', None), ('applied', True),
                 ('partial', False), ('failed', False), ('cancelled', False))
MOVE_STATUSES = (('planned', None), ('running', None), ('completed', True),
                 ('failed', False), ('skipped', False))


class CreatePlan(roles.AdminOnly, tables.LinkAction):
    name = 'create'
    verbose_name = _('Create Plan')
    url = 'horizon:admin:rebalance:create'
    classes = ('ajax-modal',)
    icon = 'plus'


class ApplyPlan(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'apply'
    classes = ('btn-danger',)
    help_text = _('The moves start, jobset by jobset, as live migrations.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Apply Plan', 'Apply Plans', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Applying Plan', 'Applying Plans', count)

    def allowed_for(self, request, datum):
        return datum is not None and datum['status'] == 'planned'

    def action(self, request, obj_id):
        migrator.plan_apply(request, obj_id)


class CancelPlan(roles.AdminOnly, tables.BatchAction):
    name = 'cancel'
    help_text = _('A cancelled plan can never be applied; nothing moves.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Cancel Plan', 'Cancel Plans', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Cancelled Plan', 'Cancelled Plans', count)

    def allowed_for(self, request, datum):
        return datum is not None and datum['status'] == 'planned'

    def action(self, request, obj_id):
        migrator.plan_cancel(request, obj_id)


class UpdatePlanRow(tables.Row):
    ajax = True

    def get_data(self, request, plan_id):
        try:
            return migrator.plan_get(request, plan_id)
        except Exception:
            exceptions.handle(request, _('Unable to refresh plan %s.') % plan_id)


def plan_url(plan):
    return reverse('horizon:admin:rebalance:detail', args=(plan['id'],))


def score(plan):
    return f"{plan.get('score_before', 0):.4f} \u2192 {plan.get('score_after', 0):.4f}"


class PlansTable(tables.DataTable):
    created = tables.Column(lambda p: fmt.timestamp(p.get('created_at')),
                            verbose_name=_('Created'), link=plan_url)
    status = tables.Column('status', verbose_name=_('Status'), status=True,
                           status_choices=PLAN_STATUSES)
    score = tables.Column(score, verbose_name=_('Score (before \u2192 after)'))
    moves = tables.Column(lambda p: p.get('move_count', len(p.get('moves') or [])),
                          verbose_name=_('Moves'))
    jobsets = tables.Column('jobsets', verbose_name=_('Jobsets'))
    predicted = tables.Column(lambda p: fmt.seconds(p.get('predicted_seconds')),
                              verbose_name=_('Predicted duration'))
    requester = tables.Column(lambda p: (p.get('requester') or {}).get('user_name') or '-',
                              verbose_name=_('Requested by'))

    def get_object_id(self, datum):
        return datum['id']

    def get_object_display(self, datum):
        return _('plan of %s') % fmt.timestamp(datum.get('created_at'))

    class Meta:
        name = 'plans'
        verbose_name = _('Rebalance plans')
        status_columns = ('status',)
        row_class = UpdatePlanRow
        table_actions = (CreatePlan,)
        row_actions = (ApplyPlan, CancelPlan)


class PlanTable(PlansTable):
    """The plan alone on its page: its status refreshes itself while it is applied."""

    class Meta:
        name = 'plan'
        verbose_name = _('Plan')
        status_columns = ('status',)
        row_class = UpdatePlanRow
        row_actions = (ApplyPlan, CancelPlan)


class UpdateMoveRow(tables.Row):
    ajax = True

    def get_data(self, request, seq):
        plan_id = self.table.kwargs['plan_id']
        try:
            plan = migrator.plan_get(request, plan_id)
        except Exception:
            exceptions.handle(request, _('Unable to refresh plan %s.') % plan_id)
            return None
        return next((m for m in plan.get('moves') or [] if str(m['seq']) == str(seq)), None)


def move_migration_link(move):
    if not move.get('migration_id'):
        return None
    return reverse('horizon:admin:migrations:detail', args=(move['migration_id'],))


class MovesTable(tables.DataTable):
    seq = tables.Column('seq', verbose_name=_('#'))
    jobset = tables.Column('jobset', verbose_name=_('Jobset'))
    instance = tables.Column('instance_name', verbose_name=_('Instance'),
                             link=move_migration_link)
    route = tables.Column(migration_tables.route, verbose_name=_('Source \u2192 Target'))
    size = tables.Column(lambda m: f"{m.get('memory_mb')} MiB, {m.get('vcpus')} vCPU",
                         verbose_name=_('Size'))
    gain = tables.Column(lambda m: f"{m.get('gain', 0):.4f}", verbose_name=_('Gain'))
    predicted = tables.Column(lambda m: fmt.seconds(m.get('predicted_seconds')),
                              verbose_name=_('Predicted'))
    status = tables.Column('status', verbose_name=_('Status'), status=True,
                           status_choices=MOVE_STATUSES)
    reason = tables.Column(lambda m: m.get('reason') or '-', verbose_name=_('Reason'))

    def get_object_id(self, datum):
        return str(datum['seq'])

    class Meta:
        name = 'moves'
        verbose_name = _('Moves')
        status_columns = ('status',)
        row_class = UpdateMoveRow
