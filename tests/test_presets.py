"""The paper presets equal the reference's launchers, for every agent × variant × domain × modality.

The expected values are transcribed here, launcher by launcher, from `marbaga/td_jepa_public` at 9152a32
(scripts/train/{proprio,pixel}/launch_{td_jepa,td_jepa_sym,fb}_{dmc,ogbench}.py: BASE_CFG, the domain sweeps)
and, for what a launcher leaves unset, from the code defaults of its agent config
(shared/reference/td_jepa_reference.md §2.4 and §3.1), in this library's field names. Where a launcher sweeps
a value, the expected value is the sweep point the presets document choosing (nearest the launcher's base).
Every field of every preset is either checked against this table or named as not applying to the variant.
"""

import dataclasses

import pytest

import agents

# Code defaults the launchers leave in place (TDJEPAAgentTrainConfig, ForwardArchiConfig, actor configs,
# flow-BC train configs), and the library's own options at the reference's behaviour.
TD_JEPA_CODE = dict(
    lr_phi=1e-4,
    lr_psi=1e-4,
    lr_predictor=1e-4,
    lr_actor=1e-4,
    train_goal_ratio=0.5,
    predictor_pessimism=0.0,
    actor_pessimism=0.0,
    actor_noise_clip=0.3,
    actor_std=0.2,
    num_heads=2,
    predictor_embedding_layers=2,
    actor_embedding_layers=2,
    z_moment_decay=0.995,
    lr_actor_flow=3e-4,
    flow_steps=10,
    n_step=1,
    bound_successor_targets=False,
    actor_average_tau=0.0,
    lr_cosine_steps=0,
)
FB_CODE = dict(
    lr_f=1e-4,
    lr_b=1e-4,
    lr_actor=1e-4,
    train_goal_ratio=0.5,
    fb_pessimism=0.0,
    actor_pessimism=0.0,
    actor_noise_clip=0.3,
    actor_std=0.2,
    num_heads=2,
    forward_embedding_layers=2,
    actor_embedding_layers=2,
    lr_actor_flow=3e-4,
    flow_steps=10,
    reward_inference="weighted_sum",
    actor_average_tau=0.0,
    lr_cosine_steps=0,
)
STATES = dict(obs_type="states", normalize_obs=False, frame_stack=1)  # IdentityNormalizerConfig
PIXELS = dict(obs_type="pixels", normalize_obs=False, frame_stack=3, augment_pad=2, trunk_dim=256)  # RGB, drq 256

# (agent, symmetric, benchmark, pixels) -> the launcher's BASE_CFG.
LAUNCHERS = {
    ("td_jepa", False, "dmc", False): dict(  # proprio/launch_td_jepa_dmc.py
        batch_size=1024, discount=0.98, predictor_hidden_dim=1024, predictor_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        phi_hidden_dim=256, phi_hidden_layers=0, phi_dim=256, psi_hidden_dim=256, psi_hidden_layers=2, psi_dim=50,
        phi_ortho_coef=0.1, psi_ortho_coef=0.1, encoder_tau=0.001, predictor_tau=0.001, scale_train_goals=False,
        bc_coeff=0.0, symmetric=False,
    ) | STATES,
    ("td_jepa", False, "dmc", True): dict(  # pixel/launch_td_jepa_dmc.py
        batch_size=512, discount=0.98, predictor_hidden_dim=1024, predictor_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        phi_hidden_dim=256, phi_hidden_layers=0, phi_dim=256, psi_hidden_dim=256, psi_hidden_layers=2, psi_dim=50,
        phi_ortho_coef=0.1, psi_ortho_coef=0.1, encoder_tau=0.001, predictor_tau=0.001, scale_train_goals=False,
        bc_coeff=0.0, symmetric=False,
    ) | PIXELS,
    ("td_jepa", False, "ogbench", False): dict(  # proprio/launch_td_jepa_ogbench.py
        batch_size=256, discount=0.99, predictor_hidden_dim=512, predictor_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False,
        phi_hidden_dim=512, phi_hidden_layers=4, phi_dim=50, psi_hidden_dim=512, psi_hidden_layers=4, psi_dim=50,
        phi_ortho_coef=1.0, psi_ortho_coef=1.0, encoder_tau=0.005, predictor_tau=0.005, scale_train_goals=True,
        symmetric=False,
    ) | STATES,
    ("td_jepa", False, "ogbench", True): dict(  # pixel/launch_td_jepa_ogbench.py
        batch_size=256, discount=0.99, predictor_hidden_dim=512, predictor_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False,
        phi_hidden_dim=512, phi_hidden_layers=0, phi_dim=256, psi_hidden_dim=512, psi_hidden_layers=4, psi_dim=50,
        phi_ortho_coef=1.0, psi_ortho_coef=1.0, encoder_tau=0.005, predictor_tau=0.005, scale_train_goals=True,
        symmetric=False,
    ) | PIXELS,
    ("td_jepa", True, "dmc", False): dict(  # proprio/launch_td_jepa_sym_dmc.py
        batch_size=1024, discount=0.98, predictor_hidden_dim=1024, predictor_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        phi_hidden_dim=256, phi_hidden_layers=2, phi_dim=50, phi_ortho_coef=0.1,
        encoder_tau=0.001, predictor_tau=0.001, scale_train_goals=False, bc_coeff=0.0, symmetric=True,
    ) | STATES,
    ("td_jepa", True, "dmc", True): dict(  # pixel/launch_td_jepa_sym_dmc.py
        batch_size=512, discount=0.98, predictor_hidden_dim=1024, predictor_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        phi_hidden_dim=256, phi_hidden_layers=2, phi_dim=50, phi_ortho_coef=0.1,
        encoder_tau=0.001, predictor_tau=0.001, scale_train_goals=False, bc_coeff=0.0, symmetric=True,
    ) | PIXELS,
    ("td_jepa", True, "ogbench", False): dict(  # proprio/launch_td_jepa_sym_ogbench.py
        batch_size=256, discount=0.99, predictor_hidden_dim=512, predictor_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False, phi_hidden_dim=512, phi_hidden_layers=4, phi_dim=50, phi_ortho_coef=1.0,
        encoder_tau=0.005, predictor_tau=0.005, scale_train_goals=True, symmetric=True,
    ) | STATES,
    ("td_jepa", True, "ogbench", True): dict(  # pixel/launch_td_jepa_sym_ogbench.py
        batch_size=256, discount=0.99, predictor_hidden_dim=512, predictor_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False, phi_hidden_dim=512, phi_hidden_layers=4, phi_dim=50, phi_ortho_coef=1.0,
        encoder_tau=0.005, predictor_tau=0.005, scale_train_goals=True, symmetric=True,
    ) | PIXELS,
    ("fb", False, "dmc", False): dict(  # proprio/launch_fb_dmc.py (actor_encode_obs: the code default, True)
        batch_size=1024, discount=0.98, forward_hidden_dim=1024, forward_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        backward_hidden_dim=256, backward_hidden_layers=2, z_dim=50,
        left_hidden_dim=256, left_hidden_layers=0, left_dim=256, ortho_coef=1.0, f_tau=0.001, b_tau=0.001,
        bc_coeff=0.0,
    ) | STATES,
    ("fb", False, "dmc", True): dict(  # pixel/launch_fb_dmc.py
        batch_size=512, discount=0.98, forward_hidden_dim=1024, forward_hidden_layers=1,
        actor_type="td3", actor_hidden_dim=1024, actor_hidden_layers=1, actor_use_full_encoder=True,
        backward_hidden_dim=256, backward_hidden_layers=2, z_dim=50,
        left_hidden_dim=256, left_hidden_layers=0, left_dim=256, ortho_coef=1.0, f_tau=0.001, b_tau=0.001,
        bc_coeff=0.0,
    ) | PIXELS,
    ("fb", False, "ogbench", False): dict(  # proprio/launch_fb_ogbench.py (actor_encode_obs False)
        batch_size=256, discount=0.99, forward_hidden_dim=512, forward_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False, backward_hidden_dim=512, backward_hidden_layers=4, z_dim=50,
        left_hidden_dim=512, left_hidden_layers=4, left_dim=50, ortho_coef=100.0, f_tau=0.005, b_tau=0.005,
    ) | STATES,
    ("fb", False, "ogbench", True): dict(  # pixel/launch_fb_ogbench.py
        batch_size=256, discount=0.99, forward_hidden_dim=512, forward_hidden_layers=2,
        actor_type="flow_bc", actor_hidden_dim=512, actor_hidden_layers=2, flow_hidden_layers=4,
        actor_use_full_encoder=False, backward_hidden_dim=512, backward_hidden_layers=4, z_dim=50,
        left_hidden_dim=512, left_hidden_layers=0, left_dim=256, ortho_coef=100.0, f_tau=0.005, b_tau=0.005,
    ) | PIXELS,
}  # fmt: skip
# The domain sweeps' fixed values: DMC point mass γ 0.99 (+ lr_actor 1e-6 in the proprio launchers only);
# OGBench bc_coeff 0.3 (antmaze sweeps) and 3.0 (cube sweeps).
DOMAINS = {"dmc": ("walker", "cheetah", "quadruped", "pointmass"), "ogbench": ("maze", "manipulation")}


def domain_values(benchmark: str, pixels: bool, domain: str) -> dict:
    if benchmark == "ogbench":
        return dict(bc_coeff=0.3 if domain == "maze" else 3.0)
    if domain != "pointmass":
        return {}
    return dict(discount=0.99) | ({} if pixels else dict(lr_actor=1e-6))


# Fields that do not apply to a variant: ψ's under the symmetric TD-JEPA (ψ ≡ φ), the depth of the BC flow's
# velocity field, which only the flow-BC actor (OGBench) has, the pixel trunk's settings with states, and the
# online source's settings (these presets train offline).
ONLINE_FIELDS = {
    "num_envs",
    "env_steps_per_round",
    "updates_per_round",
    "seed_steps",
    "buffer_capacity",
    "z_every",
    "rollout_goal_ratio",
}


def not_applicable(symmetric: bool, benchmark: str, pixels: bool) -> set[str]:
    fields = {"psi_dim", "psi_hidden_dim", "psi_hidden_layers", "psi_ortho_coef", "lr_psi"} if symmetric else set()
    fields |= ONLINE_FIELDS
    fields |= {"flow_hidden_layers"} if benchmark == "dmc" else set()
    return fields | (set() if pixels else {"augment_pad", "trunk_dim"})


CASES = [
    (agent, symmetric, benchmark, pixels, domain)
    for (agent, symmetric, benchmark, pixels) in LAUNCHERS
    for domain in DOMAINS[benchmark]
]


@pytest.mark.parametrize("agent,symmetric,benchmark,pixels,domain", CASES)
def test_paper_preset_equals_the_reference_launcher(agent, symmetric, benchmark, pixels, domain):
    record = agents.record(agent)
    preset = f"paper_{benchmark}" + ("_pixels" if pixels else "")
    config = record.config(preset, domain, dict(symmetric=True) if symmetric else None)
    expected = (TD_JEPA_CODE if agent == "td_jepa" else FB_CODE) | LAUNCHERS[agent, symmetric, benchmark, pixels]
    expected |= domain_values(benchmark, pixels, domain)
    skipped = not_applicable(symmetric, benchmark, pixels)
    unchecked = set(config) - set(expected) - skipped
    assert not unchecked, f"fields of {preset} no reference value covers: {sorted(unchecked)}"
    wrong = {k: (config[k], v) for k, v in expected.items() if config[k] != v}
    assert not wrong, f"{agent} symmetric={symmetric} {preset} {domain}: (preset, reference) {wrong}"


@pytest.mark.parametrize("agent", ["td_jepa", "fb"])
def test_paper_schedules_are_the_reference_step_counts(agent):
    presets = agents.record(agent).presets
    steps = {
        name: (presets[name].num_steps, presets[name].eval_every)
        for name in presets
        if name.startswith("paper") and presets[name].num_steps  # offline presets
    }
    assert steps == {
        "paper_dmc": (3_000_000, 250_000),
        "paper_dmc_pixels": (2_000_000, 250_000),
        "paper_ogbench": (1_000_000, 250_000),
        "paper_ogbench_pixels": (1_000_000, 250_000),
    }


def test_online_fb_preset_is_the_reference_loop_on_the_dmc_networks():
    """§2.3 of the FB / FB-CPR reference notes: 50 envs, 50 updates after every 500 env steps, z resampled every
    150 steps, 50k random steps first, 30M env steps; the networks are the DMC launcher's."""
    record = agents.record("fb")
    config = record.config("paper_online", "online-walker")
    loop = dict(num_envs=50, env_steps_per_round=500, updates_per_round=50, z_every=150, seed_steps=50_000)
    assert {k: config[k] for k in loop} == loop
    offline = record.config("paper_dmc", "walker")
    assert {k: config[k] for k in offline if k not in ONLINE_FIELDS} == {
        k: offline[k] for k in offline if k not in ONLINE_FIELDS
    }
    assert record.presets["paper_online"].env_steps == 30_000_000


def test_the_table_test_fails_on_a_preset_that_differs_from_its_launcher(monkeypatch):
    """A wrong value (FB's actor pessimism at Meta Motivo's 0.5 in a paper preset) is caught."""
    presets = agents.record("fb").presets
    preset = presets["paper_ogbench"]
    wrong = dataclasses.replace(preset, overrides=lambda d, v: preset.overrides(d, v) | dict(actor_pessimism=0.5))
    monkeypatch.setitem(presets, "paper_ogbench", wrong)
    with pytest.raises(AssertionError, match="actor_pessimism"):
        test_paper_preset_equals_the_reference_launcher("fb", False, "ogbench", False, "maze")


@pytest.mark.parametrize("agent", ["td_jepa", "fb"])
def test_dmc_presets_take_a_jax_bodys_domain_online_and_on_its_episodes_alike(agent):
    """The DMC presets specialise on the body of an online run and of one on its ExoRL episodes (point mass:
    γ 0.99, lr_actor 1e-6); the CPU preset takes the reference's DMC discount on episodes."""
    record = agents.record(agent)
    bare = record.config("paper_dmc", "pointmass")
    for domain in ("online-point_mass", "exorl-point_mass"):
        assert record.config("paper_dmc", domain).to_dict() == bare.to_dict()
    assert (bare.discount, bare.lr_actor) == (0.99, 1e-6)
    assert record.config("cpu", "exorl-walker").discount == 0.98
    assert record.config("cpu", "maze").discount == record.config("cpu").discount
