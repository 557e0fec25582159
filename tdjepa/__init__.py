"""tdjepa: zero-shot and unsupervised RL in JAX. The core (algorithm-agnostic, pure, jittable) and the
Python API: `tdjepa.load_run(workdir)` loads a trained run; `tdjepa.zero_shot` prompts it."""

import os

# XLA's CPU matrix kernels run single-threaded unless the user set the flag: measured as fast or faster on
# two cores (docs/benchmarks.md: the same FB updates/s, more env steps/s online). It was first set against
# runs that hung idle at their first call; that hang is a deadlock of batched QRs in jaxlib's CPU LAPACK
# kernels, which this flag does not prevent (it recurred with it) and `tdjepa.networks.orthogonal` avoids.
_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen"
if _EIGEN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_EIGEN_FLAG}=false".strip()


def __getattr__(name: str):
    # load_run imports orbax; resolved on first use so that `import tdjepa.<module>` stays light.
    if name in ("load_run", "LoadedRun"):
        from tdjepa import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'tdjepa' has no attribute {name!r}")
