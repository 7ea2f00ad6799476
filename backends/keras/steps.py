"""Compiled train and predict steps, one engine per Keras backend, in the ways Keras documents for
custom training loops ("Writing a training loop from scratch" in TensorFlow, JAX and PyTorch).

- TensorFlow: a ``tf.function`` (XLA when ``jit`` is set) around ``GradientTape`` and ``optimizer.apply``.
- JAX: ``jax.jit`` of a stateless step (``model.stateless_call``, ``jax.value_and_grad``,
  ``optimizer.stateless_apply``); the state lives in the engine and is written back to the Keras
  variables only when the adapter reads or changes them (``push``/``pull``).
- PyTorch: eager (Keras' own ``jit_compile="auto"`` choice on torch): forward, ``backward``,
  ``optimizer.apply``; with ``jit`` (the ``keras-torch+compile`` mode, what ``jit_compile=True`` does on
  torch) the model's call goes through ``torch.compile``, its graph breaks counted
  (``backends.torch.compiled``).

Each train step returns the loss as a framework value without waiting for it; ``losses`` waits.

Under consecutive sampling the model is stateful (``backends.keras.model``): each step also takes the
encoder's initial states and returns its final states, which the engine keeps on the device as framework
tensors for the next call (returned from the compiled step, so they carry no graph: truncated
backpropagation through time); zeros at first, after ``reset`` and when the batch size changes. The states
are ordinary arguments of the compiled function, so it is traced once per shape as before.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


class Engine:
    def __init__(self, keras: ModuleType, model: Any, optimizer: Any, loss_fn: Any, jit: bool,
                 stateful: bool = False) -> None:
        self.keras, self.model, self.optimizer, self.loss_fn, self.jit = keras, model, optimizer, loss_fn, jit
        self.stateful = stateful
        self.carry: list[Any] = []
        optimizer.build(model.trainable_variables)

    def reset(self) -> None:
        """Start the next call from zeros."""
        self.carry = []

    def _carry(self, batch: int) -> list[Any]:
        """The states a batch of ``batch`` rows starts from: the carried ones or zeros ([] if stateless)."""
        if self.stateful and (not self.carry or self.carry[0].shape[0] != batch):
            self.carry = [self.keras.ops.zeros((batch, *t.shape[1:]), dtype=t.dtype)
                          for t in self.model.inputs[1:]]
        return self.carry

    def _inputs(self, x: Any, carry: list[Any]) -> Any:
        return [x, *carry] if self.stateful else x

    def _outputs(self, out: Any) -> tuple[Any, list[Any]]:
        """(logits, final states) of a model call."""
        return (out[0], list(out[1:])) if self.stateful else (out, [])

    def push(self) -> None:
        """Write the engine's state to the Keras variables (before they are read)."""

    def pull(self) -> None:
        """Read the engine's state from the Keras variables (after they were changed)."""

    def train(self, x: np.ndarray, y: np.ndarray) -> Any:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def compiled_shapes(self) -> int | None:
        """Training programs compiled so far (None where the engine compiles none or cannot tell)."""
        return None

    def losses(self, handles: list[Any]) -> np.ndarray:
        ops = self.keras.ops
        return np.asarray(ops.convert_to_numpy(ops.stack(handles)), dtype=np.float32).reshape(len(handles))

    def synchronize(self) -> None:
        pass


class TensorFlowEngine(Engine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        self.tf = tf
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        trainable = model.trainable_variables

        # One trace per input shape (reduce_retracing off): a trace with relaxed shapes, as
        # reduce_retracing=True makes, loses the static sequence length, and its tf.while_loop over the
        # LSTM cell trained IMDB at 0.75x the speed of Keras' own train_on_batch (bench, 2026-12-02).
        # Bucketed tasks trace once per (length, batch size); a trace takes about a second.
        @tf.function(jit_compile=self.jit, reduce_retracing=False)
        def train(x, y, carry):
            with tf.GradientTape() as tape:
                logits, carry = self._outputs(model(self._inputs(x, carry), training=True))
                loss = loss_fn(y, logits)
                scaled = optimizer.scale_loss(loss)
            # The embedding's gradient comes as IndexedSlices, which Keras' TensorFlow optimizer applies
            # lazily (only the rows in the batch: their moments alone decay, their weights alone decay by
            # L2). Dense gradients give every row the recipe's update, as the other backends do.
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                     for g in tape.gradient(scaled, trainable)]
            optimizer.apply(grads, trainable)
            return loss, carry

        @tf.function(jit_compile=self.jit, reduce_retracing=False)
        def predict(x, carry):
            return self._outputs(model(self._inputs(x, carry), training=False))

        self._train, self._predict = train, predict

    def train(self, x: np.ndarray, y: np.ndarray) -> Any:
        tf = self.tf
        loss, self.carry = self._train(tf.convert_to_tensor(x), tf.convert_to_tensor(y), self._carry(len(x)))
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits, self.carry = self._predict(self.tf.convert_to_tensor(x), self._carry(len(x)))
        return logits.numpy()

    def synchronize(self) -> None:
        sync = getattr(getattr(self.tf.test, "experimental", None), "sync_devices", None)
        if sync is not None and self.tf.config.list_logical_devices("GPU"):
            sync()


class JaxEngine(Engine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import jax

        self.jax = jax
        keras, model, optimizer, loss_fn = self.keras, self.model, self.optimizer, self.loss_fn

        def compute(trainable, non_trainable, opt_vars, x, y, w, carry):
            out, non_trainable = model.stateless_call(trainable, non_trainable, self._inputs(x, carry),
                                                      training=True)
            logits, carry = self._outputs(out)
            # one weight per row, spread over the row's targets (every step of a sequence); Keras divides a
            # weighted loss by its count of elements: rescaled, it is the mean over the weighted rows
            rows = keras.ops.broadcast_to(keras.ops.reshape(w, (-1,) + (1,) * (y.ndim - 1)), y.shape)
            loss = loss_fn(y, logits, sample_weight=rows) * (w.shape[0] / w.sum())
            with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, opt_vars, strict=True))):
                scaled = optimizer.scale_loss(loss)  # reads the loss scale of fp16 training
            return scaled, (loss, non_trainable, carry)

        grad_fn = jax.value_and_grad(compute, has_aux=True)

        def train(state, x, y, w, carry):
            trainable, non_trainable, opt_vars = state
            (_, (loss, non_trainable, carry)), grads = grad_fn(trainable, non_trainable, opt_vars, x, y, w,
                                                               carry)
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            return loss, (trainable, non_trainable, opt_vars), carry

        def predict(trainable, non_trainable, x, carry):
            out = model.stateless_call(trainable, non_trainable, self._inputs(x, carry), training=False)[0]
            return self._outputs(out)

        self._train, self._predict = jax.jit(train), jax.jit(predict)
        self._compiled: dict[tuple, Any] = {}
        self._last: Any = None
        self.pull()

    def pull(self) -> None:
        self.state = (
            [v.value for v in self.model.trainable_variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )

    def push(self) -> None:
        trainable, non_trainable, opt_vars = self.state
        for variables, values in ((self.model.trainable_variables, trainable),
                                  (self.model.non_trainable_variables, non_trainable),
                                  (self.optimizer.variables, opt_vars)):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def prepare(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Compile the step ahead of training for each example batch's shape (see ``Adapter.prepare``)."""
        for x, y in batches:
            key = (x.shape, x.dtype.str, y.shape, y.dtype.str)
            if key not in self._compiled:
                w = np.ones(len(x), np.float32)
                self._compiled[key] = self._train.lower(self.state, x, y, w, self._carry(len(x))).compile()

    def train(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Any:
        w = np.ones(len(x), np.float32) if weight is None else weight
        step = self._compiled.get((x.shape, x.dtype.str, y.shape, y.dtype.str), self._train)
        loss, self.state, self.carry = step(self.state, x, y, w, self._carry(len(x)))
        self._last = loss
        return loss

    def compiled_shapes(self) -> int:
        return self._train._cache_size() + len(self._compiled)

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits, self.carry = self._predict(self.state[0], self.state[1], x, self._carry(len(x)))
        return np.asarray(logits)

    def synchronize(self) -> None:
        self.jax.block_until_ready(self.state)


class TorchEngine(Engine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import torch

        self.torch = torch
        self.compiled = None
        if self.jit:
            from backends.torch import compiled

            self.compiled = compiled.Compiled(self.model, "compile")
        self.call = self.compiled.fn if self.compiled is not None else self.model

    def compile_report(self) -> dict[str, Any]:
        return self.compiled.report() if self.compiled is not None else {}

    def train(self, x: np.ndarray, y: np.ndarray) -> Any:
        ops, model, optimizer = self.keras.ops, self.model, self.optimizer
        carry = self._carry(len(x))
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        logits, carry = self._outputs(self.call(self._inputs(x, carry), training=True))
        loss = self.loss_fn(y, logits)
        model.zero_grad()
        optimizer.scale_loss(loss).backward()
        trainable = model.trainable_weights
        with self.torch.no_grad():
            optimizer.apply([v.value.grad for v in trainable], trainable)
        self.carry = [s.detach() for s in carry]
        return loss.detach()

    def predict(self, x: np.ndarray) -> np.ndarray:
        ops = self.keras.ops
        with self.torch.no_grad():
            carry = self._carry(len(x))
            logits, self.carry = self._outputs(self.call(self._inputs(ops.convert_to_tensor(x), carry),
                                                         training=False))
            return ops.convert_to_numpy(logits)

    def synchronize(self) -> None:
        if self.torch.cuda.is_available() and self.torch.cuda.is_initialized():
            self.torch.cuda.synchronize()


ENGINES = {"tensorflow": TensorFlowEngine, "jax": JaxEngine, "torch": TorchEngine}
