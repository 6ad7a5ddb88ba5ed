"""The rebalance picture: each host's memory and vCPU use now and after a plan's moves,
as an inline SVG drawn on the server (nothing downloaded)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

ROW = 46
LABEL_W = 110
BAR_W = 300
GAP = 40
TOP = 34


def host_loads(hosts, moves=()):
    """{host: {'memory': (now, after), 'vcpus': (now, after)}} as fractions of capacity."""
    used = {h['name']: [h.get('memory_mb_used') or 0, h.get('vcpus_used') or 0]
            for h in hosts}
    after = {name: list(values) for name, values in used.items()}
    for move in moves:
        for host, sign in ((move.get('source_host'), -1), (move.get('target_host'), 1)):
            if host in after:
                after[host][0] += sign * (move.get('memory_mb') or 0)
                after[host][1] += sign * (move.get('vcpus') or 0)
    loads = {}
    for h in hosts:
        caps = (h.get('memory_mb_capacity') or 0, h.get('vcpus_capacity') or 0)
        loads[h['name']] = {
            kind: tuple(values[i] / caps[i] if caps[i] else 0.0
                        for values in (used[h['name']], after[h['name']]))
            for i, kind in enumerate(('memory', 'vcpus'))}
    return loads


def _bar(x, y, fraction, cls, colour, host, kind):
    width = BAR_W * max(0.0, min(fraction, 1.0))
    return format_html(
        '<rect class="{}" data-host="{}" data-kind="{}" data-load="{}" x="{}" y="{}" '
        'width="{}" height="8" fill="{}"/>', cls, host, kind, f'{fraction:.4f}', x, y,
        f'{width:.1f}', colour)


def load_chart(hosts, moves=(), show_after=True):
    """The SVG (id plan-load-chart), or '' without hosts."""
    if not hosts:
        return ''
    loads = host_loads(hosts, moves)
    rows = []
    for i, name in enumerate(sorted(loads)):
        y = TOP + i * ROW
        parts = [format_html('<text x="0" y="{}" font-size="12">{}</text>', y + 14, name)]
        for j, kind in enumerate(('memory', 'vcpus')):
            x = LABEL_W + j * (BAR_W + GAP)
            now, after = loads[name][kind]
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="26" fill="#f4f4f4" '
                'stroke="#ccc"/>', x, y, BAR_W))
            parts.append(_bar(x, y + 3, now, 'load-now', '#9ecae1', name, kind))
            if show_after:
                parts.append(_bar(x, y + 15, after, 'load-after', '#3182bd', name, kind))
            parts.append(format_html(
                '<text x="{}" y="{}" font-size="10">{}%{}</text>', x + BAR_W + 4, y + 16,
                f'{100 * now:.0f}', f' \u2192 {100 * after:.0f}%' if show_after else ''))
        rows.append(mark_safe(''.join(parts)))
    height = TOP + len(loads) * ROW
    width = LABEL_W + 2 * (BAR_W + GAP) + 40
    legend = format_html_join('', (
        '<rect x="{}" y="4" width="12" height="8" fill="{}"/>'
        '<text x="{}" y="12" font-size="11">{}</text>'), (
        (LABEL_W, '#9ecae1', LABEL_W + 16, 'now'),
        (LABEL_W + 70, '#3182bd', LABEL_W + 86, 'after the moves'))
        if show_after else ((LABEL_W, '#9ecae1', LABEL_W + 16, 'now'),))
    return format_html(
        '<svg id="plan-load-chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{}" '
        'height="{}" viewBox="0 0 {} {}"><title>Host load now and after the plan</title>'
        '{}<text x="{}" y="28" font-size="11" font-weight="bold">memory</text>'
        '<text x="{}" y="28" font-size="11" font-weight="bold">vCPUs</text>{}</svg>',
        width, height, width, height, legend, LABEL_W, LABEL_W + BAR_W + GAP,
        mark_safe(''.join(rows)))
