import warnings

# oslo.messaging imports oslo.service, whose default backend imports eventlet, and futurist
# imports eventlet whenever it is installed; eventlet then warns at every start of every
# service that it is deprecated, on stderr, though migrator never runs on it (native
# threads: oslo.messaging's threading executor and futurist's thread pools).
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
