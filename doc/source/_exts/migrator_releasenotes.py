"""Sphinx directive ``.. migrator-release-notes::``: the notes in releasenotes/notes/ (reno's
YAML format), grouped by section, newest file first.

reno's own directive reads the notes through the git history, and stops with "Unrecognized
changes" at a merge commit that edits a note (a merge of main into a branch that changed the
note): our history has several. The notes themselves stay reno's: `reno new` writes them,
this directive only reads the files as they are now.
"""

import glob
import os

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# reno's default sections, in its order.
SECTIONS = (
    ('features', 'New Features'),
    ('issues', 'Known Issues'),
    ('upgrade', 'Upgrade Notes'),
    ('deprecations', 'Deprecation Notes'),
    ('critical', 'Critical Issues'),
    ('security', 'Security Issues'),
    ('fixes', 'Bug Fixes'),
    ('other', 'Other Notes'),
)


def load(notes_dir):
    """[(file name, note dict)], newest file first (by its last change on disk)."""
    paths = sorted(glob.glob(os.path.join(notes_dir, '*.yaml')),
                   key=lambda p: (-os.path.getmtime(p), p))
    notes = []
    for path in paths:
        with open(path) as f:
            notes.append((os.path.basename(path), yaml.safe_load(f) or {}))
    return notes


def render(notes):
    lines = []
    preludes = [n['prelude'] for _, n in notes if n.get('prelude')]
    for prelude in preludes:
        lines += prelude.splitlines() + ['']
    for key, title in SECTIONS:
        items = [item for _, n in notes for item in (n.get(key) or [])]
        if not items:
            continue
        lines += [title, '-' * len(title), '']
        for item in items:
            text = item.strip().splitlines()
            lines += ['- ' + text[0]] + ['  ' + t if t else '' for t in text[1:]] + ['']
    return lines


class ReleaseNotes(Directive):
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        notes_dir = os.path.join(env.srcdir, '..', '..', 'releasenotes', 'notes')
        for path in glob.glob(os.path.join(notes_dir, '*.yaml')):
            env.note_dependency(os.path.abspath(path))
        result = StringList()
        for line in render(load(notes_dir)):
            result.append(line, '<migrator-release-notes>')
        section = nodes.section()
        section.document = self.state.document
        nested_parse_with_titles(self.state, result, section)
        return list(section.children)


def setup(app):
    app.add_directive('migrator-release-notes', ReleaseNotes)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
