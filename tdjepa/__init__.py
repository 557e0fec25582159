"""tdjepa: zero-shot and unsupervised RL in JAX. The core (algorithm-agnostic, pure, jittable) and the
Python API: `tdjepa.load_run(workdir)` loads a trained run; `tdjepa.zero_shot` prompts it."""


def __getattr__(name: str):
    # load_run imports orbax; resolved on first use so that `import tdjepa.<module>` stays light.
    if name in ("load_run", "LoadedRun"):
        from tdjepa import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'tdjepa' has no attribute {name!r}")
