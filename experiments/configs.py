"""Named agent configurations: the CPU-sized defaults and the TD-JEPA paper's GPU settings.

`--preset=<name>` picks one; `--config.<field>=<value>` overrides any field on top of it. The
`paper_ogbench*` presets also depend on the dataset's domain (antmaze or manipulation), as the
reference launchers' per-domain settings do; each preset also names its training schedule.
"""

import ml_collections

import agents
from envs import ogbench

# Overrides on top of each agent's default_config(); values from the reference launchers
# (shared/reference/td_jepa_reference.md §2.4 and §3.1). Fields the CPU defaults tune (learning rates,
# τ, BC, normalisation, bounded TD targets) are reset to the reference's values here.
_PAPER_TD_JEPA = dict(
    n_step=1,
    lr_phi=1e-4,
    lr_psi=1e-4,
    lr_predictor=1e-4,
    lr_actor=1e-4,
    bc_coeff=0.0,
    normalize_obs=False,
    bound_successor_targets=False,
)
_PAPER_FB = dict(lr_f=1e-4, lr_b=1e-4, lr_actor=1e-4, bc_coeff=0.0, normalize_obs=False)
# The reference's pixel pipeline (§2.4, "OGBench pixels"): a DrQ trunk per view on 3 stacked 64×64 frames,
# random shifts of up to 2 pixels, no running normalisation (frames are scaled to ±0.5 in the trunk).
_PIXELS = dict(obs_type="pixels", frame_stack=3, augment_pad=2, trunk_dim=256, normalize_obs=False)
# Pixels on two CPU cores: the same pipeline, narrower heads and a batch of 32 (a DrQ update at batch
# 256 costs ~100 GFLOP).
_CPU_PIXELS = _PIXELS | dict(batch_size=32)
# What the OGBench launchers of both agents share: batch, γ, and the flow-BC actor (π 512 × 2, v 512 × 4).
_PAPER_OGBENCH = dict(
    batch_size=256,
    discount=0.99,
    actor_hidden_dim=512,
    actor_hidden_layers=2,
    actor_type="flow_bc",
    lr_actor_flow=3e-4,
    flow_hidden_layers=4,
)
_PAPER_OGBENCH_TD_JEPA = (
    _PAPER_TD_JEPA
    | _PAPER_OGBENCH
    | dict(
        phi_dim=50,
        phi_hidden_dim=512,
        phi_hidden_layers=4,
        psi_dim=50,
        psi_hidden_dim=512,
        psi_hidden_layers=4,
        predictor_hidden_dim=512,
        predictor_hidden_layers=2,
        encoder_tau=0.005,
        predictor_tau=0.005,
        phi_ortho_coef=1.0,
        psi_ortho_coef=1.0,
        scale_train_goals=True,
    )
)
_PAPER_OGBENCH_FB = (
    _PAPER_FB
    | _PAPER_OGBENCH
    | dict(
        z_dim=50,
        left_dim=50,
        left_hidden_dim=512,
        left_hidden_layers=4,
        backward_hidden_dim=512,
        backward_hidden_layers=4,
        forward_hidden_dim=512,
        forward_hidden_layers=2,
        f_tau=0.005,
        b_tau=0.005,
        ortho_coef=100.0,
    )
)
# Per-domain values of the OGBench launchers: the flow-BC weight β (0.3 antmaze, 3 manipulation) and,
# for TD-JEPA, λ_ψ, which they sweep over {0.1, 1} (antmaze) and {1, 10} (manipulation); we take 1 and 10.
# Pointmaze, not in the paper, gets the maze settings.
_OGBENCH_DOMAIN = {
    "td_jepa": {
        "maze": dict(bc_coeff=0.3, psi_ortho_coef=1.0),
        "manipulation": dict(bc_coeff=3.0, psi_ortho_coef=10.0),
    },
    "fb": {"maze": dict(bc_coeff=0.3), "manipulation": dict(bc_coeff=3.0)},
}
# OGBench pixels: φ is a single linear layer on the 256-d DrQ features with d_φ = 256; ψ keeps its MLP.
_PAPER_OGBENCH_PIXELS = {
    "td_jepa": _PAPER_OGBENCH_TD_JEPA | _PIXELS | dict(phi_dim=256, phi_hidden_layers=0),
    "fb": _PAPER_OGBENCH_FB | _PIXELS,
}
# The CPU preset's TD-JEPA bootstraps after 5 dataset steps (the agent's own default: 1, the reference's):
# on pointmaze every such run (seeds 0-4) reached goal success >= 0.40 at 60k updates, where one-step
# targets averaged 0.23 at 80k (README, Results).
_CPU_TD_JEPA = dict(n_step=5)
PRESETS: dict[str, dict[str, dict]] = {
    "td_jepa": {
        "cpu": _CPU_TD_JEPA,
        "paper_dmc": _PAPER_TD_JEPA
        | dict(
            batch_size=1024,
            discount=0.98,
            phi_dim=256,
            phi_hidden_dim=256,
            phi_hidden_layers=0,
            psi_dim=50,
            psi_hidden_dim=256,
            psi_hidden_layers=2,
            predictor_hidden_dim=1024,
            predictor_hidden_layers=1,
            actor_hidden_dim=1024,
            actor_hidden_layers=1,
            actor_use_full_encoder=True,
            encoder_tau=0.001,
            predictor_tau=0.001,
            phi_ortho_coef=0.1,
            psi_ortho_coef=0.1,
            scale_train_goals=False,
        ),
        "paper_ogbench": _PAPER_OGBENCH_TD_JEPA,
        "cpu_pixels": _CPU_PIXELS,
        "paper_ogbench_pixels": _PAPER_OGBENCH_PIXELS["td_jepa"],
    },
    "fb": {
        "cpu": {},
        "paper_dmc": _PAPER_FB
        | dict(
            batch_size=1024,
            discount=0.98,
            z_dim=50,
            left_dim=256,
            left_hidden_layers=0,
            backward_hidden_dim=256,
            backward_hidden_layers=2,
            forward_hidden_dim=1024,
            forward_hidden_layers=1,
            actor_hidden_dim=1024,
            actor_hidden_layers=1,
            actor_use_full_encoder=True,
            f_tau=0.001,
            b_tau=0.001,
            ortho_coef=1.0,
        ),
        "paper_ogbench": _PAPER_OGBENCH_FB,
        "cpu_pixels": _CPU_PIXELS,
        "paper_ogbench_pixels": _PAPER_OGBENCH_PIXELS["fb"],
    },
}
PIXEL_PRESETS = ("cpu_pixels", "paper_ogbench_pixels")
# Training schedule of each preset (defaults of --num_steps and --eval_every): the reference trains 3M
# steps on DMC and 1M on OGBench and evaluates every 250k.
# Pixel presets call 10 updates at a time: on CPU each update of a call is compiled on its own (see
# tdjepa.training.make_chunk).
SCHEDULES = {
    # 60k: n-step TD-JEPA's five-seed mean on pointmaze is 0.44 there and 0.20 at 80k (README, Results).
    "cpu": dict(num_steps=60_000, eval_every=20_000, updates_per_call=1_000),
    "cpu_pixels": dict(num_steps=5_000, eval_every=0, updates_per_call=10),
    "paper_dmc": dict(num_steps=3_000_000, eval_every=250_000, updates_per_call=1_000),
    "paper_ogbench": dict(num_steps=1_000_000, eval_every=250_000, updates_per_call=1_000),
    "paper_ogbench_pixels": dict(num_steps=1_000_000, eval_every=250_000, updates_per_call=10),
}


def preset_names(agent: str) -> tuple[str, ...]:
    return tuple(PRESETS[agent])


def agent_config(agent: str, preset: str = "cpu", env: str | None = None) -> ml_collections.ConfigDict:
    """The default config of `agent` with the named preset applied; `paper_ogbench*` presets add the
    settings of env's domain (manipulation when env is None)."""
    config = agents.default_config(agent)
    if preset not in PRESETS[agent]:
        raise ValueError(f"unknown preset {preset!r} for agent {agent!r}; accepted values: {preset_names(agent)}")
    config.update(PRESETS[agent][preset])
    if preset.startswith("paper_ogbench"):
        maze = env is not None and ogbench.dataset_spec(env).family != "manipspace"
        config.update(_OGBENCH_DOMAIN[agent]["maze" if maze else "manipulation"])
    return config
