"""Tasks of the JAX bodies as pure reward functions of the physics state (qpos, qvel, and the action for the
control costs), so that one reward-free run is prompted for many tasks and any stored state is relabelled.

The DeepMind Control ones follow dm_control's definitions (`dm_control/suite/<body>.py`); walker flip and spin,
cheetah walk and the backward tasks are the custom tasks of URLB and of the TD-JEPA / FB papers
(`metamotivo/envs/dmc_tasks/` of the TD-JEPA repository). The quantities they read (body positions and
orientations, sub-tree momenta) come from `mjx.forward` on the state, as dm_control reads them after
`physics.forward()`; the MJX reward model is the body's XML with the sub-tree sensors the tasks read added.
brax's ant and humanoid are rewarded for the velocity of their root along one of eight directions.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx
from mujoco_playground._src.reward import tolerance  # dm_control's `rewards.tolerance`, in JAX

# dm_control's constants (suite/walker.py, cheetah.py, hopper.py, humanoid.py) and the custom tasks' ones.
WALKER_STAND_HEIGHT, WALKER_WALK_SPEED, WALKER_RUN_SPEED, WALKER_FLIP_SPEED, WALKER_SPIN_SPEED = (
    1.2,
    1.0,
    8.0,
    5.0,
    10.0,
)
CHEETAH_RUN_SPEED, CHEETAH_WALK_SPEED = 10.0, 2.0
HOPPER_STAND_HEIGHT, HOPPER_HOP_SPEED = 0.6, 2.0
HUMANOID_STAND_HEIGHT, HUMANOID_WALK_SPEED, HUMANOID_RUN_SPEED = 1.4, 1.0, 10.0
# The point mass's extra targets: the corners of its arena's inner square (the arena spans ±0.3).
POINT_MASS_TARGETS = {
    "reach": None,  # dm_control's target geom (the arena's centre)
    "reach_top_left": (-0.2, 0.2),
    "reach_top_right": (0.2, 0.2),
    "reach_bottom_left": (-0.2, -0.2),
    "reach_bottom_right": (0.2, -0.2),
}
DIRECTIONS = {
    "east": 0,
    "north_east": 45,
    "north": 90,
    "north_west": 135,
    "west": 180,
    "south_west": 225,
    "south": 270,
    "south_east": 315,
}


@dataclasses.dataclass(frozen=True)
class Physics:
    """What a task reads of one state: MJX data after `mjx.forward`, the model's ids, and the action."""

    data: mjx.Data
    model: mujoco.MjModel
    action: jnp.ndarray

    def body(self, name: str) -> int:
        return self.model.body(name).id

    def sensor(self, name: str) -> jnp.ndarray:
        adr, dim = self.model.sensor(name).adr[0], self.model.sensor(name).dim[0]
        return self.data.sensordata[adr : adr + dim]

    def small_control(self) -> jnp.ndarray:
        """dm_control's (4 + mean quadratic tolerance of the control) / 5."""
        return (4 + tolerance(self.action, margin=1, value_at_margin=0, sigmoid="quadratic").mean()) / 5


TaskFn = Callable[[Physics], jnp.ndarray]


def _walker_stand(p: Physics) -> jnp.ndarray:
    torso = p.body("torso")
    standing = tolerance(p.data.xpos[torso, 2], (WALKER_STAND_HEIGHT, float("inf")), margin=WALKER_STAND_HEIGHT / 2)
    upright = (1 + p.data.xmat[torso, 2, 2]) / 2
    return (3 * standing + upright) / 4


def _walker_move(speed: float) -> TaskFn:
    def reward(p: Physics) -> jnp.ndarray:
        velocity = p.sensor("torso_subtreelinvel")[0]
        move = tolerance(velocity, (speed, float("inf")), margin=speed / 2, value_at_margin=0.5, sigmoid="linear")
        return _walker_stand(p) * (5 * move + 1) / 6

    return reward


def _walker_flip(p: Physics) -> jnp.ndarray:
    spin = p.sensor("torso_subtreeangmom")[1]
    move = tolerance(
        spin, (WALKER_FLIP_SPEED, float("inf")), margin=WALKER_FLIP_SPEED, value_at_margin=0, sigmoid="linear"
    )
    return _walker_stand(p) * (5 * move + 1) / 6


def _walker_spin(p: Physics) -> jnp.ndarray:
    spin = p.sensor("torso_subtreeangmom")[1]
    return tolerance(
        spin, (WALKER_SPIN_SPEED, float("inf")), margin=WALKER_SPIN_SPEED, value_at_margin=0, sigmoid="linear"
    )


def _cheetah_move(speed: float, direction: float) -> TaskFn:
    def reward(p: Physics) -> jnp.ndarray:
        velocity = direction * p.sensor("torso_subtreelinvel")[0]
        return tolerance(velocity, (speed, float("inf")), margin=speed, value_at_margin=0, sigmoid="linear")

    return reward


def _hopper_standing(p: Physics) -> jnp.ndarray:
    height = p.data.xipos[p.body("torso"), 2] - p.data.xipos[p.body("foot"), 2]
    return tolerance(height, (HOPPER_STAND_HEIGHT, 2))


def _hopper_stand(p: Physics) -> jnp.ndarray:
    return _hopper_standing(p) * p.small_control()


def _hopper_hop(p: Physics) -> jnp.ndarray:
    velocity = p.sensor("torso_subtreelinvel")[0]
    hop = tolerance(
        velocity, (HOPPER_HOP_SPEED, float("inf")), margin=HOPPER_HOP_SPEED / 2, value_at_margin=0.5, sigmoid="linear"
    )
    return _hopper_standing(p) * hop


def _humanoid_move(speed: float) -> TaskFn:
    def reward(p: Physics) -> jnp.ndarray:
        head_height = p.data.xpos[p.body("head"), 2]
        standing = tolerance(head_height, (HUMANOID_STAND_HEIGHT, float("inf")), margin=HUMANOID_STAND_HEIGHT / 4)
        upright_value = p.data.xmat[p.body("torso"), 2, 2]
        upright = tolerance(upright_value, (0.9, float("inf")), sigmoid="linear", margin=1.9, value_at_margin=0)
        horizontal = p.sensor("torso_subtreelinvel")[:2]
        if speed == 0:
            move = tolerance(horizontal, margin=2).mean()
        else:
            move = tolerance(
                jnp.linalg.norm(horizontal), (speed, float("inf")), margin=speed, value_at_margin=0, sigmoid="linear"
            )
            move = (5 * move + 1) / 6
        return p.small_control() * standing * upright * move

    return reward


def _point_mass_reach(target: tuple[float, float] | None) -> TaskFn:
    def reward(p: Physics) -> jnp.ndarray:
        target_geom, mass_geom = p.model.geom("target").id, p.model.geom("pointmass").id
        goal = p.data.geom_xpos[target_geom]
        if target is not None:  # the target moved in x, y; its height stays the target geom's
            goal = goal.at[:2].set(jnp.asarray(target))
        distance = jnp.linalg.norm(goal - p.data.geom_xpos[mass_geom])
        size = float(p.model.geom_size[target_geom, 0])
        return tolerance(distance, (0, size), margin=size) * p.small_control()

    return reward


def _root_velocity(angle_degrees: float) -> TaskFn:
    direction = np.array([np.cos(np.radians(angle_degrees)), np.sin(np.radians(angle_degrees))])

    def reward(p: Physics) -> jnp.ndarray:
        return p.data.qvel[:2] @ direction

    return reward


BODY_TASKS: dict[str, dict[str, TaskFn]] = {
    "walker": {
        "stand": _walker_stand,
        "walk": _walker_move(WALKER_WALK_SPEED),
        "run": _walker_move(WALKER_RUN_SPEED),
        "flip": _walker_flip,
        "spin": _walker_spin,
    },
    "cheetah": {
        "run": _cheetah_move(CHEETAH_RUN_SPEED, 1.0),
        "walk": _cheetah_move(CHEETAH_WALK_SPEED, 1.0),
        "run_backward": _cheetah_move(CHEETAH_RUN_SPEED, -1.0),
        "walk_backward": _cheetah_move(CHEETAH_WALK_SPEED, -1.0),
    },
    "hopper": {"hop": _hopper_hop, "stand": _hopper_stand},
    "point_mass": {name: _point_mass_reach(target) for name, target in POINT_MASS_TARGETS.items()},
    "humanoid": {
        "stand": _humanoid_move(0.0),
        "walk": _humanoid_move(HUMANOID_WALK_SPEED),
        "run": _humanoid_move(HUMANOID_RUN_SPEED),
    },
    "ant": {f"move_{name}": _root_velocity(angle) for name, angle in DIRECTIONS.items()},
    "brax_humanoid": {f"move_{name}": _root_velocity(angle) for name, angle in DIRECTIONS.items()},
}
# Sub-tree sensors the tasks read that the bodies' XML lacks.
EXTRA_SENSORS = {"walker": ("torso_subtreeangmom",)}


def reward_model(model: mujoco.MjModel, xml_path: str, assets: dict, body: str) -> mujoco.MjModel:
    """The body's model with the sensors its tasks read added (only those it lacks)."""
    missing = [name for name in EXTRA_SENSORS.get(body, ()) if name not in [s.name for s in _sensors(model)]]
    if not missing:
        return model
    spec = mujoco.MjSpec.from_file(xml_path, assets=assets)
    for name in missing:
        spec.add_sensor(
            name=name,
            type=mujoco.mjtSensor.mjSENS_SUBTREEANGMOM,
            objtype=mujoco.mjtObj.mjOBJ_BODY,
            objname=name.removesuffix("_subtreeangmom"),
        )
    return spec.compile()


def _sensors(model: mujoco.MjModel) -> list:
    return [model.sensor(i) for i in range(model.nsensor)]


def batched_rewards(
    model: mujoco.MjModel, tasks: list[TaskFn]
) -> Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]:
    """rewards(qpos, qvel, action) -> (..., len(tasks)) over any leading batch axes: one `mjx.forward` on the
    reward model per state, then every task's reward of it."""
    with jax.ensure_compile_time_eval():  # concrete arrays even when first built inside a trace
        mjx_model = mjx.put_model(model, impl="jax")
        data = mjx.make_data(mjx_model)

    def one(qpos: jnp.ndarray, qvel: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        forwarded = mjx.forward(mjx_model, data.replace(qpos=qpos, qvel=qvel, ctrl=action))
        physics = Physics(forwarded, model, action)
        return jnp.stack([task(physics) for task in tasks])

    def rewards(qpos: jnp.ndarray, qvel: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        flat = jax.vmap(one)(*(x.reshape(-1, x.shape[-1]) for x in (qpos, qvel, action)))
        return flat.reshape(*qpos.shape[:-1], len(tasks))

    return rewards
