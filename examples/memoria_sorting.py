"""Memoria on the synthetic sorting task: a Transformer with memory beside the same one without.

Each example is a random list of digits (the prompt), a separator, and the
same digits sorted; the model reads `prompt + separator + sorted[:-1]` and is
trained to predict the sorted list (labels only there, a masked loss). The
sequence runs in segments of `--segment-size` tokens, so most sorted tokens
lie in later segments than the prompt. A `MemoriaTransformer` with
`use_memory=True` reaches the prompt through its memory (the previous
segment as working memory, earlier ones as reminded short-term memories); the
same Transformer with `use_memory=False` sees only its own segment and can
only guess from the sorted tokens before it. The memory is empty at the
start of every batch (the models are not stateful). The data comes from a
NumPy random generator; nothing is downloaded.

    KERAS_BACKEND=jax python examples/memoria_sorting.py [--steps 1200] [--list-length 8] \
        [--segment-size 4] [--output results.json]

It prints the token accuracy of both models on held-out examples (the
fraction of sorted tokens predicted exactly, with the true tokens before
them as input) and their training times.
"""

import argparse
import json
import platform
import time

import keras
import numpy as np

from keras_engram.memoria import MemoriaTransformer

DIGITS = 10
SEPARATOR = DIGITS  # token 10; the vocabulary is the digits and the separator


def make_examples(count, list_length, rng):
    """Inputs, next-token labels and the label mask (1 on the sorted part), each `[count, 2 L]`."""
    prompt = rng.integers(0, DIGITS, size=(count, list_length))
    target = np.sort(prompt, axis=1)
    separator = np.full((count, 1), SEPARATOR)
    inputs = np.concatenate([prompt, separator, target[:, :-1]], axis=1).astype("int32")
    labels = np.concatenate([prompt[:, 1:], separator, target], axis=1).astype("int32")
    mask = np.zeros(labels.shape, "float32")
    mask[:, list_length:] = 1.0
    return inputs, labels, mask


def build_model(args, use_memory):
    keras.utils.set_random_seed(args.seed)
    return MemoriaTransformer(
        vocabulary_size=DIGITS + 1,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        segment_size=args.segment_size,
        num_memories=args.num_memories,
        num_reminded_stm=args.num_reminded_stm,
        stm_capacity=args.stm_capacity,
        ltm_search_depth=2,
        initial_lifespan=args.initial_lifespan,
        num_final_ltms=2,
        use_memory=use_memory,
        seed=args.seed,
    )


def token_accuracy(model, inputs, labels, mask, batch_size):
    logits = model.predict(inputs, batch_size=batch_size, verbose=0)
    hits = (np.argmax(logits, axis=-1) == labels) * mask
    return float(hits.sum() / mask.sum())


def train_and_evaluate(args, use_memory, train, test):
    model = build_model(args, use_memory)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    inputs, labels, mask = train
    start = time.perf_counter()
    history = model.fit(
        inputs, labels, sample_weight=mask, batch_size=args.batch_size, epochs=1,
        shuffle=False, verbose=0,
    )
    seconds = time.perf_counter() - start
    accuracy = token_accuracy(model, *test, args.batch_size)
    return {
        "use_memory": use_memory,
        "token_accuracy": accuracy,
        "mean_train_loss": float(history.history["loss"][-1]),
        "train_seconds": seconds,
        "parameters": int(model.count_params()),
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1200, help="training batches")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--list-length", type=int, default=8, help="digits per list")
    parser.add_argument("--segment-size", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-memories", type=int, default=None,
                        help="working memories per segment (an Abstractor); default: the hidden states")
    parser.add_argument("--num-reminded-stm", type=int, default=16)
    parser.add_argument("--stm-capacity", type=int, default=32)
    parser.add_argument("--initial-lifespan", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--test-examples", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train = make_examples(args.steps * args.batch_size, args.list_length, rng)
    test_count = max(args.batch_size, args.test_examples // args.batch_size * args.batch_size)
    test = make_examples(test_count, args.list_length, rng)
    length = 2 * args.list_length
    print(f"{args.steps} steps of {args.batch_size} sequences of {length} tokens in segments of "
          f"{args.segment_size}; {test_count} held-out sequences")
    results = []
    for use_memory in (True, False):
        result = train_and_evaluate(args, use_memory, train, test)
        results.append(result)
        name = "with memory   " if use_memory else "without memory"
        print(f"{name}: token accuracy {result['token_accuracy']:.3f}, "
              f"mean train loss {result['mean_train_loss']:.3f}, {result['train_seconds']:.1f} s")
    if args.output:
        report = {
            "arguments": vars(args),
            "results": results,
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
    return results


if __name__ == "__main__":
    main()
