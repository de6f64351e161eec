"""The Engram recurrent layer: runs an `EngramCell` over a sequence."""

import inspect

from keras import ops

from keras_engram.src.api_export import register
from keras_engram.src.layers.enn.engram_cell import EngramCell
from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.precision import full_precision

# The cell's constructor arguments, which `Engram` takes as keywords and forwards.
CELL_ARGS = tuple(
    name for name in inspect.signature(EngramCell.__init__).parameters if name not in ("self", "kwargs")
)
# What `Engram` adds to them.
LAYER_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "save_memory")


@register
class Engram(MemoryRNN):
    """Engram Neural Network recurrent layer (Szelogowski, 2025).

    Runs an `EngramCell` over the time axis, like `keras.layers.LSTM` runs an
    `LSTMCell`. The input encoder and its LayerNorm do not depend on the
    previous step, so they are computed for all steps in one batched matmul
    before the loop (on TensorFlow also the encoder's share of the
    integrator); the loop carries the recurrent part. With the per-sample
    trace (the default) the memory pathway does not depend on the hidden
    state either: the layer computes every step's attention from the
    encodings without forming the trace, then runs the integrator, and forms
    the final trace once (an exact low-rank form, taken where the trace's
    clip cannot bind; otherwise the step loop runs, with the same numbers
    to float32 rounding). The layer is a
    `MemoryRNN`, so a stateful `Engram` has the library's memory contract:
    `reset_memory()`, `get_memory_state()` / `set_memory_state()`, and
    `save_memory=True` to save its memory with the model. Trace noise (training
    only) is drawn before the loop from the cell's seeded generator, so no
    random numbers are drawn inside it: one
    `(memory_size, hidden_dim)` draw per step, added to the trace of every
    sample of the batch, as tensorflow-engram adds one per step to its trace.

    Args:
        hidden_dim: positive int, size of the hidden state and of each slot.
        memory_size: positive int, number of memory slots.
        return_sequences: bool, return the whole output sequence instead of
            the last output.
        return_state: bool, also return the final states `[h, H]`.
        go_backwards: bool, process the sequence backwards (outputs come in
            processing order, as in Keras).
        stateful: bool, the last state of each batch is the initial state of
            the next (needs a fixed batch size); reset with `reset_memory()`.
        unroll: bool or positive int. JAX: the unrolling of its scan (True:
            every step). TensorFlow: True builds the time loop as an
            unrolled graph; the default does so for sequences of at most 32
            steps (a length known when the graph is traced), which trains
            about 1.25x faster at the paper's 28 steps and can be compiled
            by XLA, and uses a `tf.while_loop` above that; an int asks for
            the `tf.while_loop` (with at least 32 parallel iterations).
            torch: the loop is a Python loop either way. On TensorFlow,
            `jit_compile` (XLA) needs the unrolled graph: the layer reports
            `supports_jit=False` otherwise, and Keras's `"auto"` then leaves
            XLA off.
        save_memory: bool, with `stateful=True` keep the stored states
            `[h, H]` as non-trainable weights, so that `model.save()` writes
            them and loading restores them.
        **kwargs: every other `EngramCell` argument (`hebbian_lr`,
            `scale_factor`, `temperature`, `use_layer_norm`,
            `sparsity_strength`, `integrator_units`, `trace_scope`,
            `trace_noise_stddev`, `trace_clip`, `attention_l1`, `dropout`,
            `recurrent_dropout`, `seed`, the initializers and regularizers),
            with the cell's defaults, and base layer arguments (`name`,
            `dtype`, `trainable`).

    Call arguments:
        sequences: `(batch, timesteps, features)` tensor.
        initial_state: optional list `[h, H]`; default zeros (or the stored
            states when stateful). In batch scope the rows of `H` are averaged.
        mask: optional `(batch, timesteps)` boolean tensor (from `Masking` or
            `mask_zero` upstream). A masked step leaves the sample's state
            unchanged, outputs the previous output and has zero attention;
            in batch scope the shared trace is updated from the unmasked
            samples only. A sample with every step masked returns its
            initial states bit for bit.
        training: bool, enables the trace noise.
        return_attention_scores: bool, also return the per-step attention
            weights, `(batch, timesteps, memory_size)`, last in the outputs.

    Returns:
        The output (`(batch, hidden_dim)`, or `(batch, timesteps, hidden_dim)`
        with `return_sequences`), then the states `h` `(batch, hidden_dim)` and
        `H` `(batch, memory_size * hidden_dim)` if `return_state`, then the
        attention weights if `return_attention_scores`.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import Engram
    >>> layer = Engram(hidden_dim=16, memory_size=8, return_sequences=True)
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 5, 16)
    >>> out, att = Engram(16, 8)(np.ones((2, 5, 3), "float32"),
    ...                          return_attention_scores=True)
    >>> tuple(att.shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        memory_size,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        save_memory=False,
        **kwargs,
    ):
        cell_kwargs = {name: kwargs.pop(name) for name in CELL_ARGS if name in kwargs}
        kwargs = full_precision(kwargs)
        cell = EngramCell(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="engram_cell",
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            save_memory=save_memory,
            **kwargs,
        )

    def call(
        self,
        sequences,
        initial_state=None,
        mask=None,
        training=False,
        return_attention_scores=False,
    ):
        extras = ("attention",) if return_attention_scores else ()
        return self._call(sequences, initial_state, mask, training, extras)

    def compute_output_spec(
        self, sequences, initial_state=None, mask=None, training=False,
        return_attention_scores=False,
    ):
        return self._output_spec(sequences, ("attention",) if return_attention_scores else ())

    def inspect(self, sequences, initial_state=None, mask=None):
        """Runs the layer in inference mode and returns what its memory did.

        Nothing is trained and stateful layers keep their stored states. This
        is what `keras_engram.utils` reads to monitor and plot the memory.

        Args:
            sequences: `(batch, timesteps, features)` array or tensor.
            initial_state: optional `[h, H]`, as in `call`.
            mask: optional `(batch, timesteps)` boolean mask.

        Returns:
            A dict of backend tensors: `"hidden"` `(batch, hidden_dim)` and
            `"trace"` `(batch, memory_size, hidden_dim)`, the final states
            (in batch scope every row holds the shared trace), and
            `"attention"` `(batch, timesteps, memory_size)`, the attention
            weights of each step in processing order (reversed time with
            `go_backwards`), zero at masked steps.

        Example:

        >>> import numpy as np
        >>> from keras_engram.layers import Engram
        >>> memory = Engram(16, 8).inspect(np.ones((2, 5, 3), "float32"))
        >>> tuple(memory["trace"].shape), tuple(memory["attention"].shape)
        ((2, 8, 16), (2, 5, 8))
        """
        sequences = ops.convert_to_tensor(sequences, dtype=self.cell.compute_dtype)
        if not self.built:
            self.build(sequences.shape)  # checks the rank
        initial_state = self._start_state(sequences, initial_state)
        if mask is not None:
            mask = ops.convert_to_tensor(mask, dtype="bool")
        _, _, (hidden, trace), values = self._run(
            sequences, initial_state, mask, training=False, extras=("attention",)
        )
        return {
            "hidden": hidden,
            "trace": self.cell.trace_as_matrix(trace),
            "attention": values["attention"],
        }

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}


def _forward_to_cell(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# The cell's arguments read through the layer (`layer.hidden_dim`, ...).
for _name in CELL_ARGS:
    setattr(Engram, _name, _forward_to_cell(_name))
