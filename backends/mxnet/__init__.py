"""MXNet: Gluon ``rnn.LSTM``/``GRU``/``RNN`` (the fused RNN operator, oneDNN on a CPU), hybridized."""

from backends.base import BackendInfo

BACKENDS = (
    BackendInfo(
        name="mxnet",
        adapter="backends.mxnet.adapter:MXNetAdapter",
        requires=("mxnet",),
        tox_env="mxnet",
        description="MXNet 1.9.1 Gluon, rnn.LSTM/GRU/RNN (fused RNN operator), hybridized; CPU",
        modes={"static": "hybridize(static_alloc=True, static_shape=True): one memory plan per shape",
               "dynamic": "hybridize() without static_alloc/static_shape"},
    ),
)
