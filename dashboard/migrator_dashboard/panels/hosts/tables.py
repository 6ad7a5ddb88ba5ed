from datetime import datetime, timezone

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from horizon import exceptions, tables

from migrator_dashboard.api import migrator
from migrator_dashboard.common import format as fmt
from migrator_dashboard.common import roles

HOST_STATES = (('up', True), ('down', False))


def _set_status(request, name, status):
    migrator.host_set_status(request, name, status,
                             reason=f'set from the dashboard by {request.user.username}'
                             if status != 'enabled' else None)


class EnableHost(roles.AdminOnly, tables.BatchAction):
    name = 'enable'

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Enable Host', 'Enable Hosts', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Enabled Host', 'Enabled Hosts', count)

    def allowed_for(self, request, datum):
        return datum is None or datum['status'] != 'enabled'

    def action(self, request, obj_id):
        _set_status(request, obj_id, 'enabled')


class DisableHost(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'disable'
    classes = ('btn-danger',)
    help_text = _('A disabled host is no longer chosen as a target; its guests stay.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Disable Host', 'Disable Hosts', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Disabled Host', 'Disabled Hosts', count)

    def allowed_for(self, request, datum):
        return datum is None or datum['status'] == 'enabled'

    def action(self, request, obj_id):
        _set_status(request, obj_id, 'disabled')


class MaintenanceHost(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'maintenance'
    classes = ('btn-danger',)
    help_text = _('A host in maintenance is no longer chosen as a target; its guests stay '
                  '(drain it to move them).')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Set Maintenance', 'Set Maintenance', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Set in maintenance: Host', 'Set in maintenance: Hosts', count)

    def allowed_for(self, request, datum):
        return datum is None or datum['status'] != 'maintenance'

    def action(self, request, obj_id):
        _set_status(request, obj_id, 'maintenance')


class DrainHost(roles.AdminOnly, tables.LinkAction):
    name = 'drain'
    verbose_name = _('Drain Host')
    url = 'horizon:admin:migration_hosts:drain'
    classes = ('ajax-modal', 'btn-danger')
    icon = 'sign-out'


class UndrainHost(roles.AdminOnly, tables.LinkAction):
    name = 'undrain'
    verbose_name = _('Undrain Host')
    url = 'horizon:admin:migration_hosts:undrain'
    classes = ('ajax-modal',)
    icon = 'sign-in'

    def allowed_for(self, request, datum):
        return datum is not None and datum['status'] != 'enabled'


def capacity(used_key, claimed_key, capacity_key, unit):
    def render(host):
        total = host.get(capacity_key) or 0
        used = host.get(used_key) or 0
        claimed = host.get(claimed_key) or 0
        used_pct = min(100.0, 100.0 * used / total) if total else 0.0
        claimed_pct = min(100.0 - used_pct, 100.0 * claimed / total) if total else 0.0
        return render_to_string('admin/migration_hosts/_capacity.html', {
            'kind': capacity_key.split('_')[0], 'used': used, 'claimed': claimed,
            'total': total, 'unit': unit, 'used_pct': used_pct, 'claimed_pct': claimed_pct})
    return render


def heartbeat_age(host):
    beat = host.get('last_heartbeat')
    if not beat:
        return _('never')
    when = datetime.fromisoformat(beat.replace('Z', '+00:00'))
    return fmt.seconds(max(0.0, (datetime.now(timezone.utc) - when).total_seconds()))


def status_text(host):
    if host.get('status_reason'):
        return f"{host['status']} ({host['status_reason']})"
    return host['status']


def slots(host):
    return _('in %(inbound)s / out %(outbound)s') % {
        'inbound': host.get('migrations_inbound', 0),
        'outbound': host.get('migrations_outbound', 0)}


class HostsTable(tables.DataTable):
    name = tables.Column('name', verbose_name=_('Host'))
    state = tables.Column('state', verbose_name=_('State'), status=True,
                          status_choices=HOST_STATES)
    status = tables.Column(status_text, verbose_name=_('Status'))
    heartbeat = tables.Column(heartbeat_age, verbose_name=_('Heartbeat age'))
    instances = tables.Column('instances', verbose_name=_('Instances'))
    memory = tables.Column(capacity('memory_mb_used', 'memory_mb_claimed',
                                    'memory_mb_capacity', 'MiB'),
                           verbose_name=_('Memory (used, claimed)'))
    vcpus = tables.Column(capacity('vcpus_used', 'vcpus_claimed', 'vcpus_capacity', ''),
                          verbose_name=_('vCPUs (used, claimed)'))
    disk = tables.Column(capacity('disk_gb_used', 'disk_gb_claimed', 'disk_gb_capacity',
                                  'GiB'), verbose_name=_('Disk (used, claimed)'))
    slots = tables.Column(slots, verbose_name=_('Migrations'))

    def get_object_id(self, datum):
        return datum['name']

    def get_object_display(self, datum):
        return datum['name']

    class Meta:
        name = 'hosts'
        verbose_name = _('Hosts')
        status_columns = ('state',)
        row_actions = (DrainHost, UndrainHost, EnableHost, DisableHost, MaintenanceHost)


DRAIN_STATUSES = (('accepted', None), ('running', None), ('cancelling', None),
                  ('completed', True), ('partial', False), ('cancelled', False),
                  ('failed', False))


class CancelDrain(roles.AdminOnly, roles.Confirmed, tables.BatchAction):
    name = 'cancel'
    classes = ('btn-danger',)
    help_text = _('Guests not started yet stay where they are; running migrations finish.')

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Cancel Drain', 'Cancel Drains', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Cancel requested for Drain', 'Cancel requested for Drains',
                             count)

    def allowed_for(self, request, datum):
        return datum is not None and datum['status'] in ('accepted', 'running')

    def action(self, request, obj_id):
        migrator.drain_cancel(request, obj_id)


class UpdateDrainRow(tables.Row):
    ajax = True

    def get_data(self, request, drain_id):
        try:
            return migrator.drain_get(request, drain_id)
        except Exception:
            exceptions.handle(request, _('Unable to refresh drain %s.') % drain_id)


def summary(job):
    counts = job.get('summary') or {}
    return ', '.join(f'{n} {state}' for state, n in counts.items()
                     if state != 'total' and n) or '-'


def drain_url(job):
    return reverse('horizon:admin:migration_hosts:drain_detail', args=(job['id'],))


class DrainsTable(tables.DataTable):
    host = tables.Column('host', verbose_name=_('Host'), link=drain_url)
    kind = tables.Column('kind', verbose_name=_('Kind'))
    mode = tables.Column('mode', verbose_name=_('Mode'))
    status = tables.Column('status', verbose_name=_('Status'), status=True,
                           status_choices=DRAIN_STATUSES)
    summary = tables.Column(summary, verbose_name=_('Guests'))
    created = tables.Column(lambda j: fmt.timestamp(j.get('created_at')),
                            verbose_name=_('Created'))

    def get_object_id(self, datum):
        return datum['id']

    def get_object_display(self, datum):
        return f"{datum['kind']} of {datum['host']}"

    class Meta:
        name = 'drains'
        verbose_name = _('Drains')
        status_columns = ('status',)
        row_class = UpdateDrainRow
        row_actions = (CancelDrain,)
