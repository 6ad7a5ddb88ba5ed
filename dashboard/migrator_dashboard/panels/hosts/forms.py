from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from horizon import exceptions, forms, messages

from migrator_dashboard.api import migrator

MODES = (('live', _('Live: live-migrate every guest')),
         ('live_then_cold', _('Live, then cold for a guest that cannot go live')),
         ('cold', _('Cold: cold-migrate every guest')))


class DrainForm(forms.SelfHandlingForm):
    host = forms.CharField(widget=forms.HiddenInput())
    mode = forms.ChoiceField(label=_('Mode'), choices=MODES, initial='live')
    max_parallel = forms.IntegerField(
        label=_('Max parallel'), min_value=1, max_value=64, required=False,
        help_text=_('Migrations at a time; empty: the service default ([drain] '
                    'max_parallel, 2).'))
    target_hosts = forms.MultipleChoiceField(
        label=_('Target hosts'), required=False,
        help_text=_('The hosts the guests may go to; none selected: any host the scheduler '
                    'picks.'))

    def __init__(self, request, *args, **kwargs):
        hosts = kwargs.pop('hosts', [])
        super().__init__(request, *args, **kwargs)
        self.fields['target_hosts'].choices = [(h, h) for h in hosts]
        self.job = None

    def handle(self, request, data):
        try:
            self.job = migrator.host_drain(request, data['host'], mode=data['mode'],
                                           max_parallel=data['max_parallel'],
                                           target_hosts=data['target_hosts'] or None)
        except Exception:
            exceptions.handle(request, _('Unable to drain host %s.') % data['host'])
            return False
        messages.success(request, _('Drain of %s accepted.') % data['host'])
        return self.job

    def success_url(self):
        return reverse('horizon:admin:migration_hosts:drain_detail', args=(self.job['id'],))


class UndrainForm(forms.SelfHandlingForm):
    host = forms.CharField(widget=forms.HiddenInput())
    return_guests = forms.BooleanField(
        label=_('Return the guests'), required=False, initial=True,
        help_text=_("Also move back the guests the host's last drain moved away (those "
                    "still where the drain put them)."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = None

    def handle(self, request, data):
        try:
            answer = migrator.host_undrain(request, data['host'],
                                           return_guests=data['return_guests'])
        except Exception:
            exceptions.handle(request, _('Unable to undrain host %s.') % data['host'])
            return False
        self.job = answer.get('return')
        if self.job:
            messages.success(request, _('Host %s is enabled; its guests are coming back.')
                             % data['host'])
        else:
            messages.success(request, _('Host %s is enabled.') % data['host'])
        return True

    def success_url(self):
        if self.job:
            return reverse('horizon:admin:migration_hosts:drain_detail',
                           args=(self.job['id'],))
        return reverse('horizon:admin:migration_hosts:index')
