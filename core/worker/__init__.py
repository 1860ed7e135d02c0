"""Running the core outside Blender's UI thread: a worker process speaking a line-based JSON protocol
(``python -m avi_talking.core.worker``), or the same jobs in a thread of the calling process.

    client = start_client(WorkerConfig(python="/path/to/python"))   # or in_process=True
    job = client.submit("generate", {"audio": "take.wav", "output": "/tmp/take.npz", ...})
    while not job.done:
        for message in job.poll(): ...          # progress messages, then the result or an error
    job.result                                  # {"animation": "/tmp/take.npz", ...}

See ``protocol`` for the messages and ``jobs`` for what each operation does (docs/addon.md)."""

from .client import InProcessClient, Job, WorkerClient, WorkerConfig, WorkerError, probe_python, start_client
from .protocol import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION", "InProcessClient", "Job", "WorkerClient", "WorkerConfig", "WorkerError",
           "probe_python", "start_client"]
