"""The libvirt URIs of connections between hosts, and how they are secured.

Two kinds of connection leave a host for another host's daemon: the peer-to-peer connection
a source daemon opens to the target for a live migration (the URI the target reported,
handed to migrateToURI3), and the connection a target agent opens to the source daemon to
pull a cold migration's disks. Each host reports the URI others reach it with (its
migration_uri); the side that connects decides whether that is good enough: with
``[libvirt] remote_transport = tls`` it refuses any URI but qemu+tls://, so a host that
reports a plain URI (misconfigured, or claiming one) cannot make it send a guest's memory or
disks in the clear. Its client credentials are named in the URI (pkipath), because a
compute agent need not find them at libvirt's default paths.
"""

import urllib.parse

from migrator.common import exceptions

TLS_SCHEME = 'qemu+tls'
# Schemes whose URIs are taken as host and path only (other remote schemes, e.g. qemu+ssh,
# pass as reported while remote_transport = tcp).
PLAIN_SCHEMES = ('qemu+tcp', TLS_SCHEME)


def migration_uri(connection_uri, host, transport='tcp'):
    """The URI this host reports for others to reach its daemon, when none is configured.

    connection_uri when it already is a remote URI of the chosen transport; else the host
    of connection_uri (or the agent's host name) with the transport's scheme.
    """
    parsed = urllib.parse.urlsplit(connection_uri)
    if transport == 'tls':
        if parsed.scheme == TLS_SCHEME:
            return connection_uri
        # The TLS port is not the TCP port: only the host name carries over.
        return f'{TLS_SCHEME}://{parsed.hostname or host}/system'
    if parsed.netloc:
        return connection_uri
    return f'qemu+tcp://{host}/system'


def peer_uri(uri, transport='tcp', pki_path=None, peer=None):
    """The URI to open another host's daemon with, or MigrationFailed when it would not be
    encrypted although remote_transport says it must be.

    uri: what that host reported; peer: its name, for the message.
    """
    parsed = urllib.parse.urlsplit(uri or '')
    who = f'host {peer}' if peer else 'the other host'
    if not parsed.netloc:
        raise exceptions.MigrationFailed(
            reason=f'{who} reports {uri!r} as its migration URI, which is not a remote '
                   f'libvirt URI; set [libvirt] migration_uri there')
    if transport == 'tls' and parsed.scheme != TLS_SCHEME:
        raise exceptions.MigrationFailed(
            reason=f'[libvirt] remote_transport = tls here, but {who} reports the '
                   f'unencrypted migration URI {uri}; set [libvirt] remote_transport = tls '
                   f'(or a qemu+tls:// migration_uri) on that host, with libvirtd '
                   f'listening for TLS there')
    if parsed.scheme not in PLAIN_SCHEMES:
        return uri
    # The reported URI's own parameters are the peer's word: a no_verify=1 or a pkipath of
    # its choosing would decide how this host checks it. Only ours are used.
    query = {'pkipath': pki_path} if parsed.scheme == TLS_SCHEME and pki_path else {}
    return urllib.parse.urlunsplit(parsed._replace(
        query=urllib.parse.urlencode(query, safe='/'), fragment=''))


REMOTE_TLS_HINT = (
    'the connection is qemu+tls://: that host\'s libvirtd must listen for TLS (listen_tls = 1, '
    'tls_port, its server certificate naming the address in the URI) and this host\'s client '
    'credentials ([libvirt] remote_tls_pki_path, else /etc/pki/libvirt) must be signed by a '
    'CA it trusts')
# Words of libvirt's errors when a TLS connection cannot be made.
_CONNECT_ERROR_WORDS = ('unable to connect', 'certificate', 'tls', 'x509', 'handshake')


def explain_connect_failure(uri, error):
    """libvirt's reason a connection to another host failed, with what to configure when
    it was a qemu+tls:// one."""
    if urllib.parse.urlsplit(uri or '').scheme == TLS_SCHEME and any(
            w in error.lower() for w in _CONNECT_ERROR_WORDS):
        return f'{error} ({REMOTE_TLS_HINT})'
    return error
