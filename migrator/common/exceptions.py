"""Exceptions that carry a message for the user and the HTTP status the API answers with.

The message says what is wrong and, where it can, what to do about it; the API and the CLI
show it as it is.
"""


class MigratorException(Exception):
    code = 500
    message = 'An unknown error occurred.'

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.message % kwargs
            except (KeyError, TypeError):
                message = self.message
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class Invalid(MigratorException):
    code = 400
    message = 'Invalid request.'


class NotFound(MigratorException):
    code = 404
    message = 'Not found.'


class Conflict(MigratorException):
    code = 409
    message = 'The request conflicts with the current state.'


class HostNotFound(NotFound):
    message = "Host '%(name)s' is not known. `migrator-manage host list` shows the hosts."


class InstanceNotFound(NotFound):
    message = ("Instance '%(ident)s' is not known. `migrator-manage instance list` shows "
               "the instances (by UUID or name).")


class MigrationNotFound(NotFound):
    message = "Migration '%(id)s' is not known."


class MarkerNotFound(Invalid):
    message = "Marker '%(marker)s' is not a migration id of this listing; start without marker."


class MigrationInProgress(Conflict):
    message = ("Instance '%(instance)s' already has a migration in flight; wait for it to end "
               "or abort it first (`migrator-manage migration list --instance ...`).")


class InvalidStateTransition(Conflict):
    message = "Migration %(id)s is %(current)s and cannot become %(target)s."


class WorkTakenOver(InvalidStateTransition):
    """A conductor's transition of work another conductor has adopted since (fencing)."""
    message = ("Migration %(id)s is no longer driven by conductor %(conductor)s "
               "(generation %(generation)s): another conductor took it over.")


class NoValidHost(Conflict):
    message = 'No host can take instance %(instance)s: %(reason)s'


class SameHost(Invalid):
    message = ("Target host '%(host)s' is where instance %(instance)s already runs; choose "
               "another host or leave target_host out.")


class MigrationFailed(MigratorException):
    message = 'Migration failed: %(reason)s'


class HypervisorError(MigratorException):
    message = 'Hypervisor error on %(host)s: %(reason)s'


class MigrationAborted(MigratorException):
    """Raised inside a task when an operator (or a timeout policy) asked it to stop."""
    message = 'Migration aborted: %(reason)s'


class DrainNotFound(NotFound):
    message = "Drain '%(id)s' is not known."


class NoDrain(NotFound):
    message = ("Host '%(host)s' has never been drained. `migrator-manage host drain %(host)s` "
               "starts one.")


class DrainInProgress(Conflict):
    message = ("Host '%(host)s' already has a %(kind)s job %(id)s that is %(status)s; wait for "
               "it to end (`migrator-manage host drain-status %(host)s`) or cancel it "
               "(`DELETE /v1/hosts/%(host)s/drain`).")


class InvalidDrainTransition(Conflict):
    message = "Drain %(id)s is %(current)s and cannot become %(target)s."
class ConductorUnavailable(MigratorException):
    code = 503
    message = ('Conductor %(conductor)s, which runs migration %(id)s, did not answer within '
               '%(timeout)s s, so nothing was changed: the migration may still be moving the '
               'instance. Start that conductor again (or check the message bus) and retry; '
               'a conductor that stays down is taken over by a live one within [conductor] '
               'takeover_after seconds, and the abort works from then on.')


class PlanNotFound(NotFound):
    message = "Plan '%(id)s' is not known. `migrator-manage plan list` shows the plans."


class InvalidPlanTransition(Conflict):
    message = "Plan %(id)s is %(current)s and cannot become %(target)s."


class AgentUnavailable(MigratorException):
    code = 503
    message = ('The compute agent of %(host)s did not answer within %(timeout)s s, so nothing '
               'was done to migration %(id)s. Check that migrator-compute runs on %(host)s '
               '(and the message bus), then retry.')


class ServiceTooOld(Conflict):
    """A request needs an RPC API version above the [upgrade_levels] pin of a service."""
    message = ("%(method)s needs %(service)s RPC API %(needed)s, but [upgrade_levels] "
               "%(service)s pins it to %(cap)s while older %(service)s services run: upgrade "
               "every %(service)s service to this release, then remove the pin (or raise it "
               "to %(needed)s) and restart the services that send to it.")


class PolicyNotAuthorized(MigratorException):
    code = 403
    message = ("Policy rule '%(rule)s' does not allow this request (user %(user)s with roles "
               "%(roles)s). An operator can change who may do it in the policy file "
               "([oslo_policy] policy_file).")


class NotAuthenticated(MigratorException):
    code = 401
    message = 'The request carries no valid credentials: authenticate first.'


class UnsupportedMediaType(MigratorException):
    code = 415
    message = 'The request body must be JSON, sent with Content-Type: application/json.'


class DatabaseUnavailable(MigratorException):
    code = 503
    message = ('The database is not reachable right now ([database] connection), so nothing '
               'was read or changed; retry in a moment. The migrator-api log has the details.')


class UnmanagedPath(MigratorException):
    code = 403
    message = ('Refused to %(action)s %(path)s on %(host)s: an agent creates and deletes disk '
               'files only inside the storage pools it manages (%(managed)s). Define a libvirt '
               'storage pool over that directory, or list it in [compute] '
               'managed_storage_paths, if it is meant to hold guest disks.')


class ConductorAlreadyRunning(MigratorException):
    message = ("Another conductor runs under the name %(name)s (on %(machine)s, pid %(pid)s, "
               "last heartbeat %(heartbeat)s UTC). Two conductors under one [DEFAULT] host "
               "would settle each other's work: give this one another [DEFAULT] host, or stop "
               "the other one (it counts as dead %(takeover_after)s s after its last "
               "heartbeat).")
