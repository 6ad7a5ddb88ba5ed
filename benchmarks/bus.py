"""Latency of one RPC call on the in-process buses: oslo.messaging's fake:// against
migrator's inproc://, in the same process.

    .venv/bin/python -m benchmarks.bus [-n 200]
"""

import argparse
import statistics
import time

import oslo_messaging as messaging
from oslo_config import cfg


class Echo:
    target = messaging.Target(version='1.0')

    def echo(self, ctxt, value):
        return value


def call_latencies(url, n):
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    target = messaging.Target(topic='bench', server='one')
    server = messaging.get_rpc_server(transport, target, [Echo()], executor='threading')
    server.start()
    try:
        client = messaging.get_rpc_client(transport, target, timeout=10)
        client.call({}, 'echo', value=0)
        times = []
        for i in range(n):
            started = time.perf_counter()
            client.call({}, 'echo', value=i)
            times.append(time.perf_counter() - started)
        return times
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=200, help='calls on each bus')
    args = parser.parse_args()
    medians = {}
    for url in ('fake://', 'inproc://'):
        times = call_latencies(url, args.n)
        medians[url] = statistics.median(times)
        print(f'{url:10} median {medians[url] * 1000:7.3f} ms, '
              f'p90 {statistics.quantiles(times, n=10)[-1] * 1000:7.3f} ms')
    print(f"ratio inproc:// / fake:// = {medians['inproc://'] / medians['fake://']:.3f}")


if __name__ == '__main__':
    main()
