"""Test sessions: one per backend (each installs only that backend) and the seed reference.

    nox                        # every default session (the README's test command)
    nox -s tests-jax           # one backend
    nox -s tests-jax -- -m "not large"   # without the slow tests (marked @pytest.mark.large)
    nox -s doctest             # the docstring examples of keras_engram/ (JAX)
    nox -s seed_reference      # live comparison with tensorflow-engram 0.1.0
    nox -s seed_fixtures       # rewrite tests/data/ from tensorflow-engram
    nox -s parity              # cross-backend parity battery on CPU (float32)
    nox -s parity -- --gpu     # the same on CUDA devices, float32 and mixed bfloat16

Arguments after `--` go to pytest (`parity` takes only `--gpu`). Tests that
take over ~30 s on this project's 2-core CPU carry `@pytest.mark.large` (long
runs and training to a score). `tests-jax` runs them; `tests-torch` and
`tests-tensorflow` skip them unless given pytest arguments of their own
(`nox -s tests-torch -- -m large` runs only those, `nox -s tests-torch -- tests`
runs everything), which keeps the README's test command within its time
budget: every backend runs every numerical check against the references, and
the cross-backend comparison is the parity battery. Each backend session
sets KERAS_BACKEND and checks that the other frameworks are not installed.

The backend sessions run pytest in `PARALLEL` worker processes (pytest-xdist,
whole test files per worker) and the parity session runs `PARALLEL` harness
processes at a time: one test process keeps about one core busy, and the
project's CI machine has two.
"""

import os
import shutil

import nox

BACKENDS = ("jax", "torch", "tensorflow")
CONSTRAINTS = ("-c", ".ci/constraints.txt")
SEED_PACKAGE = "tensorflow-engram==0.1.0"
# Test processes per session (pytest-xdist workers, parity harness processes):
# the project's CI machine has 2 cores, and one test process keeps about one
# busy (compilation and small eager ops are single-threaded).
PARALLEL = 2

nox.options.sessions = [f"tests-{backend}" for backend in BACKENDS] + ["seed_reference", "parity"]
nox.options.sessions += ["memoria_reference"]  # both released versions of memoria-pytorch, every backend
nox.options.error_on_missing_interpreters = True


def _install(session, extras):
    session.install(*CONSTRAINTS, f".[{extras}]")


def _install_seed(session):
    # tensorflow-engram declares Python >= 3.12 but is pure Python and needs
    # only TensorFlow/Keras, installed above.
    session.install("--no-deps", "--ignore-requires-python", SEED_PACKAGE)


def _backend_session(backend):
    @nox.session(name=f"tests-{backend}")
    def run_tests(session):
        _install(session, f"{backend},dev")
        session.env["KERAS_BACKEND"] = backend
        others = [name for name in BACKENDS if name != backend]
        session.run(
            "python", "-c",
            "import importlib.util, sys; missing = [m for m in sys.argv[1:] "
            "if importlib.util.find_spec(m) is None]; "
            "assert missing == sys.argv[1:], f'other backends installed: {sorted(set(sys.argv[1:]) - set(missing))}'; "
            "print('only this backend is installed; absent:', missing)",
            *others,
        )
        session.run("python", "-c", "import keras_engram; print('import keras_engram: ok')")
        default = [] if backend == "jax" else ["-m", "not large"]
        # Whole test files per worker, so a module's compiled functions are reused.
        workers = ["-n", str(PARALLEL), "--dist", "loadfile"]
        session.run("pytest", "-q", *workers, *(session.posargs or default))

    return run_tests


for _backend in BACKENDS:
    globals()[f"tests_{_backend}"] = _backend_session(_backend)


@nox.session
def doctest(session):
    """The docstring examples of keras_engram/ on JAX, run from an empty temporary directory.

    The working directory is a fresh folder under .nox/, so an example that
    writes files (figures, saved models) leaves nothing in the repository.
    """
    _install(session, "jax,dev")
    session.env["KERAS_BACKEND"] = "jax"
    session.env["MPLBACKEND"] = "Agg"
    root = os.path.dirname(os.path.abspath(__file__))
    workdir = os.path.join(session.create_tmp(), "doctest-cwd")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    session.chdir(workdir)
    session.run(
        "pytest", "--doctest-modules", os.path.join(root, "keras_engram"), "-q",
        f"--rootdir={root}", "-p", "no:cacheprovider", *session.posargs,
    )


nox.options.sessions.append("doctest")


@nox.session
def seed_reference(session):
    """keras-engram in seed mode against the installed tensorflow-engram."""
    _install(session, "tensorflow,dev")
    _install_seed(session)
    session.env["KERAS_BACKEND"] = "tensorflow"
    session.env["KERAS_ENGRAM_SEED_TESTS"] = "1"
    session.run(
        "pytest", "-q", "tests/seed_reference", "tests/test_tensorflow_engram_compat.py",
        *session.posargs,
    )


MEMORIA_VERSIONS = ("1.1.0", "1.0.0")


@nox.session
def memoria_reference(session):
    """Memoria against the installed memoria-pytorch, 1.1.0 then 1.0.0, on every backend.

    One environment with the three backends and torch for memoria-pytorch;
    for each released version, `tests/test_memoria_reference.py` runs the
    port on each backend in lockstep with memoria-pytorch and the NumPy
    per-row reference. (The backend sessions check every backend against
    that NumPy reference without memoria-pytorch.)
    """
    _install(session, "jax,torch,tensorflow,dev")
    for version in MEMORIA_VERSIONS:
        session.install(*CONSTRAINTS, f"memoria-pytorch=={version}")
        for backend in BACKENDS:
            session.run(
                "pytest", "-q", "-p", "no:cacheprovider", "tests/test_memoria_reference.py",
                *session.posargs,
                env={"KERAS_BACKEND": backend, "KERAS_ENGRAM_MEMORIA_TESTS": version},
            )


@nox.session
def seed_fixtures(session):
    """Rewrites tests/data/ (weights and predictions written by tensorflow-engram)."""
    _install(session, "tensorflow,dev")
    _install_seed(session)
    session.run("python", "tests/data/make_seed_fixtures.py", env={"KERAS_BACKEND": "tensorflow"})


def _run_parallel(session, commands, workers=PARALLEL):
    """Runs `(env, argv)` commands in the session's environment, `workers` at a time.

    Each command's output is printed when it ends, in one piece; the session
    fails if any command fails.
    """
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    def run(command):
        env, argv = command
        # The session's variables (None: unset, as nox means it), the venv first on PATH.
        full = {**os.environ, **session.env, **env}
        full = {key: value for key, value in full.items() if value is not None}
        full["PATH"] = os.pathsep.join([session.bin, full.get("PATH", "")])
        result = subprocess.run(
            [os.path.join(session.bin, argv[0]), *argv[1:]], env=full,
            capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        return command, result

    session.log(f"{len(commands)} commands, {workers} at a time")
    failed = []
    with ThreadPoolExecutor(workers) as pool:
        for (env, argv), result in pool.map(run, commands):
            label = " ".join(f"{k}={v}" for k, v in env.items()) + " " + " ".join(argv)
            session.log(f"{label} -> exit {result.returncode}")
            print(result.stdout + result.stderr, flush=True)
            if result.returncode:
                failed.append(label)
    if failed:
        session.error(f"failed: {failed}")


@nox.session
def parity(session):
    """Every backend against the others and the float64 NumPy reference (tests/parity/)."""
    gpu = "--gpu" in session.posargs
    if gpu:
        # CUDA builds (unpinned: the CPU pin of .ci/constraints.txt does not apply).
        session.install(".[dev]", "jax[cuda12]", "torch", "tensorflow[and-cuda]")
    else:
        _install(session, "jax,torch,tensorflow,dev")
    root = os.path.join(session.create_tmp(), "parity")
    shutil.rmtree(root, ignore_errors=True)  # no results left from an earlier run
    session.run("python", "tests/parity/compare.py", "--self-check")
    flags = ["--gpu"] if gpu else []
    for precision in ("float32", "mixed_bfloat16") if gpu else ("float32",):
        out = os.path.join(root, precision)
        harness = ["python", "tests/parity/harness.py"]
        common = ["--out", out, "--precision", precision, *flags]
        # `run` per backend and the float64 anchor (Keras computes float64
        # only on TensorFlow) are independent; `port` loads every backend's
        # saved models, so it waits for them. Two processes at a time.
        _run_parallel(session, [
            ({"KERAS_BACKEND": backend}, harness + ["run", *common]) for backend in BACKENDS
        ] + [({"KERAS_BACKEND": "tensorflow"}, harness + ["reference", "--out", out, *flags])])
        _run_parallel(session, [
            ({"KERAS_BACKEND": backend}, harness + ["port", *common]) for backend in BACKENDS
        ])
        session.run("python", "tests/parity/compare.py", "--out", out, "--precision", precision)


@nox.session
def docs(session):
    """Builds the documentation site (warnings are errors)."""
    # pytest: the parity page's hook reads tests/parity/cases.py, which imports test modules.
    session.install("-c", ".ci/constraints.txt", ".[jax,docs]", "pytest")
    session.run("mkdocs", "build", "--strict", env={"KERAS_BACKEND": "jax"})


# The site builds in seconds from PyPI packages, so the test command builds it too.
nox.options.sessions.append("docs")
