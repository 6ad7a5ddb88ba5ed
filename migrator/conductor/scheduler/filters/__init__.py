"""Host filters: each says whether a host can take the guest, and if not, why.

A filter states its test once, as a plain static method passes(h, <values>) over `h` (a
HostState) and a few values it takes from the request (bind(), in the order of passes()'s
parameters); applies() says whether it has anything to test for this request at all (a disk
filter when no disk is copied does not). When passes() is one `return <expression>` over
its own parameters, the scheduler inlines the expressions of the filters that apply into one
list comprehension, so the common decision is a single pass over the hosts without a call
per host and filter; any other passes() is called as it is. host_passes() and filter_all()
(used to explain a refusal filter by filter) call passes() itself, so they cannot disagree.
explain() is the sentence for a refused host. A filter is `transient` when its refusal goes
away by itself once a migration ends (a full inbound slot): a request refused only by such
a filter waits in the queue instead of failing.

Filters are found through the `migrator.scheduler.filters` entry points (setup.cfg) and
enabled by [scheduler] enabled_filters: adding one is a module here, its entry point and its
test (doc/source/contributor/adding-a-filter.rst).
"""

import ast
import builtins
import functools
import inspect
import textwrap

from stevedore import extension

NAMESPACE = 'migrator.scheduler.filters'

class BaseFilter:
    transient = False

    #: The values passes() takes after `h`, from bind(spec); set from its signature.
    names = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        params = list(inspect.signature(cls.passes).parameters)
        if not params or params[0] != 'h':
            raise TypeError(f'{cls.__name__}.passes must take the host as `h` first')
        cls.names = tuple(params[1:])

    @staticmethod
    def passes(h):
        """True when host `h` passes, given this request's bind() values."""
        return True

    @property
    def name(self):
        return type(self).__name__

    def applies(self, spec):
        """False when the filter passes every host for this request."""
        return True

    def bind(self, spec):
        """The values of passes()'s parameters after `h`, in order."""
        return ()

    def host_passes(self, host, spec):
        return not self.applies(spec) or self.passes(host, *self.bind(spec))

    def filter_all(self, hosts, spec):
        if not self.applies(spec):
            return hosts
        passes, values = self.passes, self.bind(spec)
        return [h for h in hosts if passes(h, *values)]

    def explain(self, host, spec):
        raise NotImplementedError


@functools.cache
def inline_expression(filter_class):
    """The source of the expression filter_class.passes returns, when its body is that one
    `return` and reads nothing but its parameters (and builtins); else None (called)."""
    try:
        source = textwrap.dedent(inspect.getsource(filter_class.passes))
    except (OSError, TypeError):
        return None
    function = ast.parse(source).body[0]
    body = [n for n in function.body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    expression = body[0].value
    params = {'h', *filter_class.names}
    free = {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)}
    if free - params - set(dir(builtins)):
        return None
    if any(isinstance(n, (ast.Lambda, ast.comprehension, ast.NamedExpr))
           for n in ast.walk(expression)):
        return None
    return ast.unparse(expression)


def _test_source(chain):
    """(the test of every filter of `chain` as one expression, {name: passes} it calls)."""
    names = [n for flt in chain for n in flt.names]
    if len(set(names)) != len(names):
        raise ValueError(f'filters share passes() parameter names: {names}')
    parts, called = [], {}
    for i, flt in enumerate(chain):
        expression = inline_expression(type(flt))
        if expression is None:
            called[f'_passes{i}'] = flt.passes
            expression = f"_passes{i}({', '.join(('h',) + flt.names)})"
        parts.append(f'({expression})')
    return ' and '.join(parts) or 'True', names, called


def compile_chain(chain):
    """One function running every filter of `chain` in one list comprehension:
    fn(hosts, *values) where values are the filters' bind() results, concatenated."""
    test, names, called = _test_source(chain)
    params = ', '.join(['hosts'] + names)
    # Built from the filters' own code (inline_expression), not from any input.
    return eval(f'lambda {params}: [h for h in hosts if {test}]', called)  # noqa: S307


def compile_test(chain):
    """fn(host, *values): whether one host passes every filter of `chain` (the same
    expression compile_chain() runs over a list)."""
    test, names, called = _test_source(chain)
    return eval(f"lambda {', '.join(['h'] + names)}: {test}", called)  # noqa: S307


@functools.cache
def all_filters():
    """{name: class} of every filter installed (the entry points of NAMESPACE)."""
    manager = extension.ExtensionManager(NAMESPACE, invoke_on_load=False)
    return {ext.name: ext.plugin for ext in manager}
