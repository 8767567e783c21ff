"""Coalesce concurrent requests into model batches, off the event loop, with a bounded queue.

Requests wait in a queue; one worker takes everything waiting (up to ``max_batch_size``
passages, grouped by model and targets) and runs it in a thread. There is no artificial
wait: a lone request runs at once, and requests that arrive while the model is busy share the
next batch. A request is bound to the model that was current when it arrived, so a reload
never changes the model under a request in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The queue is full; the caller should answer 503 with Retry-After."""


@dataclass
class _Job:
    model: Any
    texts: list[str]
    targets: tuple[str, ...] | None
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Runs ``infer(model, texts, targets)`` on coalesced batches in a single worker thread."""

    def __init__(self, infer: Callable[[Any, list[str], list[str] | None], list[Any]], max_batch_size: int,
                 max_queue: int, on_batch: Callable[[int], None] | None = None) -> None:
        self.infer = infer
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._pending = 0
        self._worker: asyncio.Task | None = None

    @property
    def pending(self) -> int:
        """Passages queued or running."""
        return self._pending

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._worker = None

    async def submit(self, model: Any, texts: Sequence[str], targets: Sequence[str] | None) -> list[Any]:
        """Queue ``texts`` for ``model``; raise ``Overloaded`` if the queue is full."""
        if self._queue is None:
            raise RuntimeError("batcher not started")
        if self._pending + len(texts) > self.max_queue and self._pending > 0:
            raise Overloaded(f"{self._pending} passages already waiting (limit {self.max_queue})")
        fut = asyncio.get_running_loop().create_future()
        self._pending += len(texts)
        self._queue.put_nowait(_Job(model, list(texts), tuple(targets) if targets is not None else None, fut))
        try:
            return await fut
        finally:
            self._pending -= len(texts)

    def _take(self, first: _Job) -> list[_Job]:
        """``first`` plus queued jobs of the same model and targets that fit in one batch."""
        assert self._queue is not None
        jobs, size, keep = [first], len(first.texts), []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job.model is first.model and job.targets == first.targets and size + len(job.texts) <= self.max_batch_size:
                jobs.append(job)
                size += len(job.texts)
            else:
                keep.append(job)
        for job in keep:  # back in arrival order, ahead of anything new
            self._queue.put_nowait(job)
        return jobs

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            jobs = [j for j in self._take(first) if not j.future.done()]
            if not jobs:
                continue
            texts = [t for j in jobs for t in j.texts]
            if self.on_batch:
                self.on_batch(len(texts))
            targets = list(first.targets) if first.targets is not None else None
            try:
                results = await asyncio.to_thread(self.infer, first.model, texts, targets)
            except Exception as exc:  # noqa: BLE001 - delivered to every waiting request
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            start = 0
            for j in jobs:
                if not j.future.done():
                    j.future.set_result(results[start:start + len(j.texts)])
                start += len(j.texts)
