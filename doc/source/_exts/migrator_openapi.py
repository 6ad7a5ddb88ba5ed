"""Sphinx directive ``.. migrator-openapi::``: the API reference, rendered from the OpenAPI
document the API itself serves (migrator.api.openapi.document), so that the reference is
the contract the tests check every response against, never a second copy of it.

Every path and operation becomes a section: its summary, parameters, request body schema,
and each status code with its response schema. Options: ``:version: X.Y`` (default: the
newest microversion).
"""

import json

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

METHODS = ('get', 'put', 'post', 'patch', 'delete')
# Nesting beyond this many levels of objects is summarised, not expanded.
MAX_DEPTH = 5


def _plain(text):
    for char in ('\\', '*', '`', '|', '_'):
        text = text.replace(char, '\\' + char)
    return text


def escape(text):
    """OpenAPI description text (CommonMark) into reStructuredText inline text: `code`
    becomes a literal, other markup characters lose their meaning."""
    text = ' '.join(str(text).split())
    parts = text.split('`')
    if len(parts) % 2 == 0:      # an unpaired backtick: no code spans at all
        return _plain(text)
    # '\\ ' (an escaped space, which renders as nothing) lets a literal touch a word.
    return ''.join(f'\\ ``{part}``\\ ' if number % 2 and part else _plain(part)
                   for number, part in enumerate(parts))


def _resolve(doc, schema):
    seen = 0
    while isinstance(schema, dict) and '$ref' in schema and seen < 10:
        path = schema['$ref'].lstrip('#/').split('/')
        target = doc
        for part in path:
            target = target[part]
        schema = target
        seen += 1
    return schema


def _type(schema):
    kind = schema.get('type')
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    item = schema.get('items', {}).get('type') if isinstance(schema.get('items'), dict) else None
    names = [f'array of {item}' if k == 'array' and isinstance(item, str) else k
             for k in kinds if k != 'null']
    if names:
        text = ' or '.join(names)
    elif 'oneOf' in schema or 'anyOf' in schema:
        text = 'one of the forms below'
    elif kinds:
        text = 'null'
    else:
        text = 'any'
    if 'null' in kinds and names:
        text += ', or null'
    return text


def _constraints(schema):
    parts = []
    if 'enum' in schema:
        parts.append('one of ' + ', '.join(f'``{json.dumps(v)}``' for v in schema['enum']))
    for key, label in (('minimum', 'at least'), ('maximum', 'at most'),
                       ('exclusiveMinimum', 'more than'), ('exclusiveMaximum', 'less than'),
                       ('minLength', 'length at least'), ('maxLength', 'length at most'),
                       ('minItems', 'items at least'), ('maxItems', 'items at most'),
                       ('format', 'format'), ('pattern', 'pattern')):
        if key in schema:
            value = schema[key]
            parts.append(f'{label} ``{value}``' if key in ('format', 'pattern')
                         else f'{label} {value}')
    if 'default' in schema:
        parts.append(f'default ``{json.dumps(schema["default"])}``')
    return parts


def schema_lines(doc, schema, indent='', depth=0):
    """Bullet lines describing the properties of an object schema (or an array's items)."""
    schema = _resolve(doc, schema)
    lines = []
    if not isinstance(schema, dict):
        return lines
    if schema.get('type') == 'array' or (isinstance(schema.get('type'), list)
                                         and 'array' in schema['type']):
        items = _resolve(doc, schema.get('items') or {})
        if items.get('properties'):
            return schema_lines(doc, items, indent, depth)
        return lines
    for alternative in ('oneOf', 'anyOf'):
        for number, option in enumerate(schema.get(alternative, ()), 1):
            option = _resolve(doc, option)
            lines.append(f'{indent}- form {number}: {_type(option)}')
            lines.extend(schema_lines(doc, option, indent + '  ', depth + 1))
    properties = schema.get('properties') or {}
    required = set(schema.get('required') or ())
    if depth >= MAX_DEPTH and properties:
        lines.append(f'{indent}- (fields: ' + ', '.join(f'``{n}``' for n in properties) + ')')
        return lines
    for name, prop in properties.items():
        prop = _resolve(doc, prop)
        words = [_type(prop), 'required' if name in required else 'optional']
        words += _constraints(prop)
        text = f'{indent}- ``{name}`` ({"; ".join(words)})'
        if prop.get('description'):
            text += ': ' + escape(prop['description'])
        lines.append(text)
        nested = schema_lines(doc, prop, indent + '  ', depth + 1)
        if nested:
            lines.append('')
            lines.extend(nested)
            lines.append('')
    if schema.get('additionalProperties') is False and properties:
        lines.append(f'{indent}- no other field')
    return lines


def _heading(text, char):
    return ['', text, char * len(text), '']


def _group(path):
    """The section of a path: its resource, e.g. 'Server groups' for /v1/server-groups/..."""
    parts = [p for p in path.split('/') if p]
    if len(parts) < 2 or parts[1] == 'openapi.json':
        return 'Versions and the OpenAPI document'
    return parts[1].replace('-', ' ').capitalize()


def render(doc):
    """The reStructuredText lines of the whole document."""
    lines = []
    info = doc.get('info', {})
    for paragraph in str(info.get('description', '')).split('\n'):
        if paragraph.startswith('- '):
            lines.append('- ' + escape(paragraph[2:]))
        else:
            lines.extend(['', escape(paragraph), ''] if paragraph else [''])
    lines.append('')
    groups = {}
    for path, item in doc['paths'].items():
        groups.setdefault(_group(path), []).append((path, item))
    for group, entries in groups.items():
        lines.extend(_heading(group, '-'))
        for path, item in entries:
            for method in METHODS:
                if method in item:
                    lines.extend(_operation(doc, path, method, item[method]))
    errors = doc.get('components', {}).get('schemas', {}).get('Error')
    if errors:
        lines.extend(_heading('The error document', '-'))
        lines.append('Every error status above answers with this document:')
        lines.append('')
        lines.extend(schema_lines(doc, errors))
    return lines


def _operation(doc, path, method, op):
    lines = _heading(f'{method.upper()} {path}', '~')
    lines.append(escape(op.get('summary', '')) + f' (operation ``{op.get("operationId")}``)')
    lines.append('')
    params = op.get('parameters') or []
    if params:
        lines += ['**Parameters**', '']
        for param in params:
            schema = param.get('schema') or {}
            words = [param.get('in', ''), _type(schema),
                     'required' if param.get('required') else 'optional']
            words += _constraints(schema)
            text = f'- ``{param["name"]}`` ({"; ".join(words)})'
            if param.get('description'):
                text += ': ' + escape(param['description'])
            lines.append(text)
        lines.append('')
    body = op.get('requestBody')
    if body:
        media = body.get('content', {})
        for content_type, spec in media.items():
            lines += [f'**Request body** (``{content_type}``)', '']
            described = schema_lines(doc, spec.get('schema') or {})
            lines += described or ['- any JSON document']
            lines.append('')
    lines += ['**Responses**', '']
    for code, response in sorted(op.get('responses', {}).items()):
        ref = response.get('$ref', '') if isinstance(response, dict) else ''
        response = _resolve(doc, response)
        text = f'- ``{code}``: ' + escape(response.get('description', ''))
        content = response.get('content') or {}
        schema = next(iter(content.values()), {}).get('schema') if content else None
        if ref.startswith('#/components/responses/Error'):
            text += ' (an error document)'
            lines.append(text)
            continue
        lines.append(text)
        if schema is not None:
            nested = schema_lines(doc, schema, '  ')
            if nested:
                lines.append('')
                lines.extend(nested)
                lines.append('')
    lines.append('')
    return lines


class MigratorOpenAPI(Directive):
    has_content = False
    option_spec = {'version': directives.unchanged}

    def run(self):
        from migrator.api import microversion, openapi

        version = self.options.get('version')
        version = microversion.Version.parse(version) if version else None
        lines = render(openapi.document(version))
        source = self.state.document.current_source
        content = StringList()
        for number, line in enumerate(lines):
            content.append(line, source, number)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node)
        return node.children


def setup(app):
    app.add_directive('migrator-openapi', MigratorOpenAPI)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
