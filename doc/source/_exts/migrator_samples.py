"""Sphinx directive ``.. migrator-notification-samples::``: every sample notification of
doc/notification_samples/ (the documents the tests hold the real notifications to), one
section each, so a sample added there is documented without an edit here."""

import pathlib

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'notification_samples'


class NotificationSamples(Directive):
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        lines = []
        for path in sorted(SAMPLES.glob('*.json')):
            env.note_dependency(str(path))
            title = f'``{path.stem}``'
            lines += [title, '^' * len(title), '', '.. code-block:: json', '']
            lines += ['   ' + line if line else '' for line in path.read_text().splitlines()]
            lines.append('')
        source = self.state.document.current_source
        content = StringList()
        for number, line in enumerate(lines):
            content.append(line, source, number)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node)
        return node.children


def setup(app):
    app.add_directive('migrator-notification-samples', NotificationSamples)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
