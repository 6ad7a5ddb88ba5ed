from django.utils.translation import gettext_lazy as _
from horizon import exceptions, forms, messages

from migrator_dashboard.api import migrator

TYPES = (('live', _('Live')), ('cold', _('Cold')))
BLOCK = (('auto', _('Auto: copy the disks not on shared storage')),
         ('true', _('Yes: copy the disks (expect a copy)')),
         ('false', _('No: shared storage only')))
BLOCK_VALUES = {'auto': 'auto', 'true': True, 'false': False}
TRISTATE = (('', _('Default')), ('true', _('Yes')), ('false', _('No')))
TIMEOUT_ACTIONS = (('', _('Default')), ('abort', _('Abort')),
                   ('force_complete', _('Force complete')))

# Convergence controls: (field, label, min, max, help).
INTEGER_CONTROLS = (
    ('max_downtime_ms', _('Max downtime (ms)'), 1, 60000,
     _('Longest pause of the guest for the final copy.')),
    ('downtime_steps', _('Downtime steps'), 1, 100,
     _('Steps up to the max downtime, one per memory iteration that did not converge.')),
    ('bandwidth_mib', _('Bandwidth (MiB/s)'), 0, 1048576, _('0: unlimited.')),
    ('completion_timeout_per_gib', _('Completion timeout (s per GiB)'), 0, 86400,
     _('0: no limit.')),
)
CHOICE_CONTROLS = (
    ('auto_converge', _('Auto-converge'), TRISTATE,
     _('QEMU throttles the vCPUs while the copy does not converge.')),
    ('post_copy', _('Permit post-copy'), TRISTATE,
     _('Force-complete or the timeout may switch to post-copy; a host failure then loses '
       'the guest.')),
    ('timeout_action', _('At the timeout'), TIMEOUT_ACTIONS, None),
)
CONTROLS = tuple(c[0] for c in INTEGER_CONTROLS + CHOICE_CONTROLS)


def _default_text(value):
    if value is True:
        return _('Yes')
    if value is False:
        return _('No')
    return str(value)


class MigrateForm(forms.SelfHandlingForm):
    instance = forms.CharField(widget=forms.HiddenInput())
    type = forms.ChoiceField(label=_('Type'), choices=TYPES, initial='live')
    target_host = forms.ChoiceField(
        label=_('Target host'), required=False,
        help_text=_("Each host with the scheduler's answer for this instance now."))
    block_migration = forms.ChoiceField(label=_('Block migration'), choices=BLOCK,
                                        initial='auto', required=False)

    def __init__(self, request, *args, **kwargs):
        targets = kwargs.pop('targets', [])
        defaults = kwargs.pop('defaults', None) or {}
        super().__init__(request, *args, **kwargs)
        self.fields['target_host'].choices = targets
        for name, label, low, high, help_text in INTEGER_CONTROLS:
            self.fields[name] = forms.IntegerField(
                label=label, min_value=low, max_value=high, required=False,
                help_text=self._with_default(help_text, defaults, name),
                widget=forms.NumberInput(attrs={'placeholder': defaults.get(name, '')}))
        for name, label, choices, help_text in CHOICE_CONTROLS:
            self.fields[name] = forms.ChoiceField(
                label=label, choices=choices, required=False,
                help_text=self._with_default(help_text, defaults, name))
        self.migration = None

    @staticmethod
    def _with_default(help_text, defaults, name):
        if name not in defaults:
            return help_text or _('Empty: the service default.')
        default = _('Default: %s.') % _default_text(defaults[name])
        return f'{help_text} {default}' if help_text else default

    def clean(self):
        data = super().clean()
        if data.get('type') == 'cold':
            live_only = [n for n in CONTROLS if data.get(n) not in (None, '')]
            if live_only:
                raise forms.ValidationError(
                    _('%s apply to live migrations only; leave them empty for a cold '
                      'migration.') % ', '.join(live_only))
            if data.get('block_migration') not in (None, '', 'auto'):
                raise forms.ValidationError(
                    _('Block migration applies to live migrations only: a cold migration '
                      'always copies the disks that are not shared; leave it on Auto.'))
        return data

    def request_fields(self, data):
        fields = {'type': data['type'], 'target_host': data.get('target_host') or None}
        if data['type'] == 'live':
            fields['block_migration'] = BLOCK_VALUES[data.get('block_migration') or 'auto']
            for name in CONTROLS:
                value = data.get(name)
                if value in (None, ''):
                    continue
                fields[name] = {'true': True, 'false': False}.get(value, value)
        return fields

    def handle(self, request, data):
        try:
            self.migration = migrator.migration_create(request, data['instance'],
                                                       **self.request_fields(data))
        except Exception:
            exceptions.handle(request, _('Unable to migrate %s.') % data['instance'])
            return False
        messages.success(request, _('Migration of %(instance)s accepted (%(id)s).') % {
            'instance': self.migration.get('instance_name'), 'id': self.migration['id']})
        return self.migration
