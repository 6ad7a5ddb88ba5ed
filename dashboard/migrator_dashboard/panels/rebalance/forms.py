from django.utils.translation import gettext_lazy as _
from horizon import exceptions, forms, messages

from migrator_dashboard.api import migrator


class CreatePlanForm(forms.SelfHandlingForm):
    max_moves = forms.IntegerField(
        label=_('Max moves'), min_value=1, max_value=10000, required=False,
        help_text=_('Empty: the service default ([planner] default_max_moves, 100).'))
    min_gain = forms.FloatField(
        label=_('Min gain'), min_value=0, max_value=1000, required=False,
        help_text=_('Stop when the best move left lowers the score by less than this. '
                    'Empty: [planner] default_min_gain.'))
    max_parallel = forms.IntegerField(
        label=_('Max parallel'), min_value=1, max_value=1000, required=False,
        help_text=_('Moves per jobset at most. Empty: no cap beyond the hosts of a jobset '
                    'being disjoint.'))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = None

    def handle(self, request, data):
        try:
            self.plan = migrator.plan_create(request, max_moves=data['max_moves'],
                                             min_gain=data['min_gain'],
                                             max_parallel=data['max_parallel'])
        except Exception:
            exceptions.handle(request, _('Unable to create a plan.'))
            return False
        messages.success(request, _('Plan created: %d moves. Review it, then apply it.')
                         % len(self.plan.get('moves') or []))
        return self.plan
