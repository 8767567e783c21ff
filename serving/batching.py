"""Coalesce concurrent requests into model batches, off the event loop, with a bounded queue.

Requests wait in a queue; a worker takes everything waiting (up to ``max_batch_size``
passages, grouped by model and targets) and runs it in a thread. With ``workers`` > 1, that
many batches run at once, each in its own thread; ``prepare(alone)`` runs in that thread first,
told whether the batch is the only work in sight (the service gives a lone batch every core and
concurrent batches an even share, so the streams share the cores instead of fighting over
them). There is no artificial
wait: a lone request runs at once, and requests that arrive while the model is busy share the
next batch. A long request is queued a few shares at a time, so short requests interleave with
it, and a cancelled request (deadline, client gone) drops its shares that have not started. A request is bound to the model that was current when it arrived, so a reload
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
    """Runs ``infer(model, texts, targets)`` on coalesced batches in ``workers`` worker threads."""

    def __init__(self, infer: Callable[[Any, list[str], list[str] | None], list[Any]], max_batch_size: int,
                 max_queue: int, on_batch: Callable[[int], None] | None = None, workers: int = 1,
                 prepare: Callable[[bool], None] | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.infer = infer
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.workers = workers
        self.prepare = prepare
        self._running = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._pending = 0
        self._tasks: list[asyncio.Task] = []

    @property
    def pending(self) -> int:
        """Passages queued or running."""
        return self._pending

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name=f"batcher-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    async def submit(self, model: Any, texts: Sequence[str], targets: Sequence[str] | None) -> list[Any]:
        """Queue ``texts`` for ``model``; raise ``Overloaded`` if the queue is full."""
        if self._queue is None:
            raise RuntimeError("batcher not started")
        if self._pending + len(texts) > self.max_queue and self._pending > 0:
            raise Overloaded(f"{self._pending} passages already waiting (limit {self.max_queue})")
        loop = asyncio.get_running_loop()
        key = tuple(targets) if targets is not None else None
        # A request bigger than one worker's share is cut into shares, so that the workers run it
        # together instead of one of them running it alone; at most ``workers`` shares of one
        # request wait at once, and the next is queued only when one is done, so a short request
        # arriving behind a long one waits for a share of it, not for all of it.
        cap = self.batch_cap
        shares = [list(texts[start:start + cap]) for start in range(0, len(texts), cap)]
        parts: list[list[Any]] = [[] for _ in shares]
        window = asyncio.Semaphore(self.workers)

        async def run(i: int) -> None:
            async with window:
                future = loop.create_future()
                self._queue.put_nowait(_Job(model, shares[i], key, future))  # type: ignore[union-attr]
                try:
                    parts[i] = await future
                finally:
                    future.cancel()  # a cancelled request's share is skipped if not yet taken

        self._pending += len(texts)
        try:
            if len(shares) == 1:  # the common case: no task per share
                await run(0)
            else:
                tasks = [asyncio.ensure_future(run(i)) for i in range(len(shares))]
                try:
                    await asyncio.gather(*tasks)
                except BaseException:  # a failed share or a cancelled request: the other shares are dropped too
                    for task in tasks:
                        task.cancel()
                    raise
        finally:
            self._pending -= len(texts)
        return [r for part in parts for r in part]

    @property
    def batch_cap(self) -> int:
        """Most passages one worker runs at once: an even share of ``max_batch_size``."""
        return max(1, -(-self.max_batch_size // self.workers))

    def _call(self, model: Any, texts: list[str], targets: list[str] | None, alone: bool) -> list[Any]:
        """In the worker thread: ``prepare(alone)`` (e.g. how many cores this batch may use), then infer."""
        if self.prepare:
            self.prepare(alone)
        return self.infer(model, texts, targets)

    def _take(self, first: _Job) -> list[_Job]:
        """``first`` plus queued jobs of the same model and targets that fit in one batch."""
        assert self._queue is not None
        jobs, size, keep = [first], len(first.texts), []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job.model is first.model and job.targets == first.targets and size + len(job.texts) <= self.batch_cap:
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
            alone = self._running == 0 and self._queue.empty()
            self._running += 1
            try:
                results = await asyncio.to_thread(self._call, first.model, texts, targets, alone)
            except Exception as exc:  # noqa: BLE001 - delivered to every waiting request
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            finally:
                self._running -= 1
            start = 0
            for j in jobs:
                if not j.future.done():
                    j.future.set_result(results[start:start + len(j.texts)])
                start += len(j.texts)
