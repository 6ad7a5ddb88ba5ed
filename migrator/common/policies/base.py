"""The personas every operation's default is written in.

admin may do everything; reader may look at everything and change nothing. Both are Keystone
roles (keystone-manage bootstrap makes admin, member and reader, and admin implies reader);
an admin token is allowed to read even where a deployment does not use implied roles. An
operator changes who a persona is by overriding `admin_api` or `reader_api` in the policy
file, and one operation by overriding its own rule.

No scope_types: the API has no project-owned resources (hosts and migrations belong to the
cloud), and http_basic and noauth callers have no scope at all.
"""

from oslo_policy import policy

ADMIN = 'rule:admin_api'
READER = 'rule:reader_api'

rules = [
    policy.RuleDefault(
        name='admin_api',
        check_str='role:admin',
        description='An administrator of the migration service: may do everything.'),
    policy.RuleDefault(
        name='reader_api',
        check_str='role:reader or role:admin',
        description='A reader: may list and show everything, and change nothing.'),
]


def operation(name, check_str, description, method, path):
    return policy.DocumentedRuleDefault(
        name=name, check_str=check_str, description=description,
        operations=[{'method': method, 'path': path}])


def list_rules():
    return rules
