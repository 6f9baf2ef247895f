"""Where training runs: one CPU, one GPU or several GPUs, chosen from the hardware found.

No config key is involved: the same config trains on a laptop CPU and on a multi-GPU node.

============  ===========================  ===============  ======================
devices       ``tf.distribute`` strategy   dtype policy     op determinism
============  ===========================  ===============  ======================
no GPU        default (one device)         ``float32``      on (same seed, same weights)
one GPU       default (one device)         ``mixed_float16``  off (cuDNN kernels)
several GPUs  ``MirroredStrategy``         ``mixed_float16``  off
============  ===========================  ===============  ======================

The classifier's softmax layer always computes in float32, so mixed precision only changes the
backbone's arithmetic; Keras wraps the optimizer in a loss-scale optimizer under
``mixed_float16``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras
    import tensorflow as tf


@dataclass(frozen=True)
class DevicePlan:
    """How to train on the devices found.

    Attributes:
        gpus: Names of the GPUs used (empty on CPU).
        strategy: ``"default"`` (one device) or ``"mirrored"`` (data parallel over ``gpus``).
        dtype_policy: Keras dtype policy while the model is built and trained.
        deterministic: Whether TensorFlow op determinism is enabled (same seed, same result).
    """

    gpus: tuple[str, ...]
    strategy: str
    dtype_policy: str
    deterministic: bool

    def describe(self) -> str:
        """One line for the log, e.g. ``"2 GPUs, MirroredStrategy, mixed_float16"``."""
        where = f"{len(self.gpus)} GPU{'s' if len(self.gpus) > 1 else ''}" if self.gpus else "CPU"
        strategy = "MirroredStrategy" if self.strategy == "mirrored" else "one device"
        return f"{where}, {strategy}, {self.dtype_policy}"


def plan_devices(gpus: Sequence[str]) -> DevicePlan:
    """The plan for a list of visible GPU names (a pure function of that list).

    Args:
        gpus: GPU device names, e.g. ``["/physical_device:GPU:0"]``; empty on a CPU machine.
    """
    gpus = tuple(gpus)
    if not gpus:
        return DevicePlan((), "default", "float32", deterministic=True)
    strategy = "mirrored" if len(gpus) > 1 else "default"
    return DevicePlan(gpus, strategy, "mixed_float16", deterministic=False)


def detect_devices() -> DevicePlan:
    """The plan for the GPUs TensorFlow sees in this process."""
    import tensorflow as tf

    return plan_devices([device.name for device in tf.config.list_physical_devices("GPU")])


def make_strategy(plan: DevicePlan) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy of a plan."""
    import tensorflow as tf

    if plan.strategy == "mirrored":
        logical = [f"/gpu:{i}" for i in range(len(plan.gpus))]
        return tf.distribute.MirroredStrategy(devices=logical)
    return tf.distribute.get_strategy()


@contextmanager
def training_devices(plan: DevicePlan, seed: int) -> Iterator[tf.distribute.Strategy]:
    """Seed everything, set the dtype policy, enter the strategy's scope; undo the policy after.

    Build, load and compile models inside the ``with`` block.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if plan.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(plan.dtype_policy)
    strategy = make_strategy(plan)
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.config.set_dtype_policy(previous)
