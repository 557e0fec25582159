"""Named agent configurations: the CPU-sized defaults and the TD-JEPA paper's GPU settings.

`--preset=<name>` picks one; `--config.<field>=<value>` overrides any field on top of it.
"""

import ml_collections

import agents

# Overrides on top of each agent's default_config(); values from the reference launchers
# (shared/reference/td_jepa_reference.md §2.4 and §3.1). Fields the CPU defaults tune (learning rates,
# τ, BC, normalisation, bounded TD targets) are reset to the reference's values here.
_PAPER_TD_JEPA = dict(
    lr_phi=1e-4,
    lr_psi=1e-4,
    lr_predictor=1e-4,
    lr_actor=1e-4,
    bc_coeff=0.0,
    normalize_obs=False,
    bound_successor_targets=False,
)
_PAPER_FB = dict(lr_f=1e-4, lr_b=1e-4, lr_actor=1e-4, bc_coeff=0.0, normalize_obs=False)
PRESETS: dict[str, dict[str, dict]] = {
    "td_jepa": {
        "cpu": {},
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
        "paper_ogbench": _PAPER_TD_JEPA
        | dict(
            batch_size=256,
            discount=0.99,
            phi_dim=50,
            phi_hidden_dim=512,
            phi_hidden_layers=4,
            psi_dim=50,
            psi_hidden_dim=512,
            psi_hidden_layers=4,
            predictor_hidden_dim=512,
            predictor_hidden_layers=2,
            actor_hidden_dim=512,
            actor_hidden_layers=2,
            encoder_tau=0.005,
            predictor_tau=0.005,
            phi_ortho_coef=1.0,
            psi_ortho_coef=1.0,
            scale_train_goals=True,
        ),
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
        "paper_ogbench": _PAPER_FB
        | dict(
            batch_size=256,
            discount=0.99,
            z_dim=50,
            left_dim=50,
            left_hidden_dim=512,
            left_hidden_layers=4,
            backward_hidden_dim=512,
            backward_hidden_layers=4,
            forward_hidden_dim=512,
            forward_hidden_layers=2,
            actor_hidden_dim=512,
            actor_hidden_layers=2,
            f_tau=0.005,
            b_tau=0.005,
            ortho_coef=100.0,
        ),
    },
}


def preset_names(agent: str) -> tuple[str, ...]:
    return tuple(PRESETS[agent])


def agent_config(agent: str, preset: str = "cpu") -> ml_collections.ConfigDict:
    """The default config of `agent` with the named preset applied."""
    config = agents.default_config(agent)
    if preset not in PRESETS[agent]:
        raise ValueError(f"unknown preset {preset!r} for agent {agent!r}; accepted values: {preset_names(agent)}")
    config.update(PRESETS[agent][preset])
    return config
