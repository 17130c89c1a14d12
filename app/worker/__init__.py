"""Workers: processes that claim jobs from the queue and run them (``molgfn worker``)."""

from app.worker.runner import Worker

__all__ = ["Worker"]
