"""Sphinx directive ``.. migrator-manage-reference::``: every command of migrator-manage,
its usage and help, rendered from the argparse parsers the command itself builds
(migrator.cmd.manage.build_parser), so the reference cannot drift from the code."""

import argparse
import os

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# argparse wraps its help at the terminal's width; a fixed one keeps the build reproducible.
HELP_WIDTH = '80'


def _subcommands(parser):
    """(name, help, subparser) of each subcommand of `parser`, aliases left out."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                yield name, helps.get(name) or '', sub


def _heading(text, char):
    return [text, char * len(text), '']


def _literal(text):
    return ['::', ''] + ['    ' + line if line else '' for line in text.splitlines()] + ['']


def render(parser, prog, level_chars='=-~^'):
    """The reStructuredText lines of `parser` and, depth first, of its subcommands."""
    lines = []

    def walk(p, path, depth):
        subs = list(_subcommands(p))
        if depth:
            lines.extend(_heading(' '.join(path), level_chars[min(depth - 1,
                                                                   len(level_chars) - 1)]))
        lines.extend(_literal(p.format_help()))
        for name, _help, sub in subs:
            walk(sub, path + [name], depth + 1)

    walk(parser, [prog], 0)
    return lines


class MigratorManageReference(Directive):
    has_content = False

    def run(self):
        from migrator.cmd import manage

        old = os.environ.get('COLUMNS')
        os.environ['COLUMNS'] = HELP_WIDTH
        try:
            parser = manage.build_parser([])
            lines = render(parser, parser.prog)
        finally:
            if old is None:
                os.environ.pop('COLUMNS', None)
            else:
                os.environ['COLUMNS'] = old
        source = self.state.document.current_source
        content = StringList()
        for number, line in enumerate(lines):
            content.append(line, source, number)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node)
        return node.children


def setup(app):
    app.add_directive('migrator-manage-reference', MigratorManageReference)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
