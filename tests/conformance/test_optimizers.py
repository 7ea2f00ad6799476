"""One optimizer, one formula: every backend's optimizer, fed the same gradients, moves the weights as
the NumPy reference (``backends.optim_reference``) does, for every form the recipe can ask for (Adam's
epsilon on the corrected or uncorrected moment, RMSprop's epsilon inside or outside the root, centered,
momentum, weight decay, global-norm clipping). A backend using the other epsilon form is caught."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from backends import optim_reference
from tasks.spec import Recipe

RNG = np.random.default_rng(7)
WEIGHTS = [RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=(4,)).astype(np.float32)]
# gradients of very different sizes, some far below eps, where the epsilon forms part ways
GRADS = [[(RNG.normal(size=w.shape) * scale).astype(np.float32) for w in WEIGHTS]
         for scale in (1.0, 1e-3, 1e-5, 0.5, 1e-4, 2.0, 1e-6, 0.1)]

RECIPES = {
    "adam corrected": Recipe(optimizer="adam", lr=1e-2, eps=1e-4, adam_eps="corrected"),
    "adam uncorrected": Recipe(optimizer="adam", lr=1e-2, eps=1e-4, adam_eps="uncorrected"),
    "adam + decay + clip": Recipe(optimizer="adam", lr=1e-2, eps=1e-4, weight_decay=0.1, clip_norm=0.5),
    "rmsprop inside": Recipe(optimizer="rmsprop", lr=1e-2, eps=1e-4, rms_eps="inside"),
    "rmsprop outside": Recipe(optimizer="rmsprop", lr=1e-2, eps=1e-4, rms_eps="outside"),
    "rmsprop centered": Recipe(optimizer="rmsprop", lr=1e-2, eps=1e-4, rms_eps="inside", centered=True),
    "rmsprop momentum": Recipe(optimizer="rmsprop", lr=1e-2, eps=1e-4, rms_eps="outside", momentum=0.9),
    "rmsprop all": Recipe(optimizer="rmsprop", lr=1e-2, eps=1e-4, rms_eps="outside", centered=True,
                          momentum=0.5, weight_decay=0.05, clip_norm=1.0),
    "sgd momentum + decay + clip": Recipe(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=0.01,
                                          clip_norm=0.5),
}


def _torch(recipe):
    import torch

    from backends.torch import train

    params = [torch.nn.Parameter(torch.tensor(w)) for w in WEIGHTS]
    opt = train.optimizer(recipe, params)
    for grads in GRADS:
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.tensor(g)
        if recipe.clip_norm:  # as the adapter clips, before the optimizer's step
            torch.nn.utils.clip_grad_norm_(params, recipe.clip_norm)
        opt.step()
    return [p.detach().numpy() for p in params]


def _keras(keras_backend):
    def run(recipe):
        from backends.keras import runtime, train

        keras = runtime.load(keras_backend)
        variables = [keras.Variable(w) for w in WEIGHTS]
        opt = train.optimizer(keras, recipe)
        for grads in GRADS:
            opt.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
        return [keras.ops.convert_to_numpy(v.value) for v in variables]

    return run


def _jax(recipe):
    import jax.numpy as jnp
    import optax

    from backends.jax import train

    params = [jnp.asarray(w) for w in WEIGHTS]
    tx = train.optimizer(recipe)
    state = tx.init(params)
    for grads in GRADS:
        updates, state = tx.update([jnp.asarray(g) for g in grads], state, params)
        params = optax.apply_updates(params, updates)
    return [np.asarray(p) for p in params]


def _mxnet(recipe):
    import mxnet as mx
    from mxnet import gluon

    from backends.mxnet import train

    weights = [mx.nd.array(w) for w in WEIGHTS]
    updater = mx.optimizer.get_updater(train.optimizer(recipe))  # what gluon.Trainer drives
    for grads in GRADS:
        g = [mx.nd.array(x) for x in grads]
        if recipe.clip_norm:  # as the adapter clips, before trainer.step
            gluon.utils.clip_global_norm(g, recipe.clip_norm, check_isfinite=False)
        for i, (w, gi) in enumerate(zip(weights, g, strict=True)):
            updater(i, gi, w)
    return [w.asnumpy() for w in weights]


def _have(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


DRIVERS = {
    "torch": (_torch, ("torch",)),
    "keras": (_keras("tensorflow"), ("keras", "tensorflow")),
    "keras-jax": (_keras("jax"), ("keras", "jax")),
    "keras-torch": (_keras("torch"), ("keras", "torch")),
    "jax": (_jax, ("jax", "optax", "flax")),
    "mxnet": (_mxnet, ("mxnet",)),
}
PARAMS = [pytest.param(name, marks=pytest.mark.skipif(not _have(*m), reason=f"{', '.join(m)} missing"))
          for name, (_, m) in DRIVERS.items()]


@pytest.mark.parametrize("backend", PARAMS)
@pytest.mark.parametrize("form", list(RECIPES))
def test_optimizer_computes_the_recipes_formula(backend, form):
    recipe = RECIPES[form]
    got = DRIVERS[backend][0](recipe)
    want = optim_reference.steps(recipe, WEIGHTS, GRADS)
    moved = max(float(np.max(np.abs(w - w0))) for w, w0 in zip(want, WEIGHTS, strict=True))
    assert moved > 1e-2, "the steps must move the weights for the comparison to mean anything"
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", PARAMS)
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_the_other_epsilon_form_is_caught(backend, optimizer):
    """The comparison can fail: the backend's result differs from the other form's reference."""
    recipe = RECIPES[f"{optimizer} {'corrected' if optimizer == 'adam' else 'inside'}"]
    flip = {"adam_eps": "uncorrected"} if optimizer == "adam" else {"rms_eps": "outside"}
    other = replace(recipe, **flip)
    got = DRIVERS[backend][0](recipe)
    want = optim_reference.steps(other, WEIGHTS, GRADS)
    assert max(float(np.max(np.abs(g - w))) for g, w in zip(got, want, strict=True)) > 1e-4
