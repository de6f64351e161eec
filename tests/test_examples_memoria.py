"""The Memoria sorting example runs end to end with tiny arguments and writes its report."""

import importlib.util
import json
import os

import numpy as np
import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "memoria_sorting.py")


def load_example():
    spec = importlib.util.spec_from_file_location("memoria_sorting", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_are_sorted_lists_with_labels_on_the_sorted_part():
    example = load_example()
    inputs, labels, mask = example.make_examples(5, 6, np.random.default_rng(0))
    assert inputs.shape == labels.shape == mask.shape == (5, 12)
    prompt, target = inputs[:, :6], labels[:, 6:]
    np.testing.assert_array_equal(target, np.sort(prompt, axis=1))
    assert (inputs[:, 6] == example.SEPARATOR).all()
    np.testing.assert_array_equal(inputs[:, 1:], labels[:, :-1])  # next-token labels
    assert mask[:, :6].sum() == 0 and mask[:, 6:].min() == 1


@pytest.mark.large  # two models, each compiled for fit and predict: 10-20 s on a loaded 2-core CPU
def test_sorting_example_runs_and_writes_json(tmp_dir):
    example = load_example()
    path = os.path.join(tmp_dir, "sorting.json")
    results = example.main([
        "--steps", "2", "--batch-size", "2", "--list-length", "2", "--segment-size", "2",
        "--hidden-dim", "8", "--num-layers", "1", "--num-heads", "2", "--num-reminded-stm", "2",
        "--stm-capacity", "4", "--test-examples", "4", "--output", path,
    ])
    assert [r["use_memory"] for r in results] == [True, False]
    with open(path) as f:
        report = json.load(f)
    for result in report["results"]:
        assert 0.0 <= result["token_accuracy"] <= 1.0
        assert np.isfinite(result["mean_train_loss"])
    assert report["results"][0]["parameters"] > report["results"][1]["parameters"]
    assert report["arguments"]["steps"] == 2
