"""Per-backend half of the parity battery (the backend is fixed per process).

    KERAS_BACKEND=jax python tests/parity/harness.py run  --out DIR [--gpu] [--precision P]
    KERAS_BACKEND=jax python tests/parity/harness.py port --out DIR [--gpu] [--precision P]
    KERAS_BACKEND=tensorflow python tests/parity/harness.py reference --out DIR [--gpu]

`run` writes DIR/<backend>/<case>.npz (forward outputs, gradients of a fixed
scalar loss with respect to the float inputs and every trainable weight, the
losses of 5 Adam steps and the weights after them) and saves each model as
`.keras` and `.weights.h5`. `port` loads every other backend's saved models
and writes the outputs they give here (DIR/<backend>/port_<source>.npz).
`reference` runs every case once more in float64 (the same float32 weights,
inputs and targets, upcast) and writes its outputs and gradients to
DIR/float64/<case>.npz: the anchor for the gradients, which the NumPy
reference does not compute, and for the outputs of cases without a NumPy
golden. The harness uses each backend's own autodiff; the library never does.

Presets: `run` also loads every built-in preset and builds two task models
with the NumPy-seeded weights, records their predictions (the built-in ones
on their whole test split, with the labels and the metadata's count of
correct predictions) in DIR/<backend>/presets.npz, and saves each with
`save_to_preset` to DIR/<backend>/presets/<name>/; `port` loads the other
backends' preset directories with `from_preset` and writes their predictions
here (DIR/<backend>/presets_port_<source>.npz).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BACKENDS = ("jax", "torch", "tensorflow")
# Adam's default epsilon (1e-7) divides each gradient component by its own
# magnitude, so a component at float32 rounding level (|g| ~ 1e-6 x max|g|,
# whose value legitimately differs by a few % between backends) becomes a
# full learning-rate step and the weights after 5 steps then differ by ~1e-4.
# With epsilon 1e-3 such components move in proportion to their size and the
# comparison measures the backends' arithmetic, not that amplification.
ADAM_STEPS, ADAM_LR, ADAM_EPSILON = 5, 1e-2, 1e-3


def configure(gpu):
    """Full float32 matmuls (no TF32), and the device check for --gpu."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        devices = [str(d) for d in jax.devices()]
        has_gpu = any(d.platform == "gpu" for d in jax.devices())
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        has_gpu = torch.cuda.is_available()
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or ["cpu"]
    else:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        gpus = tf.config.list_physical_devices("GPU")
        has_gpu = bool(gpus)
        devices = [d.name for d in gpus] or ["cpu"]
    if gpu and not has_gpu:
        raise SystemExit(
            f"parity --gpu: no GPU is visible to the {backend} backend (devices: {devices}). "
            "Install the CUDA build of the backend or run without --gpu."
        )
    if not gpu and has_gpu:
        devices = ["cpu (GPU visible but not asked for)"]
    return backend, devices


def as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def loss_fn(outputs, targets):
    """Mean squared error in the targets' dtype (float32, or float64 for the reference)."""
    from keras import ops

    outputs = as_list(outputs)
    total = 0.0
    for out, target in zip(outputs, targets):
        target = ops.convert_to_tensor(target)
        total = total + ops.mean(ops.square(ops.cast(out, target.dtype) - target))
    return total


def _split(inputs):
    floats = {k: v for k, v in inputs.items() if v.dtype.kind == "f"}
    others = {k: v for k, v in inputs.items() if v.dtype.kind != "f"}
    return floats, others


def value_and_grads(model, inputs, targets, training=False):
    """Loss, gradients wrt trainable weights, gradients wrt float inputs (backend autodiff)."""
    import keras

    backend = keras.backend.backend()
    floats, others = _split(inputs)
    names = sorted(floats)
    if backend == "jax":
        import jax

        others = {k: jax.numpy.asarray(v) for k, v in others.items()}
        # RNN state variables are created untracked (not in non_trainable_variables),
        # so stateless_call would drop their updates: thread them explicitly.
        from cases import walk_layers

        states = [v for layer in walk_layers(model) if getattr(layer, "stateful", False)
                  for v in (getattr(layer, "states", None) or [])]
        frozen = [(v, v.value) for v in model.non_trainable_variables + states]

        def f(weights, xs):
            mapping = list(zip(model.trainable_variables, weights)) + frozen
            with keras.StatelessScope(state_mapping=mapping) as scope:
                outs = model({**xs, **others}, training=training)
            return loss_fn(outs, targets), [scope.get_current_value(v) for v in states]

        (loss, new_states), (gw, gx) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
            [v.value for v in model.trainable_variables], {k: floats[k] for k in names}
        )
        for variable, value in zip(states, new_states):
            if value is not None:
                variable.assign(value)
        return float(loss), [np.asarray(g) for g in gw], [np.asarray(gx[k]) for k in names]
    if backend == "torch":
        import torch

        # convert_to_tensor places the inputs on Keras's device (CUDA when visible).
        xs = {k: keras.ops.convert_to_tensor(v).detach().requires_grad_() for k, v in floats.items()}
        xs.update({k: keras.ops.convert_to_tensor(v) for k, v in others.items()})
        loss = loss_fn(model(xs, training=training), targets)
        wrt = [v.value for v in model.trainable_variables] + [xs[k] for k in names]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        grads = [np.zeros(tuple(w.shape)) if g is None else g.detach().cpu().numpy() for g, w in zip(grads, wrt)]
        n = len(model.trainable_variables)
        return float(loss.detach().cpu()), grads[:n], grads[n:]
    import tensorflow as tf

    xs = {k: tf.constant(v) for k, v in {**floats, **others}.items()}
    with tf.GradientTape() as tape:
        tape.watch([xs[k] for k in names])
        loss = loss_fn(model(xs, training=training), targets)
    wrt = [v.value for v in model.trainable_variables] + [xs[k] for k in names]
    grads = tape.gradient(loss, wrt, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    n = len(model.trainable_variables)
    grads = [g.numpy() for g in grads]
    return float(loss), grads[:n], grads[n:]


def forward(model, inputs, training=False):
    import keras

    outputs = as_list(model(inputs, training=training))
    return [keras.ops.convert_to_numpy(o).astype(np.float64) for o in outputs]


def reset(model):
    from cases import walk_layers

    for layer in walk_layers(model):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()


def targets_for(case_name, outputs):
    rng = np.random.default_rng([ord(c) for c in case_name])
    return [rng.normal(size=o.shape).astype("float32") for o in outputs]


def _outputs_and_grads(case, inputs, dtype):
    """Builds the case with its seeded weights; records outputs and gradients in `dtype`."""
    from cases import set_seeded_weights

    model = case.build()
    set_seeded_weights(model, seed=[ord(c) for c in case.name])
    record = {"weight_paths": np.array([v.path for v in model.weights])}
    outputs = forward(model, inputs, case.training)
    if case.stateful:
        outputs += forward(model, inputs, case.training)  # continuation from the stored states
    for i, out in enumerate(outputs):
        record[f"out_{i}"] = out

    reset(model)
    targets = [t.astype(dtype) for t in targets_for(case.name, outputs[: len(model.outputs)])]
    loss, grad_w, grad_x = value_and_grads(model, inputs, targets, case.training)
    record["loss_0"] = np.array(loss)
    for i, g in enumerate(grad_w):
        record[f"grad_w_{i}"] = np.asarray(g, np.float64)
    for i, g in enumerate(grad_x):
        record[f"grad_x_{i}"] = np.asarray(g, np.float64)
    return model, record, targets


def run_case(case, out_dir):
    import keras

    model, record, targets = _outputs_and_grads(case, case.inputs, "float32")
    if case.golden is not None:
        for i, gold in enumerate(case.golden(model, case.inputs)):
            record[f"golden_{i}"] = np.asarray(gold, np.float64)

    # Saved before training so that `port` reproduces `out_*`.
    saved = os.path.join(out_dir, case.name)
    model.save(saved + ".keras")
    model.save_weights(saved + ".weights.h5")

    reset(model)
    optimizer = keras.optimizers.Adam(ADAM_LR, epsilon=ADAM_EPSILON)
    optimizer.build(model.trainable_variables)
    losses = []
    for _ in range(ADAM_STEPS):
        loss, grad_w, _ = value_and_grads(model, case.inputs, targets, case.training)
        losses.append(loss)
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grad_w], model.trainable_variables)
    record["train_losses"] = np.array(losses)
    for i, v in enumerate(model.trainable_variables):
        record[f"trained_{i}"] = keras.ops.convert_to_numpy(v).astype(np.float64)
    np.savez(saved + ".npz", **record)


def reference(case, out_dir):
    """The case in float64: float32 weights, inputs and targets upcast (no training)."""
    inputs = {k: v.astype("float64") if v.dtype.kind == "f" else v for k, v in case.inputs.items()}
    _, record, _ = _outputs_and_grads(case, inputs, "float64")
    np.savez(os.path.join(out_dir, case.name + ".npz"), **record)


def port(cases, out_dir, backend, precision):
    """Loads each other backend's saved models here; records their outputs."""
    import keras

    for source in BACKENDS:
        source_dir = os.path.join(os.path.dirname(out_dir), source)
        if source == backend or not os.path.isdir(source_dir):
            continue
        # Stateful cases are named as skipped, so compare.py can tell them from missing ones.
        record = {"skipped": np.array(sorted(c.name for c in cases.values() if c.stateful), dtype=str)}
        for case in cases.values():
            if case.stateful:
                continue  # state variables are not part of the portable model
            loaded = keras.models.load_model(os.path.join(source_dir, case.name + ".keras"))
            record[f"{case.name}__keras"] = forward(loaded, case.inputs, case.training)[0]
            rebuilt = case.build()
            rebuilt.load_weights(os.path.join(source_dir, case.name + ".weights.h5"))
            record[f"{case.name}__h5"] = forward(rebuilt, case.inputs, case.training)[0]
            fresh_session()
            keras.config.set_dtype_policy(precision)
        np.savez(os.path.join(out_dir, f"port_{source}.npz"), **record)


def fresh_session():
    """`keras.backend.clear_session()`, and on JAX its compilation caches too.

    One process runs every case; JAX keeps each compiled executable, and
    their memory mappings otherwise reach the kernel's per-process limit
    (LLVM then fails with "Cannot allocate memory").
    """
    import keras

    keras.backend.clear_session()
    if keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()


def preset_cases(precision):
    """name -> (build, inputs, labels, correct): the built-in presets and two seeded task models."""
    from cases import ENGRAM, F, T, X, set_seeded_weights

    from keras_engram import datasets
    from keras_engram.models import EngramClassifier, EngramRegressor, Task
    from keras_engram.src.presets.registry import BUILTIN_PRESETS

    found = {}
    # The task presets (the memory-native models' presets: tests/test_memory_native_presets.py).
    for name in sorted(Task.presets):
        with open(os.path.join(BUILTIN_PRESETS[name]["path"], "metadata.json")) as f:
            metadata = json.load(f)
        data = metadata["training_data"]
        _, (x_test, y_test) = getattr(datasets, data["loader"].rsplit(".", 1)[1])(**data["arguments"])
        found[name] = (lambda name=name: Task.from_preset(name, dtype=precision),
                       {"x": x_test}, y_test, metadata["score"]["correct"])

    def seeded(build, name):
        def make():
            model = build()
            set_seeded_weights(model, seed=[ord(c) for c in name])
            return model
        return make

    found["seeded_classifier"] = (seeded(lambda: EngramClassifier(
        input_shape=(T, F), num_classes=3, dtype=precision, **ENGRAM), "seeded_classifier"), {"x": X}, None, None)
    found["seeded_regressor"] = (seeded(lambda: EngramRegressor(
        input_shape=(T, F), output_dim=2, dtype=precision, **ENGRAM), "seeded_regressor"), {"x": X}, None, None)
    return found


def predict(model, inputs):
    import keras

    return keras.ops.convert_to_numpy(model(inputs["x"], training=False)).astype(np.float64)


def run_presets(out_dir, precision):
    """Predictions of the presets here, and each saved with save_to_preset (see the module docstring)."""
    record = {}
    for name, (build, inputs, labels, correct) in preset_cases(precision).items():
        model = build()
        record[f"{name}__predictions"] = predict(model, inputs)
        if labels is not None:
            record[f"{name}__labels"] = np.asarray(labels)
            record[f"{name}__correct"] = np.array(correct)
        model.save_to_preset(os.path.join(out_dir, "presets", name))
        fresh_session()
    np.savez(os.path.join(out_dir, "presets.npz"), **record)


def port_presets(out_dir, backend, precision):
    """Loads each other backend's preset directories here; records their predictions."""
    from keras_engram.models import Task

    cases = preset_cases(precision)
    for source in BACKENDS:
        source_dir = os.path.join(os.path.dirname(out_dir), source)
        if source == backend or not os.path.isdir(source_dir):
            continue
        record = {}
        for name, (_, inputs, _, _) in cases.items():
            loaded = Task.from_preset(os.path.join(source_dir, "presets", name), dtype=precision)
            record[name] = predict(loaded, inputs)
            fresh_session()
        np.savez(os.path.join(out_dir, f"presets_port_{source}.npz"), **record)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "port", "reference"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--cases", nargs="*", default=None)
    args = parser.parse_args()

    import keras

    backend, devices = configure(args.gpu)
    import cases as case_module

    selected = {k: v for k, v in case_module.CASES.items() if not args.cases or k in args.cases}
    out_dir = os.path.join(args.out, "float64" if args.command == "reference" else backend)
    os.makedirs(out_dir, exist_ok=True)
    if args.command == "reference":
        if backend != "tensorflow":
            # keras.backend.result_type maps float64 to float32 on JAX and torch
            # (BIT64_TO_BIT32_DTYPE, to match JAX without x64): ops.matmul and
            # LayerNormalization would silently compute in float32 there.
            raise SystemExit("parity reference: run it with KERAS_BACKEND=tensorflow, the only "
                             f"backend where Keras computes in float64. Received: {backend}")
        keras.config.set_floatx("float64")  # keras.Input's default dtype
        for case in selected.values():
            keras.config.set_dtype_policy("float64")
            reference(case, out_dir)
            fresh_session()
        with open(os.path.join(out_dir, "devices.json"), "w") as f:
            json.dump({"backend": backend, "devices": devices, "keras": keras.__version__,
                       "precision": "float64", "cases": sorted(selected)}, f)
        print(f"float64 reference on {backend}: {len(selected)} cases on {devices}")
    elif args.command == "run":
        for case in selected.values():
            keras.utils.set_random_seed(0)
            keras.config.set_dtype_policy(args.precision)  # clear_session() resets it
            run_case(case, out_dir)
            fresh_session()
        keras.utils.set_random_seed(0)
        run_presets(out_dir, args.precision)
        with open(os.path.join(out_dir, "devices.json"), "w") as f:
            json.dump({"backend": backend, "devices": devices, "keras": keras.__version__,
                       "precision": args.precision, "cases": sorted(selected)}, f)
        print(f"{backend}: {len(selected)} cases on {devices}")
    else:
        keras.config.set_dtype_policy(args.precision)
        port(selected, out_dir, backend, args.precision)
        port_presets(out_dir, backend, args.precision)
        print(f"{backend}: loaded the other backends' models")


if __name__ == "__main__":
    main()
