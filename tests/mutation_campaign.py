"""Mutation campaign: plants one bug at a time in the updates, runs the fast known-answer tests and reports which
of them fail (docs/fidelity.md keeps the table). Not collected by pytest; run it from the repository root:

    python -m tests.mutation_campaign [--only ID,ID] > mutations.md

Each mutation replaces one exact snippet of one source file (refusing to run if the snippet is not found, so
the list cannot silently go stale) and the file is restored afterwards, also on interruption.
"""

import argparse
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_probes.py", "tests/test_prompting.py", "tests/test_core.py"]

# (id, what the bug is, file, original snippet, mutated snippet)
MUTATIONS = [
    ("tdjepa-loss-sign", "TD-JEPA: predictor loss subtracted instead of added", "agents/td_jepa.py",
     "                total += loss\n", "                total -= loss\n"),
    ("tdjepa-no-gamma", "TD-JEPA: bootstrap without γ", "agents/td_jepa.py",
     "return next_features + discount[:, None] * pessimism(", "return next_features + 1.0 * pessimism("),
    ("tdjepa-one-step-gamma", "TD-JEPA: one-step targets ignore config.discount", "agents/td_jepa.py",
     "feature_sums, discount = boot_features, c.discount * batch.discount",
     "feature_sums, discount = boot_features, batch.discount"),
    ("tdjepa-nstep-bootstrap-gamma", "TD-JEPA: n-step bootstrap discounted by γ instead of γ^m", "agents/td_jepa.py",
     "self.config.discount**steps * batch.discount", "self.config.discount * batch.discount"),
    ("tdjepa-nstep-sum-weights", "TD-JEPA: n-step feature sum without the γ^k weights", "agents/td_jepa.py",
     "weights = jnp.where(k < steps[:, None], gamma**k, 0.0)", "weights = jnp.where(k < steps[:, None], 1.0, 0.0)"),
    ("tdjepa-t-phi-predicts-phi", "TD-JEPA (asymmetric): T_φ predicts φ instead of ψ", "agents/td_jepa.py",
     'self.pairs = [("T_phi", "phi", "phi" if c.symmetric else "psi")]', 'self.pairs = [("T_phi", "phi", "phi")]'),
    ("tdjepa-t-psi-predicts-psi", "TD-JEPA: the mirror T_ψ predicts ψ instead of φ", "agents/td_jepa.py",
     'self.pairs.append(("T_psi", "psi", "phi"))', 'self.pairs.append(("T_psi", "psi", "psi"))'),
    ("tdjepa-target-from-s", "TD-JEPA: TD target features of s instead of s'", "agents/td_jepa.py",
     "boot_features = {name: self.encode(targets, name, next_views[name]) for name in self.encoders}",
     "boot_features = {name: self.encode(targets, name, self.observations.views(params, batch.observations)[name])"
     " for name in self.encoders}"),
    ("tdjepa-online-bootstrap", "TD-JEPA: bootstrap from the online predictor, not its EMA target", "agents/td_jepa.py",
     "self.predict(targets, name, boot_features[source], next_actions, z)",
     "self.predict(params, name, boot_features[source], next_actions, z)"),
    ("tdjepa-ortho-sign", "TD-JEPA: orthonormality regulariser subtracted", "agents/td_jepa.py",
     "total += ortho_coefs[name] * ortho", "total -= ortho_coefs[name] * ortho"),
    ("tdjepa-actor-wrong-z", "TD-JEPA: the actor's Q reads another row's z", "agents/td_jepa.py",
     'lambda a: latent_value(self.predict(params, "T_phi", phi_obs, a, z), z, c.actor_pessimism)',
     'lambda a: latent_value(self.predict(params, "T_phi", phi_obs, a, z), jnp.roll(z, 1, 0), c.actor_pessimism)'),
    ("tdjepa-reward-inference", "TD-JEPA: reward inference by weighted sum instead of least squares",
     "agents/td_jepa.py", "return least_squares_latent(features, rewards)", "return goal_latent(rewards @ features)"),
    ("tdjepa-goal-unwhitened", "TD-JEPA: goal latents not whitened when training goals are", "agents/td_jepa.py",
     "return goal_latent(self.reward_features(state, goal_obs), self._whitening(state))",
     "return goal_latent(self.reward_features(state, goal_obs))"),
    ("fb-no-gamma", "FB: bootstrap without γ", "agents/fb.py",
     "return discount[:, None] * pessimism(", "return pessimism("),
    ("fb-diag-sign", "FB: the −2 E[F(s)ᵀB(s')] term with the wrong sign", "agents/fb.py",
     "diag = -jnp.diagonal(diff, axis1=1, axis2=2).mean(-1).sum()",
     "diag = jnp.diagonal(diff, axis1=1, axis2=2).mean(-1).sum()"),
    ("fb-offdiag-weight", "FB/orthonormality: off-diagonal term without its ½", "tdjepa/orthonormality.py",
     "return 0.5 * jnp.sum(off**2, axis=(-2, -1)) / (n * (n - 1))",
     "return 1.0 * jnp.sum(off**2, axis=(-2, -1)) / (n * (n - 1))"),
    ("fb-goals-are-s", "FB: B reads s instead of the goals s' in the measure loss", "agents/fb.py",
     'backward_view = self.observations.view(fb_params, "backward", batch.next_observations)',
     'backward_view = self.observations.view(fb_params, "backward", batch.observations)'),
    ("fb-online-b-target", "FB: target measure with the online B, not its EMA target", "agents/fb.py",
     'target_backward = self.backward_embedding(targets, next_views["backward"])',
     'target_backward = self.backward_embedding(params, next_views["backward"])'),
    ("fb-ortho-sign", "FB: orthonormality regulariser subtracted", "agents/fb.py",
     "return fb + c.ortho_coef * ortho,", "return fb - c.ortho_coef * ortho,"),
    ("fb-reward-inference", "FB: reward inference without the rewards' weights", "agents/fb.py",
     "return REWARD_INFERENCE[self.config.reward_inference](features, rewards)",
     "return REWARD_INFERENCE[self.config.reward_inference](features, jnp.ones_like(rewards))"),
    ("actor-td3-sign", "TD3 actor (with BC): maximises −Q", "tdjepa/actor_objectives.py",
     "return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * bc_error, metrics",
     "return value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * bc_error, metrics"),
    ("actor-td3-scale-gradient", "TD3 actor (with BC): Q's scale without stop-gradient", "tdjepa/actor_objectives.py",
     "return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * bc_error, metrics",
     "return -value.q.mean() / value.scale + bc_coeff * bc_error, metrics"),
    ("actor-flow-sign", "flow-BC actor: maximises −Q", "tdjepa/actor_objectives.py",
     "return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * distillation + flow_loss, metrics",
     "return value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * distillation + flow_loss, metrics"),
    ("actor-flow-scale-gradient", "flow-BC actor: Q's scale without stop-gradient", "tdjepa/actor_objectives.py",
     "return -value.q.mean() / jax.lax.stop_gradient(value.scale) + bc_coeff * distillation + flow_loss, metrics",
     "return -value.q.mean() / value.scale + bc_coeff * distillation + flow_loss, metrics"),
    ("actor-noise-unclipped", "TD3 noise not clipped to ±clip", "tdjepa/actor_objectives.py",
     "noise = jnp.clip(std * jax.random.normal(key, mean.shape), -clip, clip)",
     "noise = std * jax.random.normal(key, mean.shape)"),
    ("reward-shift", "OGBench reward shift 0 instead of the reference's +1", "envs/ogbench_tasks.py",
     "REWARD_SHIFT = 1.0", "REWARD_SHIFT = 0.0"),
]  # fmt: skip


def failing_tests(output: str) -> list[str]:
    """The failing tests of pytest's summary; a failure that is not an assertion (the mutated code crashed)
    is marked with its exception, so that a crash is not mistaken for a catch."""
    failed = {}
    for test, reason in re.findall(r"^(?:FAILED|ERROR) (\S+)(?: - (\w+))?", output, re.M):
        name = test.split("::", 1)[-1]
        failed[name] = name if reason in ("AssertionError", "") else f"{name} ({reason})"
    return sorted(failed.values())


def run(mutation) -> tuple[list[str], float]:
    _, _, path, original, mutated = mutation
    file = ROOT / path
    source = file.read_text()
    if source.count(original) != 1:
        raise SystemExit(f"{mutation[0]}: the snippet occurs {source.count(original)} times in {path}")
    start = time.time()
    try:
        file.write_text(source.replace(original, mutated))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    finally:
        file.write_text(source)
    return failing_tests(out.stdout), time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated mutation ids (default: all)")
    only = set(filter(None, parser.parse_args().only.split(",")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a killed campaign still restores the mutated file
    print("| mutation | where | failing tests |\n|---|---|---|")
    for mutation in MUTATIONS:
        if only and mutation[0] not in only:
            continue
        failed, seconds = run(mutation)
        caught = "<br>".join(f"`{name}`" for name in failed) if failed else "**none (survived)**"
        print(f"| {mutation[1]} | `{mutation[2]}` | {caught} |", flush=True)
        print(f"{mutation[0]}: {len(failed)} failing, {seconds:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
