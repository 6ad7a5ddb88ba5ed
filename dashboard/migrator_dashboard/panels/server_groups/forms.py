from django.utils.translation import gettext_lazy as _
from horizon import exceptions, forms, messages

from migrator_dashboard.api import migrator

POLICIES = (('anti-affinity', _('Anti-affinity: never on the same host')),
            ('affinity', _('Affinity: always on the same host')))


class CreateGroupForm(forms.SelfHandlingForm):
    name = forms.CharField(label=_('Name'), max_length=255)
    policy = forms.ChoiceField(label=_('Policy'), choices=POLICIES)
    members = forms.MultipleChoiceField(label=_('Members'), required=False,
                                        help_text=_('An instance belongs to one group at '
                                                    'most.'))

    def __init__(self, request, *args, **kwargs):
        instances = kwargs.pop('instances', [])
        super().__init__(request, *args, **kwargs)
        self.fields['members'].choices = [(i['uuid'], i['name']) for i in instances]

    def handle(self, request, data):
        try:
            group = migrator.server_group_create(request, data['name'], data['policy'],
                                                 data['members'])
        except Exception:
            exceptions.handle(request, _('Unable to create server group %s.') % data['name'])
            return False
        messages.success(request, _('Server group %s created.') % group['name'])
        return group


class AddMemberForm(forms.SelfHandlingForm):
    group = forms.CharField(widget=forms.HiddenInput())
    instance = forms.ChoiceField(label=_('Instance'))

    def __init__(self, request, *args, **kwargs):
        instances = kwargs.pop('instances', [])
        super().__init__(request, *args, **kwargs)
        self.fields['instance'].choices = [(i['uuid'], i['name']) for i in instances]

    def handle(self, request, data):
        try:
            migrator.server_group_add_member(request, data['group'], data['instance'])
        except Exception:
            exceptions.handle(request, _('Unable to add the member.'))
            return False
        messages.success(request, _('Member added.'))
        return True
