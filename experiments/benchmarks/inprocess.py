"""In-process measurements of the serving benchmark (``serving.py``): the CPU's matmul and int8
ceilings, the model's FLOPs per passage, bare compute, parallel throughput and test quality."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any


def matmul_flops(threads: int, sizes: tuple[int, ...] = (512, 1024, 2048), reps: int = 7) -> dict[int, float]:
    """Median FLOP/s of an n x n fp32 matmul at each size."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(2):
            torch.mm(a, b)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        out[n] = 2 * n**3 / statistics.median(times)
    return out


def int8_gemm_ops(m: int = 128, k: int = 384, n: int = 1536, reps: int = 50) -> dict[int, float]:
    """Median ops/s (2*m*k*n per product) of an int8 matrix product in ONNX Runtime (MatMulInteger,
    uint8 x int8, the kernel the served graph runs), at 1 thread (one served passage) and at all cores."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])],
        [helper.make_tensor("b", TensorProto.INT8, [k, n],
                            np.random.default_rng(0).integers(-127, 127, (k, n), dtype=np.int8).tobytes(), raw=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a = np.random.default_rng(1).integers(0, 255, (m, k), dtype=np.uint8)
    out = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        for _ in range(5):
            sess.run(None, {"a": a})
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            sess.run(None, {"a": a})
            times.append(time.perf_counter() - t0)
        out[threads] = 2 * m * k * n / statistics.median(times)
    return out


def parallel_rate(predictor: Any, texts: list[str], workers: int, repeats: int) -> float:
    """Passages/s of ``workers`` threads each scoring its share of ``texts`` (as the service's workers do)."""
    from concurrent.futures import ThreadPoolExecutor

    shares = [texts[i::workers] for i in range(workers)]
    walls = []
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(predictor.scores, shares))
            walls.append(time.perf_counter() - t0)
    return len(texts) / statistics.median(walls)


def passage_flops(predictor: Any, texts: list[str]) -> list[float]:
    """FLOPs of one forward pass for each passage alone (its own length, no padding)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    clf = predictor.classifier
    flops = []
    with torch.inference_mode():
        for text in texts:
            batch = clf.collate(clf.encode([text]))
            with FlopCounterMode(display=False) as counter:
                clf.model(batch)
            flops.append(float(counter.get_total_flops()))
    return flops


def inprocess(predictor: Any, texts: list[str], flops: list[float], repeats: int, single_threads: int,
              shared_threads: int, all_threads: int) -> dict[str, float]:
    """Bare compute of one passage (median over passages and repeats) with the threads a lone request
    gets and with one worker's share, and the throughput of the whole set in the model's own
    batching, at all cores."""
    import torch

    out = {}
    for key, threads in (("single_ms", single_threads), ("single_shared_ms", shared_threads)):
        torch.set_num_threads(threads)
        singles = []
        for _ in range(repeats):
            for t in texts:
                t0 = time.perf_counter()
                predictor.scores([t])
                singles.append(time.perf_counter() - t0)
        out[key] = 1000 * statistics.median(singles)
    torch.set_num_threads(all_threads)
    batch_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.scores(texts)  # sorted by length, in the model's inference batches
        batch_times.append(time.perf_counter() - t0)
    wall = statistics.median(batch_times)
    return {**out, "batch_passages_per_s": len(texts) / wall, "batch_flops_per_s": sum(flops) / wall}


def quality(predictor: Any, test: Any) -> dict[str, float]:
    from training.evaluation import evaluate

    metrics, _ = evaluate(predictor, test, "test_")
    return {k: metrics[k] for k in ("test_frames_macro_f1", "test_stance_macro_f1")}
