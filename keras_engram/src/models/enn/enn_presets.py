"""The ENN's built-in presets (directories in `presets/` next to this file, inside the wheel).

Each directory is written by a script in `examples/presets/` that trains the
model and calls `save_to_preset`; its `metadata.json` names the data, the
split and the measured score.
"""

import os

from keras_engram.src.presets.registry import register_presets

_HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")

register_presets(
    {
        "enn_digits": {
            "description": (
                "EngramClassifier (hidden 64, memory 32) trained on scikit-learn's handwritten "
                "digits read as 8 rows of 8 pixels; 10 classes."
            ),
            "path": os.path.join(_HERE, "enn_digits"),
        },
        "enn_breast_cancer": {
            "description": (
                "EngramClassifier (hidden 32, memory 16) trained on scikit-learn's breast cancer "
                "data read as 3 steps (mean, standard error, worst) of 10 measurements; benign "
                "or malignant."
            ),
            "path": os.path.join(_HERE, "enn_breast_cancer"),
        },
    }
)
