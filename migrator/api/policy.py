"""Policy enforcement of the API: each controller method authorises its own rule first.

The defaults are in code (migrator.common.policies); an operator's policy file
([oslo_policy] policy_file, policy.yaml in the config directory by default) overrides any
of them and is read again when it changes. A refusal is a 403 naming the rule.
"""

import threading

import pecan
from oslo_config import cfg
from oslo_policy import opts, policy

from migrator.api import hooks
from migrator.common import exceptions, policies

CONF = cfg.CONF
# Registers [oslo_policy] (the file is policy.yaml, looked up in the config directories).
opts.set_defaults(CONF, policy_file='policy.yaml')

_ENFORCER = None
_LOCK = threading.Lock()


def get_enforcer():
    """The process's enforcer, with every default registered (also used by
    oslopolicy-policy-generator and friends through the oslo.policy.enforcer entry point)."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is None:
            enforcer = policy.Enforcer(CONF)
            enforcer.register_defaults(policies.list_rules())
            _ENFORCER = enforcer
    return _ENFORCER


def reset():
    """Forget the enforcer (tests that change the policy file or options)."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def check(rule, ctxt, target=None):
    """Raises PolicyNotAuthorized unless `rule` allows `ctxt`."""
    if not ctxt.authenticated:
        raise exceptions.NotAuthenticated()
    enforcer = get_enforcer()
    creds = ctxt.to_policy_values()
    if not enforcer.authorize(rule, target or {}, creds, do_raise=False):
        roles = ', '.join(ctxt.roles) if ctxt.roles else 'none'
        raise exceptions.PolicyNotAuthorized(
            rule=rule, user=ctxt.user_name or ctxt.user_id or '(unknown)', roles=roles)


def authorize(rule, target=None):
    """Authorises the current pecan request against `rule`."""
    check(rule, hooks.get_context(pecan.request), target)
