"""tdjepa: zero-shot and unsupervised RL in JAX. The core (algorithm-agnostic, pure, jittable) and the
Python API: `tdjepa.load_run(workdir)` loads a trained run; `tdjepa.zero_shot` prompts it."""

import os

# XLA's CPU backend can wedge its multithreaded Eigen pool on vmapped programs: on the two-core machine SAC
# over 8 vmapped MJX walkers (envs.body_experts, envs.exploration) hung for good at its first call, idle, and
# ran in 9 s with Eigen single-threaded (PyAutoFit#1528 met the same wedge and the same cure). The flag only
# touches the CPU backend and is read when it starts, so importing the package first suffices; measured no
# slower (docs/benchmarks.md). A user's own setting of the flag wins.
_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen"
if _EIGEN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_EIGEN_FLAG}=false".strip()


def __getattr__(name: str):
    # load_run imports orbax; resolved on first use so that `import tdjepa.<module>` stays light.
    if name in ("load_run", "LoadedRun"):
        from tdjepa import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'tdjepa' has no attribute {name!r}")
