"""Evaluation envs stepped in parallel, one per spawned worker process.

Rendering is what makes pixel evaluation slow (a 64×64 frame costs ~0.3 s with CPU rendering), and one
process steps its lockstep envs one after the other. Workers step their envs at the same time: the main
process sends every running env its action, then collects the results. The episodes are the same as
in-process ones: each worker builds its env with the same factory and resets it with the same seed.
"""

import contextlib
import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium
import numpy as np

# make(name, kwargs) -> env; reset(env, seed, options) -> observation; step(env, action) -> result;
# release(name) frees a name's env. Top-level functions: spawn pickles them by reference.
EnvFunctions = tuple[
    Callable[[str, dict], gymnasium.Env],
    Callable[[gymnasium.Env, int, dict], np.ndarray],
    Callable[[gymnasium.Env, np.ndarray], tuple],
    Callable[[str], None],
]


class WorkerError(RuntimeError):
    """An env call failed inside a worker; the message holds the worker's traceback."""


def _serve(connection: Connection, functions: EnvFunctions) -> None:
    """A worker's loop: holds one env at a time and answers use / reset / step / close."""
    make, reset, step, release = functions
    env, name = None, None
    while True:
        command, args = connection.recv()
        try:
            if command == "close":
                if name is not None:
                    release(name)
                connection.close()
                return
            if command == "use":
                if name is not None and name != args[0]:
                    release(name)
                name, env = args[0], make(*args)
                answer = env.action_space
            elif command == "reset":
                answer = reset(env, *args)
            else:
                answer = step(env, args)
            connection.send(("ok", answer))
        except Exception:  # every failure goes back to the main process, which raises it
            connection.send(("error", traceback.format_exc()))


class EnvWorkers:
    """`count` worker processes, each holding one env of the task being evaluated. Use as a context manager
    (or call `close`): the processes end with it. They are spawned, so a script that makes them must guard
    its top level with `if __name__ == "__main__":` (the CLIs do)."""

    def __init__(self, count: int, functions: EnvFunctions):
        if count < 1:
            raise ValueError(f"EnvWorkers needs at least one worker, got {count}")
        context = multiprocessing.get_context("spawn")  # no fork under JAX
        self._connections = []
        self._processes = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, functions), daemon=True)
            process.start()
            child.close()
            self._connections.append(parent)
            self._processes.append(process)
        self.action_space: gymnasium.spaces.Box | None = None

    def __len__(self) -> int:
        return len(self._connections)

    def __enter__(self) -> "EnvWorkers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def use(self, name: str, env_kwargs: dict[str, object]) -> None:
        """Every worker builds (or keeps) env `name` with `env_kwargs`, freeing the env it held before."""
        spaces = self._call_all(range(len(self)), [("use", (name, env_kwargs))] * len(self))
        self.action_space = spaces[0]

    def reset(self, indices: Sequence[int], seeds: Sequence[int], options: dict[str, object]) -> list[np.ndarray]:
        """The first observations of seeded resets of workers `indices`' envs, reset in parallel."""
        return self._call_all(indices, [("reset", (int(seed), options)) for seed in seeds])

    def step(self, indices: Sequence[int], actions: np.ndarray) -> list[Any]:
        """The results of one step of workers `indices`' envs, stepped in parallel."""
        return self._call_all(indices, [("step", action) for action in actions])

    def close(self) -> None:
        """Ends the workers (their envs are closed first)."""
        for connection, process in zip(self._connections, self._processes, strict=True):
            if process.is_alive():
                with contextlib.suppress(BrokenPipeError, OSError):  # it may have died since
                    connection.send(("close", None))
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
            connection.close()
        self._connections, self._processes = [], []

    def _call_all(self, indices: Sequence[int], messages: list[tuple]) -> list[Any]:
        for index, message in zip(indices, messages, strict=True):
            self._connections[index].send(message)
        answers = [self._connections[index].recv() for index in indices]
        failures = [answer for status, answer in answers if status == "error"]
        if failures:
            raise WorkerError("an evaluation env failed in its worker process:\n" + failures[0])
        return [answer for _, answer in answers]
