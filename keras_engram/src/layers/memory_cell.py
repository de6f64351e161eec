"""MemoryCell: the base of the library's recurrent memory cells."""

import keras
from keras import ops

# The keys `keras.layers.Layer.get_config` writes; a cell's own arguments are the rest.
LAYER_CONFIG_KEYS = ("name", "trainable", "dtype")


class MemoryCell(keras.layers.Layer):
    """Base class of a recurrent memory cell: the Keras cell contract plus a loop protocol.

    A subclass is a standard Keras RNN cell (`keras.layers.RNN(cell)` runs
    it through `call`), and it also implements a small private protocol
    that `MemoryRNN` drives: the work that does not depend on the previous
    state runs once for the whole sequence before the time loop, random
    draws are made before the loop (never inside it), and the loop may
    carry the states in a form of the cell's choosing (a matrix instead of
    a flat vector, a different unit).

    The protocol (every method private; `call` is written with it):

    - `_loop_inputs(sequences, training)`: the per-step inputs computed for
      all steps at once, a tuple of `(batch, time, ...)` tensors (features
      last; `call` passes one step, `(batch, features)`). Default:
      `(sequences,)`.
    - `_loop_noise(steps, training)`: random draws for the loop, a tuple of
      time-major `(steps, rows, n)` tensors (`rows` 1 or the batch size).
      Default: none.
    - `_loop_constants(batch_size, training)`: what the step reads that is
      fixed for the sequence, as a dict of tensors: the weights, read once,
      and per-sequence random draws such as dropout masks. Default: `{}`.
    - `_loop_start(states, batch_size)`: the loop's carry from the Keras
      states (a list of `(batch, size)` tensors; an entry is None where the
      default zero start is asked for), and a context handed to `_loop_end`.
    - `_loop_step(constants, carry, inputs, noise, mask, training)`: one
      step; `inputs` and `noise` are tuples of one step's slices, `mask` a
      `(batch, 1)` boolean tensor or None (a masked sample keeps its state
      and repeats its previous output). Returns `(output, carry, extras)`,
      `extras` a dict of per-step `(batch, width)` tensors.
    - `_loop_sequence(constants, carry, inputs, noise, mask, training,
      states, extras, return_sequences, time_loop, step_loop)`: an optional
      whole-sequence form of the loop (default None: the layer runs
      `_loop_step` over time). `inputs` are `(batch, time, ...)`, `mask`
      `(batch, time)` or None, `noise` as `_loop_noise` drew it, `states`
      as `_loop_start` received them; `time_loop(step, init, xs,
      templates=())` runs a step over time-major `xs` as the layer's own
      loop does, and `step_loop(carry, inputs, noise, mask)` runs the
      layer's step loop (by default over the whole sequence). Returns
      None or what `step_loop()` returns: `(final_carry, outputs or None,
      extras dict)`.
    - `_loop_end(carry, context, mask, steps)`: the Keras states from the
      final carry (`mask`: `(batch, time)` or None; `steps`: the static
      length or None).
    - `_loop_output(carry)`: the last output from the final carry.
      Default: `carry[0]`.
    - `_loop_extra_sizes`: the widths of the extras the step can return.
    - `_loop_required_extras()` and `_loop_loss(extras)`: extras the layer
      must collect in every call, and a loss it adds from them (None).
    - `_loop_rematerializes`: class attribute, False by default; True asks
      for each step to be recomputed in the backward pass on JAX
      (`fast_paths.rematerializes_steps`), for a cell whose per-step
      activations are large (the ENN's per-sample trace).

    `call` passes `training=False` to `_loop_inputs` and `_loop_constants`,
    so a bare cell inside `keras.layers.RNN` draws no random numbers.

    Subclasses define `state_size`, `output_size`, `build`, `get_config`
    and `_loop_step`; the default initial state is zeros.
    """

    # --- the loop protocol (defaults) ---

    _loop_rematerializes = False

    def _loop_inputs(self, sequences, training=False):
        return (sequences,)

    def _loop_noise(self, steps, training=False):
        return ()

    def _loop_constants(self, batch_size, training=False):
        return {}

    def _loop_start(self, states, batch_size):
        zeros = self.get_initial_state(batch_size)
        return tuple(z if s is None else s for s, z in zip(states, zeros)), None

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        raise NotImplementedError(f"{type(self).__name__} must implement `_loop_step`.")

    def _loop_sequence(self, constants, carry, inputs, noise, mask, training, states,
                       extras, return_sequences, time_loop, step_loop):
        return None

    def _loop_end(self, carry, context, mask, steps):
        return list(carry)

    def _loop_output(self, carry):
        return carry[0]

    @property
    def _loop_extra_sizes(self):
        return {}

    def _loop_required_extras(self):
        return ()

    def _loop_loss(self, extras):
        return None

    # --- the Keras cell contract ---

    def call(self, inputs, states, training=None):
        built_for = getattr(self, "input_dim", None)
        if built_for is not None and inputs.shape[-1] not in (None, built_for):
            raise ValueError(
                f"Expected inputs with {built_for} features (the size {self.name} was built "
                f"with). Received: inputs.shape={tuple(inputs.shape)}"
            )
        # Inside Keras's loop the cell draws no random numbers (no noise, no
        # dropout masks: random draws inside a JAX scan do not advance).
        batch_size = ops.shape(inputs)[0]
        inputs = self._loop_inputs(inputs, training=False)
        carry, context = self._loop_start(list(states), batch_size)
        output, carry, _ = self._loop_step(
            self._loop_constants(batch_size, training=False), carry, inputs, (), None,
            bool(training),
        )
        return output, self._loop_end(carry, context, None, 1)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def cell_config(self):
        """The cell's own constructor arguments: `get_config()` without the base layer's keys.

        A layer that builds its cell from these arguments writes them into
        its own config with this, so they are declared once, in the cell.
        """
        return {k: v for k, v in self.get_config().items() if k not in LAYER_CONFIG_KEYS}
