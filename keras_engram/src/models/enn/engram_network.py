"""EngramNetwork: the ENN sequence model of tensorflow-engram, as a Keras model."""

import keras

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.enn.engram import CELL_ARGS, Engram
from keras_engram.src.layers.enn.engram_attention_pooling import EngramAttentionPooling

_MODEL_KWARGS = ("name", "dtype", "trainable")
# The `Engram` arguments the network forwards (those it does not set itself).
ENGRAM_ARGS = tuple(
    name for name in (*CELL_ARGS, "go_backwards", "unroll", "save_memory")
    if name not in ("hidden_dim", "memory_size", "hebbian_lr", "sparsity_strength")
)


@register
class EngramNetwork(keras.Model):
    """Engram recurrent layer with optional attention pooling, dropout and head.

    `Engram` -> (`EngramAttentionPooling` when `use_attention` and
    `return_sequences`) -> (`Dropout` when `dropout_rate > 0`) -> (`Dense` head
    when `output_units` is set, applied per step on sequences). Same arguments
    and defaults as tensorflow-engram's `EngramNetwork`, plus the remaining
    `EngramCell` arguments, so the whole cell is configurable from here.

    Args:
        hidden_dim: int, hidden size (default 128).
        memory_size: int, memory slots (default 64).
        hebbian_lr: float in [0, 1] (default 0.05).
        output_units: int or None, width of the optional `Dense` head.
        output_activation: activation of the head.
        return_sequences: bool (default True), keep the time axis.
        return_states: bool, also return the final `[h, H]`.
        reset_states_per_batch: bool (default True). With `stateful=True`,
            each training batch starts from zero states instead of the stored
            ones (the stored states are still updated). Without `stateful`,
            every batch starts from zeros anyway.
        stateful: bool, carry states across batches (fixed batch size).
        use_attention: bool, pool the sequence with attention (only when
            `return_sequences`).
        dropout_rate: float in [0, 1), dropout after the recurrent layer.
        sparsity_strength: float in [0, 1] (default 0.1).
        **kwargs: the other `Engram` arguments (the remaining `EngramCell`
            arguments such as `scale_factor`, `temperature`, `trace_scope`,
            `trace_noise_stddev`, `dropout`, `seed`; and `go_backwards`,
            `unroll`, `save_memory`), and `keras.Model` arguments (`name`,
            `dtype`, `trainable`).

    Call arguments:
        inputs: `(batch, timesteps, features)` tensor.
        training: bool.
        mask: optional `(batch, timesteps)` mask.
        initial_state: optional `[h, H]`.
        return_attention_scores: bool, also return the engram attention
            weights `(batch, timesteps, memory_size)` (last output).

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramNetwork
    >>> net = EngramNetwork(hidden_dim=16, memory_size=8, output_units=2,
    ...                     use_attention=True)
    >>> tuple(net(np.ones((4, 6, 3), "float32")).shape)
    (4, 2)
    """

    def __init__(
        self,
        hidden_dim=128,
        memory_size=64,
        hebbian_lr=0.05,
        output_units=None,
        output_activation=None,
        return_sequences=True,
        return_states=False,
        reset_states_per_batch=True,
        stateful=False,
        use_attention=False,
        dropout_rate=0.0,
        sparsity_strength=0.1,
        **kwargs,
    ):
        engram_kwargs = {name: kwargs.pop(name) for name in ENGRAM_ARGS if name in kwargs}
        unknown = sorted(set(kwargs) - set(_MODEL_KWARGS))
        if unknown:
            raise TypeError(
                "Expected keyword arguments of `EngramNetwork`, `Engram` or `keras.Model`. "
                f"Received unknown arguments: {unknown}"
            )
        super().__init__(**kwargs)
        self.output_units = validation.positive_int("output_units", output_units, allow_none=True)
        self.dropout_rate = validation.rate("dropout_rate", dropout_rate)
        self.output_activation = keras.activations.get(output_activation)
        self.return_sequences = validation.boolean("return_sequences", return_sequences)
        self.return_states = validation.boolean("return_states", return_states)
        self.reset_states_per_batch = validation.boolean("reset_states_per_batch", reset_states_per_batch)
        self.stateful = validation.boolean("stateful", stateful)
        self.use_attention = validation.boolean("use_attention", use_attention)

        # === Layers ===
        self.rnn = Engram(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            hebbian_lr=hebbian_lr,
            sparsity_strength=sparsity_strength,
            return_sequences=self.return_sequences,
            return_state=self.return_states,
            stateful=self.stateful,
            dtype=self.dtype_policy,
            name="engram",
            **engram_kwargs,
        )
        self.cell = self.rnn.cell
        self.attention = None
        if self.use_attention and self.return_sequences:
            self.attention = EngramAttentionPooling(name="attention", dtype=self.dtype_policy)
        self.dropout = None
        if self.dropout_rate > 0:
            self.dropout = keras.layers.Dropout(
                self.dropout_rate, seed=self.cell.seed, name="dropout"
            )
        self.output_layer = None
        if self.output_units is not None:
            self.output_layer = keras.layers.Dense(
                self.output_units,
                activation=self.output_activation,
                name="output_layer",
                dtype=self.dtype_policy,
            )

    def build(self, input_shape):
        self.rnn.build(input_shape)
        width = self.cell.hidden_dim
        if self.attention is not None:
            self.attention.build((input_shape[0], input_shape[1], width))
        if self.output_layer is not None:
            self.output_layer.build((None, width))
        self.built = True

    @property
    def hidden_dim(self):
        return self.cell.hidden_dim

    @property
    def memory_size(self):
        return self.cell.memory_size

    def call(
        self,
        inputs,
        training=None,
        mask=None,
        initial_state=None,
        return_attention_scores=False,
    ):
        if (
            initial_state is None
            and self.stateful
            and self.reset_states_per_batch
            and training
        ):
            initial_state = self.rnn.get_initial_state(keras.ops.shape(inputs)[0])
        outputs = self.rnn(
            inputs,
            initial_state=initial_state,
            mask=mask,
            training=training,
            return_attention_scores=return_attention_scores,
        )
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        outputs = list(outputs)
        attention = outputs.pop() if return_attention_scores else None
        output, states = outputs[0], outputs[1:]

        if self.attention is not None:
            output = self.attention(output, mask=mask)
        if self.dropout is not None:
            output = self.dropout(output, training=training)
        if self.output_layer is not None:
            output = self.output_layer(output)

        result = [output, *states]
        if attention is not None:
            result.append(attention)
        return result[0] if len(result) == 1 else result

    def compute_mask(self, inputs, mask=None):
        keeps_time = self.return_sequences and self.attention is None
        output_mask = mask if keeps_time else None
        if self.return_states:
            return [output_mask, None, None]
        return output_mask

    def reset_state(self):
        self.rnn.reset_state()

    def reset_states(self):
        self.rnn.reset_state()

    def reset_memory(self):
        """Sets the stored states of a stateful network to zeros (see `Engram.reset_memory`)."""
        self.rnn.reset_memory()

    def get_memory_state(self):
        """The stored states `[h, H]` of a stateful network, as NumPy arrays."""
        return self.rnn.get_memory_state()

    def set_memory_state(self, states):
        """Assigns the stored states `[h, H]` of a stateful network, bit for bit."""
        self.rnn.set_memory_state(states)

    def get_config(self):
        engram = self.rnn.get_config()
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **{name: engram[name] for name in
               ("hidden_dim", "memory_size", "hebbian_lr", "sparsity_strength", *ENGRAM_ARGS)},
            "output_units": self.output_units,
            "output_activation": keras.activations.serialize(self.output_activation),
            "return_sequences": self.return_sequences,
            "return_states": self.return_states,
            "reset_states_per_batch": self.reset_states_per_batch,
            "stateful": self.stateful,
            "use_attention": self.use_attention,
            "dropout_rate": self.dropout_rate,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
