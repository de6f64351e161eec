"""The memory-native models' built-in presets (directories in `presets/` next to this file, inside the wheel).

Each directory is written by `examples/presets/memory_native_mackey_glass.py`,
which trains the model and calls `save_to_preset`; its `metadata.json` names
the data, the split, the measured test R^2 and a memoryless baseline.
"""

import os

from keras_engram.src.presets.registry import register_presets

_HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")
_TASK = (
    "trained on the Mackey-Glass series (tau 17) to predict the value 6 steps ahead from one "
    "reading per step; its memory is the state at the end of the training part."
)

register_presets(
    {
        "amrc_mackey_glass": {
            "description": f"AMRC (hidden 32, linear output) {_TASK}",
            "path": os.path.join(_HERE, "amrc_mackey_glass"),
        },
        "pmrc_mackey_glass": {
            "description": f"PMRC (hidden 32, learnable gates, linear output) {_TASK}",
            "path": os.path.join(_HERE, "pmrc_mackey_glass"),
        },
        "amn_mackey_glass": {
            "description": f"AMN (hidden 32, manifold 16 x 32, manifold decay 0.9) {_TASK}",
            "path": os.path.join(_HERE, "amn_mackey_glass"),
        },
    }
)
