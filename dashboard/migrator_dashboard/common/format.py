"""Small formatting helpers shared by the panels' tables and templates."""

from django.utils.translation import gettext_lazy as _

MIB = 1024 * 1024


def seconds(value):
    """'1 h 02 min', '3 min 05 s', '4.2 s', or '-' for None."""
    if value is None:
        return '-'
    value = float(value)
    if value < 60:
        return f'{value:.1f} s'
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return f'{minutes} min {secs:02d} s'
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes:02d} min'


def mib(value):
    return '-' if value is None else f'{value / MIB:.1f} MiB'


def timestamp(value):
    """The API's ISO 8601 UTC time, shortened for a table cell."""
    if not value:
        return '-'
    return value.replace('T', ' ').split('.')[0] + ' UTC'


NONE = _('None')
