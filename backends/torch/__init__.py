"""PyTorch: ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (fused CPU kernels, cuDNN on a GPU); a per-step loop where no
fused kernel applies (the spiking LSTM, recurrent dropout)."""

from backends.base import BackendInfo

BACKENDS = (
    BackendInfo(
        name="torch",
        adapter="backends.torch.adapter:TorchAdapter",
        requires=("torch",),
        tox_env="torch",
        description="PyTorch 2.13, nn.LSTM/GRU/RNN (fused), CUDA/cuDNN when a GPU is present",
        modes={
            "eager": "eager PyTorch: the fused nn.LSTM/GRU/RNN kernel, or a Python step loop / scan",
            "compile": "torch.compile (inductor, default mode) of the model's forward; nn.LSTM/GRU/RNN "
                       "traced with torch._dynamo.config.allow_rnn",
            "compile-max": "torch.compile(mode='max-autotune-no-cudagraphs'): inductor's autotuned kernels",
        },
    ),
)
