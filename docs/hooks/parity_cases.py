"""mkdocs hook: docs/parity.md's list of parity cases must match tests/parity/cases.py.

The page lists the battery's cases between the markers `<!-- parity-cases -->`
and `<!-- /parity-cases -->`, one table row per case, and states their number
there as "N cases". The build fails when either differs from the cases that
`tests/parity/cases.py` registers, so the page cannot go stale silently.

Reading the registry imports Keras (with `KERAS_BACKEND`, JAX by default) and
the library's public layers and models.
"""

import os
import re
import sys

from mkdocs.exceptions import PluginError

PAGE = "parity.md"
BLOCK = re.compile(r"<!-- parity-cases -->(.*?)<!-- /parity-cases -->", re.S)
ROW = re.compile(r"^\|\s*`([a-z0-9_]+)`\s*\|", re.M)
COUNT = re.compile(r"\b(\d+) cases\b")


def _registered_cases(root):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    parity = os.path.join(root, "tests", "parity")
    for path in (root, parity):
        if path not in sys.path:
            sys.path.insert(0, path)
    import cases  # tests/parity/cases.py

    return cases.CASES


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    block = BLOCK.search(markdown)
    if block is None:
        raise PluginError(f"{PAGE}: no <!-- parity-cases --> block")
    root = os.path.dirname(os.path.abspath(config["config_file_path"]))
    registered = _registered_cases(root)
    listed = ROW.findall(block.group(1))
    missing = sorted(set(registered) - set(listed))
    unknown = sorted(set(listed) - set(registered))
    if missing or unknown or len(listed) != len(set(listed)):
        raise PluginError(
            f"{PAGE}: the case list differs from tests/parity/cases.py "
            f"(not listed: {missing}; not registered: {unknown})"
        )
    counts = {int(n) for n in COUNT.findall(block.group(1))}
    if counts != {len(registered)}:
        raise PluginError(
            f"{PAGE}: the case list states {sorted(counts)} cases; "
            f"tests/parity/cases.py registers {len(registered)}"
        )
    return markdown
