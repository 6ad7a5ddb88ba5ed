"""x509 credentials for a sandbox with TLS (``sandbox up --tls``), made with the openssl CLI.

One CA per sandbox (its key stays in ``<state-dir>/pki``, outside every host), and per host
a server and a client certificate whose subject alternative names are the host's name and
loopback address: libvirt's client and QEMU's migration client check the peer's
certificate against the host in the URI (127.0.x.y), so the address must be in it.

Where each host's files go, as its libvirtd and QEMUs see them (inside its namespace: the
host's private ``/etc/libvirt`` is a bind mount, so nothing is written to the machine's
/etc, which has no /etc/pki on Debian at all):

- ``/etc/libvirt/pki/libvirt/``: ``cacert.pem``, ``servercert.pem``, ``serverkey.pem``,
  ``clientcert.pem``, ``clientkey.pem``. libvirtd.conf names the server files (``ca_file``,
  ``cert_file``, ``key_file``); the client files are laid out as libvirt's ``pkipath`` URI
  parameter wants them, for the connections that go *to* another host (the source daemon
  of a peer-to-peer migration, the agent's cold-copy connection).
- ``/etc/libvirt/pki/qemu/``: ``ca-cert.pem``, ``server-cert.pem``, ``server-key.pem``,
  ``client-cert.pem``, ``client-key.pem``: the names QEMU's tls-creds-x509 object reads from
  the directory qemu.conf's ``default_tls_x509_cert_dir`` / ``migrate_tls_x509_cert_dir``
  points to. The migration target's QEMU is the TLS server, the source's the client; the
  same holds for the NBD stream of a block migration.
"""

import os
import secrets
import shutil
import subprocess
import tempfile

from migrator.sandbox.errors import SandboxError

DAYS = 3650
# Inside a host's namespace (under its bind-mounted /etc/libvirt).
LIBVIRT_PKI_DIR = '/etc/libvirt/pki/libvirt'
QEMU_PKI_DIR = '/etc/libvirt/pki/qemu'

_CA_EXT = '''\
[req]
distinguished_name = dn
[dn]
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
'''

# libvirt (virNetTLSContextCheckCertKeyUsage) and QEMU refuse an end certificate whose
# critical key usage lacks digitalSignature or keyEncipherment, and one whose extended key
# usage lacks the role it is used in.
_LEAF_EXT = '''\
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {purpose}
subjectAltName = DNS:{name}, IP:{address}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
'''


def _openssl(args, cwd):
    try:
        proc = subprocess.run(['openssl', *args], cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)
    except FileNotFoundError:
        raise SandboxError('openssl not found: --tls needs the Debian package openssl; run '
                           'tools/install-deps.sh (as root)') from None
    if proc.returncode != 0:
        raise SandboxError(f'openssl {args[0]} failed: {proc.stderr.strip()}')


def _new_key(path, cwd):
    _openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
              '-out', path], cwd)
    os.chmod(os.path.join(cwd, path), 0o600)


def make_ca(pki_dir):
    """A self-signed CA in pki_dir (ca-cert.pem, ca-key.pem); returns the cert's path."""
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(pki_dir, 'ca.cnf'), 'w') as f:
        f.write(_CA_EXT)
    _new_key('ca-key.pem', pki_dir)
    _openssl(['req', '-new', '-x509', '-config', 'ca.cnf', '-extensions', 'ext',
              '-key', 'ca-key.pem', '-out', 'ca-cert.pem', '-days', str(DAYS),
              '-subj', '/O=migrator sandbox/CN=migrator sandbox CA'], pki_dir)
    return os.path.join(pki_dir, 'ca-cert.pem')


def _issue(pki_dir, work, stem, name, address, purpose):
    """A key and a certificate for name/address signed by the CA in pki_dir."""
    with open(os.path.join(work, f'{stem}.cnf'), 'w') as f:
        f.write(_LEAF_EXT.format(purpose=purpose, name=name, address=address))
    _new_key(f'{stem}-key.pem', work)
    _openssl(['req', '-new', '-key', f'{stem}-key.pem', '-out', f'{stem}.csr',
              '-subj', f'/O=migrator sandbox/CN={name}'], work)
    _openssl(['x509', '-req', '-in', f'{stem}.csr', '-days', str(DAYS),
              '-CA', os.path.join(pki_dir, 'ca-cert.pem'),
              '-CAkey', os.path.join(pki_dir, 'ca-key.pem'),
              '-set_serial', str(secrets.randbits(63)),
              '-extfile', f'{stem}.cnf', '-extensions', 'ext', '-out', f'{stem}-cert.pem'],
             work)
    return os.path.join(work, f'{stem}-cert.pem'), os.path.join(work, f'{stem}-key.pem')


def install_host(pki_dir, host, outside):
    """Issue host's server and client certificates and install them in its /etc/libvirt/pki.

    outside(host, path) translates a path inside the host's namespace to the outside.
    Returns the outside paths of its libvirt and QEMU credential directories.
    """
    libvirt_dir = outside(host, LIBVIRT_PKI_DIR)
    qemu_dir = outside(host, QEMU_PKI_DIR)
    ca_cert = os.path.join(pki_dir, 'ca-cert.pem')
    with tempfile.TemporaryDirectory(dir=pki_dir) as work:
        server = _issue(pki_dir, work, 'server', host['name'], host['address'], 'serverAuth')
        client = _issue(pki_dir, work, 'client', host['name'], host['address'], 'clientAuth')
        files = {
            libvirt_dir: {'cacert.pem': ca_cert, 'servercert.pem': server[0],
                          'serverkey.pem': server[1], 'clientcert.pem': client[0],
                          'clientkey.pem': client[1]},
            qemu_dir: {'ca-cert.pem': ca_cert, 'server-cert.pem': server[0],
                       'server-key.pem': server[1], 'client-cert.pem': client[0],
                       'client-key.pem': client[1]},
        }
        for directory, names in files.items():
            os.makedirs(directory, mode=0o700, exist_ok=True)
            for name, src in names.items():
                dest = os.path.join(directory, name)
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o600 if name.endswith('key.pem') else 0o644)
    return {'libvirt_dir': libvirt_dir, 'qemu_dir': qemu_dir}
