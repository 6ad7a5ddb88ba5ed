"""A memo for pecan's signature look-ups.

pecan asks for the signature of the controller (and of RestController's handlers) several
times on every request, and its Python 3 getargspec builds a new namedtuple class and an
inspect.Signature each time: about a fifth of the CPU of a small GET went there (issue 15,
benchmarks/api.py). A function's signature never changes, so each is worked out once.
"""

import threading

import pecan.util

_LOCK = threading.Lock()


def install():
    """Makes pecan's getargspec remember its answers; idempotent."""
    with _LOCK:
        original = pecan.util._getargspec
        if getattr(original, 'migrator_memo', False):
            return
        memo = {}

        def getargspec(func):
            # A bound method's argspec is its function's (it lists self too), and a new
            # bound-method object is made at every attribute access: key on the function.
            key = getattr(func, '__func__', func)
            try:
                return memo[key]
            except (KeyError, TypeError):
                pass
            spec = original(func)
            try:
                memo[key] = spec
            except TypeError:
                pass    # not hashable: not remembered
            return spec

        getargspec.migrator_memo = True
        pecan.util._getargspec = getargspec
