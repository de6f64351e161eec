"""MemoryRNN: the base recurrent layer of the library's memory cells."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.ops import fast_paths
from keras_engram.src.ops.scan import scan


class MemoryRNN(keras.layers.RNN):
    """Runs a `MemoryCell` over a sequence, and keeps its memory across calls when stateful.

    A `keras.layers.RNN` whose time loop is driven by the cell's loop
    protocol (see `MemoryCell`): the cell's input work runs for all steps
    before the loop, random draws are made before the loop, masks,
    `go_backwards`, `stateful` and `unroll` behave as in Keras, and the
    cell can return per-step extras (the ENN's attention weights).

    Memory across calls: with `stateful=True` the final states of a call
    are the initial states of the next (a fixed batch size). The memory
    contract, shared by every system of the library:

    - `reset_memory()` sets the stored states to zeros;
    - `get_memory_state()` returns every stored state as NumPy arrays, and
      `set_memory_state(states)` assigns them back, bit for bit;
    - with `save_memory=True` the stored states are non-trainable weights
      of the layer, so `model.save()` / `save_weights()` write them and
      loading restores them. By default (`save_memory=False`) they are not
      weights, as with Keras's own stateful RNN layers (whose states
      `save()` does not write), and a model's weight files do not depend
      on whether it is stateful.

    Args:
        cell: a `MemoryCell`.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states.
        go_backwards: bool, process the sequence backwards (outputs come in
            processing order, as in Keras).
        stateful: bool, carry the states across calls.
        unroll: bool or positive int (see `keras_engram.layers.Engram`).
        save_memory: bool, keep the stored states of a stateful layer as
            weights (saved with the model).
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        save_memory=False,
        **kwargs,
    ):
        if not isinstance(unroll, bool):
            unroll = validation.positive_int("unroll", unroll)
        super().__init__(
            cell,
            return_sequences=validation.boolean("return_sequences", return_sequences),
            return_state=validation.boolean("return_state", return_state),
            go_backwards=validation.boolean("go_backwards", go_backwards),
            stateful=validation.boolean("stateful", stateful),
            unroll=unroll,
            **kwargs,
        )
        self.save_memory = validation.boolean("save_memory", save_memory)
        if self.save_memory and not self.stateful:
            raise ValueError(
                "Expected `stateful=True` with `save_memory=True`: only a stateful layer keeps "
                "memory across calls. Received: save_memory=True, stateful=False"
            )
        self.supports_jit = fast_paths.supports_xla(None, self.unroll)

    # --- building ---

    def build(self, sequences_shape, initial_state_shape=None):
        _check_rank(sequences_shape)
        if not self.cell.built:
            self.cell.build((sequences_shape[0], *sequences_shape[2:]))
        if self.stateful and self.save_memory and self.states is None:
            batch_size = sequences_shape[0]
            if batch_size is None:
                raise ValueError(
                    "Expected a static batch size for a stateful layer (`keras.Input("
                    f"batch_shape=...)`). Received: sequences.shape={tuple(sequences_shape)}"
                )
            # Tracked weights (written by `save()`), not Keras's untracked states.
            self.states = [
                self.add_weight(
                    shape=(batch_size, size),
                    initializer="zeros",
                    trainable=False,
                    name=f"memory_state_{index}",
                )
                for index, size in enumerate(self.state_size)
            ]
        super().build(sequences_shape, initial_state_shape)
        self.supports_jit = fast_paths.supports_xla(sequences_shape[1], self.unroll)

    # --- the memory contract ---

    def reset_memory(self):
        """Sets the stored states of a stateful layer to zeros (nothing to do otherwise)."""
        self.reset_state()

    def get_memory_state(self):
        """Every stored state of a stateful layer, as NumPy arrays (copies).

        Returns:
            A list with one `(batch, size)` array per state, in `state_size` order.
        """
        self._check_memory("get_memory_state")
        return [ops.convert_to_numpy(state) for state in self.states]

    def set_memory_state(self, states):
        """Assigns every stored state of a stateful layer (bit for bit).

        Args:
            states: a list of arrays shaped as `get_memory_state()` returns them.
        """
        self._check_memory("set_memory_state")
        expected = [tuple(state.shape) for state in self.states]
        if not isinstance(states, (list, tuple)) or len(states) != len(expected):
            raise ValueError(
                f"Expected `states` to be a list of {len(expected)} arrays of shapes {expected}. "
                f"Received: states={states!r}"
            )
        received = [tuple(ops.shape(state)) for state in states]
        if received != expected:
            raise ValueError(
                f"Expected `states` of shapes {expected}. Received: shapes {received}"
            )
        for variable, value in zip(self.states, states):
            variable.assign(ops.cast(value, variable.dtype))

    def _check_memory(self, method):
        if not self.stateful:
            raise ValueError(
                f"Expected a stateful layer for `{method}()`: a layer keeps memory across calls "
                f"only with `stateful=True`. Received: stateful={self.stateful}"
            )
        if self.states is None:
            raise ValueError(
                f"Expected a built layer for `{method}()`: its memory is created when the "
                "layer is first called (or built with a batch size)."
            )

    # --- running ---

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return self._call(sequences, initial_state, mask, training)

    def _call(self, sequences, initial_state, mask, training, extras=()):
        """`call`, also returning the cell's per-step `extras` (names), last."""
        initial_state = self._start_state(sequences, initial_state)
        if self.stateful:
            # The loop reads copies, so that assigning the variables below
            # cannot change a tensor a backward pass needs (torch's autograd).
            initial_state = [ops.copy(s) for s in initial_state]
        collected = tuple(dict.fromkeys((*extras, *self.cell._loop_required_extras())))
        last_output, outputs, states, values = self._run(
            sequences, initial_state, mask, training, collected
        )
        loss = self.cell._loop_loss(values)
        if loss is not None:
            self.add_loss(loss)
        if self.stateful:
            for variable, value in zip(self.states, states):
                variable.assign(ops.cast(value, variable.dtype))

        result = [outputs if self.return_sequences else last_output]
        if self.return_state:
            result.extend(states)
        result.extend(values[name] for name in extras)
        result = [ops.cast(r, self.compute_dtype) for r in result]
        return result[0] if len(result) == 1 else result

    def _output_spec(self, sequences, extras=()):
        shapes = self.compute_output_shape(sequences.shape)
        dtype = self.compute_dtype
        if self.return_state:
            specs = [keras.KerasTensor(s, dtype=dtype) for s in shapes]
        else:
            specs = [keras.KerasTensor(shapes, dtype=dtype)]
        batch, steps = sequences.shape[0], sequences.shape[1]
        sizes = self.cell._loop_extra_sizes
        specs.extend(keras.KerasTensor((batch, steps, sizes[name]), dtype=dtype) for name in extras)
        return specs[0] if len(specs) == 1 else specs

    def _start_state(self, sequences, initial_state):
        """Checks the inputs and returns the initial states in the cell's dtype.

        Default: the stored states when stateful; otherwise None for each
        state (the cell forms its zero start in its own loop form).
        """
        _check_rank(sequences.shape)
        features = sequences.shape[-1]
        built_for = getattr(self.cell, "input_dim", None)
        if built_for is not None and features is not None and features != built_for:
            raise ValueError(
                f"Expected inputs with {built_for} features (the size {self.name} was built "
                f"with). Received: sequences.shape={tuple(sequences.shape)}"
            )
        if self.stateful:
            stored = self.states[0].shape[0]
            if sequences.shape[0] not in (None, stored):
                raise ValueError(
                    f"Expected a batch size of {stored} for this stateful layer. "
                    f"Received: sequences.shape={tuple(sequences.shape)}"
                )
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                return [None] * len(self.state_size)
        expected = [(None, size) for size in self.state_size]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(expected):
            raise ValueError(
                f"Expected `initial_state` to be a list of {len(expected)} tensors of shapes "
                f"{_shapes_text(expected)}. Received: initial_state={initial_state!r}"
            )
        received = [tuple(ops.shape(s)) for s in initial_state]
        if any(len(r) != 2 or r[1] != e[1] for r, e in zip(received, expected)):
            raise ValueError(
                f"Expected `initial_state` of shapes {_shapes_text(expected)}. "
                f"Received: initial_state shapes {received}"
            )
        return [ops.cast(s, self.cell.compute_dtype) for s in initial_state]

    def _run(self, sequences, initial_state, mask, training, extras):
        """The time loop. Returns `(last_output, outputs, states, extras)`."""
        cell = self.cell
        training = bool(training)
        if mask is not None:
            mask = ops.cast(mask, "bool")
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
            if mask is not None:
                mask = ops.flip(mask, axis=1)

        inputs = cell._loop_inputs(sequences, training=training)
        batch_size = ops.shape(sequences)[0]
        start, context = cell._loop_start(initial_state, batch_size)
        noise = cell._loop_noise(ops.shape(sequences)[1], training=training)
        constants = cell._loop_constants(batch_size, training=training)
        collect_sequence = self.return_sequences
        dtype = cell.compute_dtype
        sizes = [cell.output_size] if collect_sequence else []
        sizes.extend(cell._loop_extra_sizes[name] for name in extras)

        def step_loop(carry=start, inputs=inputs, noise=noise, mask=mask):
            """The step loop over `inputs` (batch-major) from `carry`: `(final_carry, outputs, extras)`."""
            xs = [ops.swapaxes(x, 0, 1) for x in inputs]
            count = len(xs)
            if mask is not None:
                xs.append(ops.expand_dims(ops.transpose(mask, (1, 0)), -1))
            xs.extend(noise)

            def step(carry, x):
                mask_t = x[count] if mask is not None else None
                noise_t = tuple(x[len(x) - len(noise) :])
                output, carry, values = cell._loop_step(
                    constants, carry, tuple(x[:count]), noise_t, mask_t, training
                )
                outputs = [output] if collect_sequence else []
                outputs.extend(values[name] for name in extras)
                return carry, tuple(outputs)

            templates = tuple(ops.zeros((batch_size, size), dtype=dtype) for size in sizes)
            if fast_paths.rematerializes_steps(cell):
                step = keras.remat(step)
            final_carry, stacked = scan(step, carry, tuple(xs), templates, unroll=self.unroll)
            stacked = [ops.swapaxes(s, 0, 1) for s in stacked]
            outputs = stacked.pop(0) if collect_sequence else None
            return final_carry, outputs, dict(zip(extras, stacked))

        def time_loop(loop_step, init, loop_xs, templates=()):
            return scan(loop_step, init, loop_xs, templates, unroll=self.unroll)

        whole = cell._loop_sequence(
            constants, start, inputs, noise, mask, training, initial_state,
            extras, collect_sequence, time_loop, step_loop,
        )
        final_carry, outputs, values = step_loop() if whole is None else whole
        states = cell._loop_end(final_carry, context, mask, sequences.shape[1])
        return cell._loop_output(final_carry), outputs, states, values

    def get_config(self):
        # `keras.layers.RNN.get_config` serializes the cell; a memory layer
        # builds its cell from its own arguments, so it starts from `Layer`'s.
        return {
            **keras.layers.Layer.get_config(self),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "save_memory": self.save_memory,
        }

    @classmethod
    def from_config(cls, config):
        # A memory layer's config holds its constructor arguments (no serialized cell).
        return cls(**config)


def _check_rank(shape):
    if len(shape) != 3:
        raise ValueError(
            "Expected `sequences` of rank 3 (batch, timesteps, features). "
            f"Received: sequences.shape={tuple(shape)}"
        )


def _shapes_text(shapes):
    return "[" + ", ".join(f"(batch, {size})" for _, size in shapes) + "]"
