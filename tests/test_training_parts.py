import math

import numpy as np

from mathlens.config import OptimConfig, resolve
from mathlens.pipelines import MatrixPipeline
from mathlens.pipelines.stream import FixedStream, Stream, build_test_set, make_stream, seeded_rng
from mathlens.training.optim import lr_at


def test_fixed_training_set_epochs_and_resume():
    cfg = resolve("quickstart", ["train.dataset_size=100", "train.batch_size=32", "task.rows=[2, 3]"])
    pipe = MatrixPipeline(cfg)
    stream = make_stream(pipe, cfg)
    assert isinstance(stream, FixedStream)
    sizes = [len(s) for s, _ in stream.buckets]
    assert sum(sizes) == 100 and len(sizes) == 2  # two shapes, two buckets
    epoch = [stream.next() for _ in range(len(stream.plan))]
    assert sum(len(s) for s, _ in epoch) == 100
    seen = {tuple(row) for s, _ in epoch for row in s}
    assert len(seen) == 100  # every problem once per epoch
    stream.next()
    state = stream.state()
    after = [stream.next() for _ in range(5)]
    again = make_stream(pipe, cfg)
    again.restore(state)
    for (a, b), (c, d) in zip(after, [again.next() for _ in range(5)]):
        assert np.array_equal(a, c) and np.array_equal(b, d)


def test_targets_start_and_end_with_eos_and_pad_the_rest():
    cfg = resolve("quickstart", ["task.rows=2"])
    pipe = MatrixPipeline(cfg)
    p = pipe.task.sample(50, np.random.default_rng(0))
    p["input"][::5, 0, 0] = 0.0  # P10 writes zero shorter: ragged targets
    src, tgt = pipe.encode(p)
    eos, pad = pipe.vocab.eos_id, pipe.vocab.pad_id
    assert (tgt[:, 0] == eos).all()
    assert ((tgt == eos).sum(1) == 2).all()
    short = tgt[0]
    end = np.nonzero(short == eos)[0][1]
    assert (short[end + 1 :] == pad).all() and end + 1 < tgt.shape[1]
    assert tgt.shape[1] <= pipe.max_tgt_len and src.shape[1] <= pipe.max_src_len


def test_test_sets_are_seeded_and_independent_of_training():
    task = resolve("quickstart").build_task()
    a = build_test_set(task, 10, 5, 4)
    b = build_test_set(task, 10, 5, 4)
    assert [len(x["input"]) for x in a] == [4, 4, 2]
    assert all(np.array_equal(x["input"], y["input"]) for x, y in zip(a, b))
    train = task.sample(4, seeded_rng(5, Stream.TRAIN))
    assert not np.array_equal(train["input"], a[0]["input"])


def test_schedules():
    t = OptimConfig(lr=1e-3, min_lr=1e-5, warmup=10, schedule="cosine")
    assert math.isclose(lr_at(0, t, 100), 1e-4) and math.isclose(lr_at(9, t, 100), 1e-3)
    assert math.isclose(lr_at(10, t, 100), 1e-3) and math.isclose(lr_at(100, t, 100), 1e-5)
    assert lr_at(50, t, 100) < lr_at(30, t, 100)
    t = OptimConfig(lr=1e-3, warmup=100, schedule="inverse_sqrt")
    assert math.isclose(lr_at(399, t, 10**6), 5e-4)
    t = OptimConfig(lr=1e-3, warmup=0, schedule="constant")
    assert lr_at(12345, t, 100) == 1e-3
