"""Preloaded by every local Dask worker process (``LocalCluster(preload=...)``): Ctrl-C is the driver's business.

A terminal's Ctrl-C reaches every process of its group. A worker that took it would die with a traceback, and
its nanny (in the driver) would log the loss; ignoring SIGINT here leaves the driver alone to stop, print its
one line and close the cluster, which ends the workers.
"""

import signal
import threading


def dask_setup(worker):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
