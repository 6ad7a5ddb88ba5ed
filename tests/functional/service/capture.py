"""Loopback packet capture (tcpdump, Debian package tcpdump) for the encryption tests.

A capture runs tcpdump on `lo` with a BPF filter into a pcap file while a block runs; the
test then asks whether some bytes (a marker written into a guest's disk) travelled in the
clear, and how much TCP payload went to a port. tcpdump is started and stopped by its pid.
"""

import os
import re
import signal
import socket
import subprocess
import time
import uuid

READY_TIMEOUT = 30.0
BUFFER_KIB = 65536
_LENGTH_RE = re.compile(rb' tcp (\d+)\s*$')
_DROPPED_RE = re.compile(rb'(\d+) packets? dropped by kernel')


class Capture:
    """tcpdump on `lo` with bpf_filter into path while the block runs.

    end_address: an address the filter captures (one of its hosts). At the block's end a
    UDP datagram from and to it marks the end, and the capture stops only once tcpdump has
    written it: the kernel hands tcpdump packets a block at a time (when full, or after
    1 s), and a stop before the open block is handed over loses its packets without
    counting them as dropped (a cold copy's last 68 KiB went missing that way once). Asking
    for each packet at once (--immediate-mode) instead made tcpdump drop thousands of a
    block migration's packets.
    """

    def __init__(self, path, bpf_filter, end_address):
        self.path = str(path)
        self.bpf_filter = bpf_filter
        self.end_address = end_address
        self._proc = None
        self._stderr_path = self.path + '.stderr'

    def __enter__(self):
        self._stderr = open(self._stderr_path, 'wb')
        # -U: each packet is written as it comes, so nothing waits in a buffer at the stop;
        # -s 0: whole packets; -B: a 64 MiB kernel buffer (KiB), so that a busy machine does
        # not make it drop packets (dropped() tells).
        self._proc = subprocess.Popen(
            ['tcpdump', '-i', 'lo', '-n', '-U', '-s', '0', '-B', str(BUFFER_KIB),
             '-w', self.path, self.bpf_filter],
            stdout=subprocess.DEVNULL, stderr=self._stderr, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while b'listening on' not in self._read_stderr():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError(f'tcpdump did not start: {self._read_stderr()!r}')
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        try:
            self._mark_the_end()
        finally:
            self._stop()

    def _mark_the_end(self):
        marker = f'migrator-capture-end-{uuid.uuid4()}'.encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.end_address, 0))
            sock.sendto(marker, (self.end_address, 9))   # discard: nobody needs to listen
        deadline = time.monotonic() + READY_TIMEOUT
        seen = 0    # read on from here: the capture of a live migration is 100s of MiB
        while True:
            start = max(0, seen - len(marker))
            with open(self.path, 'rb') as f:
                f.seek(start)
                tail = f.read()
            if marker in tail:
                return
            seen = start + len(tail)
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'tcpdump did not write the end of the capture within '
                                   f'{READY_TIMEOUT:.0f} s: {self._read_stderr()!r}')
            time.sleep(0.05)

    def _read_stderr(self):
        with open(self._stderr_path, 'rb') as f:
            return f.read()

    def _stop(self):
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGINT)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait(30)
        self._stderr.close()

    def dropped(self):
        """Packets the kernel dropped before tcpdump saw them (known once it stopped): a
        capture with drops proves nothing about what it lacks."""
        found = _DROPPED_RE.search(self._read_stderr())
        if found is None:
            raise RuntimeError(f'no drop count from tcpdump: {self._read_stderr()!r}')
        return int(found.group(1))

    def contains(self, needle):
        """True if needle appears in any packet of the capture (payloads in the clear)."""
        with open(self.path, 'rb') as f:
            return needle in f.read()

    def payload_bytes(self, bpf_filter):
        """TCP payload bytes of the captured packets that match bpf_filter."""
        out = subprocess.run(['tcpdump', '-n', '-q', '-r', self.path, bpf_filter],
                             capture_output=True, check=True, timeout=120).stdout
        return sum(int(m.group(1)) for line in out.splitlines()
                   for m in [_LENGTH_RE.search(line)] if m)
