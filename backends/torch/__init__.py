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
    ),
)
