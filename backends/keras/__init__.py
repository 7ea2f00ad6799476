"""Keras 3: ``Embedding``/``LSTM``/``GRU``/``SimpleRNN``/``Dense``/``Dropout`` on TensorFlow (the default
Keras backend), JAX or PyTorch. The three share one adapter and one tox environment; each is its own backend
(its own record row). Keras is imported lazily by the adapter, after ``KERAS_BACKEND`` is set."""

from backends.base import BackendInfo

BACKENDS = (
    BackendInfo(
        name="keras",
        adapter="backends.keras.adapter:KerasAdapter",
        requires=("keras", "tensorflow"),
        tox_env="keras",
        description="Keras 3.15 on TensorFlow 2.21, tf.function train step (cuDNN LSTM/GRU on a GPU)",
        options={"keras_backend": "tensorflow"},
        modes={"auto": "jit_compile as Keras' \"auto\" decides: XLA on a GPU unless cuDNN runs the "
                       "recurrence, a plain tf.function on a CPU",
               "xla": "tf.function(jit_compile=True): XLA always",
               "noxla": "tf.function(jit_compile=False): TensorFlow's graph executor (oneDNN kernels)"},
    ),
    BackendInfo(
        name="keras-jax",
        adapter="backends.keras.adapter:KerasAdapter",
        requires=("keras", "jax"),
        tox_env="keras",
        description="Keras 3.15 on JAX, jax.jit stateless train step (recurrence as lax.scan under XLA)",
        options={"keras_backend": "jax"},
        modes={"xla": "jax.jit of the stateless train step: XLA, Keras' only mode on JAX"},
    ),
    BackendInfo(
        name="keras-torch",
        adapter="backends.keras.adapter:KerasAdapter",
        requires=("keras", "torch"),
        tox_env="keras",
        description="Keras 3.15 on PyTorch 2.13, eager train step (Python loops over time steps on a CPU)",
        options={"keras_backend": "torch"},
        modes={"eager": "eager PyTorch, Keras' jit_compile=\"auto\" choice on torch",
               "compile": "jit_compile=True on torch: torch.compile of the Keras model's call"},
    ),
)
