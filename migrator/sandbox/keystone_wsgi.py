"""Serves Keystone's WSGI application with waitress; run by the Keystone venv's python.

    python keystone_wsgi.py HOST PORT

Keystone finds its configuration through OS_KEYSTONE_CONFIG_DIR (set by
migrator.sandbox.keystone). This file imports nothing of migrator: it runs in the
Keystone venv, not in migrator's.
"""

import os
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    # This file's directory is migrator/sandbox, whose keystone.py would shadow Keystone.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != here]
    # oslo.config parses sys.argv when keystone's application is imported: give it none.
    del sys.argv[1:]
    import waitress
    from keystone.wsgi import api

    waitress.serve(api.application, host=host, port=port, threads=4, ident='keystone',
                   _quiet=True)


if __name__ == '__main__':
    main()
