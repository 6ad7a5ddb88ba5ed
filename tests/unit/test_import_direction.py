"""The layering stays as DESIGN.md draws it: read from the modules' imports (ast, so an
import inside a function counts too), not from a list kept by hand."""

import ast
import pathlib

import pytest

import migrator

PACKAGE = pathlib.Path(migrator.__file__).parent
SERVICES = ('migrator.api', 'migrator.conductor', 'migrator.compute', 'migrator.cmd')


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path):
    """The modules (or module.name) one file imports, relative imports resolved."""
    module = _module_name(path)
    package = module.split('.') if path.name == '__init__.py' else module.split('.')[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = '.'.join(parent + ([base] if base else []))
            found.update(f'{base}.{alias.name}' for alias in node.names)
    return found


def _graph():
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob('*.py')}


GRAPH = _graph()


def _within(name, *packages):
    return any(name == p or name.startswith(p + '.') for p in packages)


def _violations(importers, forbidden, allowed=()):
    """[(importer, imported)] where a module under `importers` imports one under
    `forbidden` that is not under `allowed`."""
    return sorted((module, target) for module, targets in GRAPH.items()
                  if _within(module, *importers) for target in targets
                  if _within(target, *forbidden) and not _within(target, *allowed))


def test_the_graph_is_read():
    # The checks below would pass on an empty graph: they must see edges that do exist.
    assert _violations(('migrator.cmd',), ('migrator.planner',))
    assert ('migrator.api.app', 'migrator.api.controllers.root') in _violations(
        ('migrator.api',), ('migrator.api.controllers',))


def test_nobody_imports_the_planner_from_conductor():
    assert _violations(('migrator', 'migrator.api'), ('migrator.conductor.planner',)) == []


def test_planner_is_a_pure_library():
    assert _violations(('migrator.planner',), ('migrator',), allowed=('migrator.planner',)) == []


def test_nothing_below_api_imports_a_controller():
    """Only the app (which mounts them) and the controllers themselves import a
    controller: the service layer, views and schemas serve them, never the other way."""
    assert [(module, target)
            for module, target in _violations(('migrator',), ('migrator.api.controllers',))
            if not (_within(module, 'migrator.api.controllers')
                    or module == 'migrator.api.app')] == []


def test_service_layer_knows_no_http():
    assert _violations(('migrator.api.service',), ('pecan', 'webob', 'migrator.api'),
                       allowed=('migrator.api.service',)) == []


@pytest.mark.parametrize('importers,forbidden,allowed', [
    # The API reaches the conductor only through its RPC client.
    (('migrator.api',), ('migrator.conductor',), ('migrator.conductor.rpcapi',)),
    # A compute agent has no DB access, and reaches the conductor through its RPC client.
    (('migrator.compute',), ('migrator.db',), ()),
    (('migrator.compute',), ('migrator.conductor', 'migrator.api'),
     ('migrator.conductor.rpcapi',)),
    # The DB and the common modules serve the services and import none of them.
    (('migrator.db', 'migrator.common', 'migrator.planner'), SERVICES, ()),
])
def test_layering(importers, forbidden, allowed):
    assert _violations(importers, forbidden, allowed) == []
