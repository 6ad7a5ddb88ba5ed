"""The migration detail chart: an inline SVG drawn on the server.

No JavaScript and nothing downloaded: the page carries the picture. Three strips share the
time axis (seconds since the first sample), so an operator sees at a glance whether the data
remaining shrinks, whether the guest dirties memory faster than it is sent, and how far the
allowed downtime has been stepped up.
"""

from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

MIB = 1024 * 1024
WIDTH = 860
STRIP_HEIGHT = 130
LEFT = 70
RIGHT = 150
TOP = 22
GAP = 38

# (strip title, unit, scale divisor, [(series key, label, css colour)])
STRIPS = (
    ('Data remaining', 'MiB', MIB,
     [('data_remaining', 'data remaining', '#1f77b4')]),
    ('Rates', 'MiB/s', MIB,
     [('transfer_rate', 'transfer rate', '#2ca02c'),
      ('dirty_rate', 'dirty rate', '#d62728')]),
    ('Downtime', 'ms', 1,
     [('downtime_limit_ms', 'downtime limit', '#9467bd'),
      ('downtime_ms', 'expected downtime', '#ff7f0e')]),
)


def _seconds(samples):
    """Seconds since the first sample, from the job's elapsed time or the wall clock."""
    if all(s.get('elapsed_ms') is not None for s in samples):
        first = samples[0]['elapsed_ms']
        return [(s['elapsed_ms'] - first) / 1000.0 for s in samples]
    times = [datetime.fromisoformat(s['time'].replace('Z', '+00:00')) for s in samples]
    return [(t - times[0]).total_seconds() for t in times]


def _value(sample, key):
    value = sample.get(key)
    if value is None and key == 'data_remaining':
        value = sample.get('memory_remaining')
    return value


def _strip(index, title, unit, scale, series, xs, samples, span):
    top = TOP + index * (STRIP_HEIGHT + GAP)
    plot_w = WIDTH - LEFT - RIGHT
    values = [[_value(s, key) for s in samples] for key, _label, _colour in series]
    peak = max([v for vs in values for v in vs if v is not None] or [0]) / scale
    peak = peak or 1.0
    parts = [format_html(
        '<g class="chart-strip" data-strip="{}">'
        '<text x="{}" y="{}" class="chart-title" font-size="12" font-weight="bold">{} ({})'
        '</text><rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">0</text>',
        title.lower().replace(' ', '_'), LEFT, top - 6, title, unit,
        LEFT, top, plot_w, STRIP_HEIGHT, LEFT - 4, top + 10, f'{peak:.4g}',
        LEFT - 4, top + STRIP_HEIGHT)]
    for (key, _label, colour), vs in zip(series, values, strict=True):
        points = ' '.join(
            f'{LEFT + plot_w * x / span:.1f},'
            f'{top + STRIP_HEIGHT * (1 - (v / scale) / peak):.1f}'
            for x, v in zip(xs, vs, strict=True) if v is not None)
        parts.append(format_html(
            '<polyline class="chart-series" data-series="{}" points="{}" fill="none" '
            'stroke="{}" stroke-width="1.5"/>', key, points, colour))
    parts.append(format_html_join('', (
        '<g class="chart-legend"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" '
        'stroke-width="2"/><text x="{}" y="{}" font-size="11">{}</text></g>'), (
        (WIDTH - RIGHT + 10, top + 12 + 16 * i, WIDTH - RIGHT + 28, top + 12 + 16 * i,
         colour, WIDTH - RIGHT + 32, top + 16 + 16 * i, label)
        for i, (_key, label, colour) in enumerate(series))))
    parts.append(mark_safe('</g>'))
    return mark_safe(''.join(parts))


def migration_chart(samples):
    """The SVG for a migration's samples (oldest first), or '' when there are none."""
    if not samples:
        return ''
    xs = _seconds(samples)
    span = max(xs[-1], 1e-3)
    height = TOP + len(STRIPS) * (STRIP_HEIGHT + GAP)
    strips = [_strip(i, *strip, xs, samples, span) for i, strip in enumerate(STRIPS)]
    axis_y = height - GAP + 16
    return format_html(
        '<svg id="migration-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        'width="{}" height="{}" viewBox="0 0 {} {}" data-samples="{}">'
        '<title>Samples of the migration over time</title>{}'
        '<text x="{}" y="{}" font-size="10">0 s</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{} s</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle">seconds since the first '
        'sample</text></svg>',
        WIDTH, height, WIDTH, height, len(samples), mark_safe(''.join(strips)),
        LEFT, axis_y, WIDTH - RIGHT, axis_y, f'{span:.1f}',
        LEFT + (WIDTH - LEFT - RIGHT) / 2, axis_y)
