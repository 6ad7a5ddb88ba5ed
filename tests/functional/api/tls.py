"""A throw-away certificate authority and a server certificate for 127.0.0.1, made with the
openssl command line (Debian's openssl package), for the TLS tests of the API."""

import os
import subprocess


def make_ca_and_server_cert(directory, host='127.0.0.1'):
    """Writes ca.pem, server.pem and server.key into directory; returns their paths."""
    ca_key, ca_cert = os.path.join(directory, 'ca.key'), os.path.join(directory, 'ca.pem')
    key, csr = os.path.join(directory, 'server.key'), os.path.join(directory, 'server.csr')
    cert, ext = os.path.join(directory, 'server.pem'), os.path.join(directory, 'server.ext')

    def openssl(*args):
        subprocess.run(['openssl', *args], check=True, capture_output=True)

    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', ca_key,
            '-out', ca_cert, '-subj', '/CN=migrator test CA')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr,
            '-subj', f'/CN={host}')
    with open(ext, 'w') as f:
        f.write(f'subjectAltName = IP:{host}\nbasicConstraints = CA:FALSE\n'
                'extendedKeyUsage = serverAuth\n')
    openssl('x509', '-req', '-in', csr, '-CA', ca_cert, '-CAkey', ca_key, '-CAcreateserial',
            '-days', '2', '-out', cert, '-extfile', ext)
    return {'ca': ca_cert, 'cert': cert, 'key': key}
