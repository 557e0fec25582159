"""experiments.train and experiments.evaluate on a JAX env (online FB on MuJoCo Playground's walker), at the
smallest sizes: results, a run split over two processes (and their devices) that trains what one process
does, FB-CPR on the shipped walker clips, and bad input refused before any compile. (An online run killed and
resumed continuing bit for bit is tests/test_online.py's; the command's resume path is the offline one,
tests/test_end_to_end.py.)"""

import json
import os
import subprocess

import numpy as np

from envs.body_experts import shipped_clips
from tdjepa.clips import load_clips
from tdjepa.video import read_video
from tests.test_distributed import train_distributed
from tests.test_end_to_end import _leaves, command, final_state, run

TINY_ONLINE = [
    "--agent=fb",
    "--env=dmc-walker",
    "--config.batch_size=16",
    "--config.z_dim=6",
    "--config.left_dim=8",
    "--config.left_hidden_dim=32",
    "--config.backward_hidden_dim=32",
    "--config.forward_hidden_dim=32",
    "--config.actor_hidden_dim=32",
    "--num_envs=4",
    "--config.env_steps_per_round=16",
    "--config.updates_per_round=2",
    "--config.seed_steps=32",
    "--config.buffer_capacity=400",
    "--env_steps=96",
    "--updates_per_call=32",
    "--eval_every=0",
    "--checkpoint_every=64",
    "--eval_episodes=1",
    "--inference_samples=64",
    "--progress=false",
]


def test_online_run_trains_evaluates_and_splits_over_processes(tmp_path):
    straight = tmp_path / "straight"
    out = run("train", f"--workdir={straight}", *TINY_ONLINE)
    assert "filling the replay buffer with 32 env steps" in out.stdout
    assert "mean reward-prompted return" in out.stdout
    result = json.loads((straight / "eval.json").read_text())
    tasks = ["walker-stand", "walker-walk", "walker-run", "walker-flip", "walker-spin"]
    assert [(r["mode"], r["task"]) for r in result["tasks"]] == [(m, t) for m in ("reward", "goal") for t in tasks]
    assert all(set(r) == {"task", "mode", "return", "random_z_return"} for r in result["tasks"])
    assert all(0 <= r["return"] <= 1000 and 0 <= r["random_z_return"] <= 1000 for r in result["tasks"])
    logged = (straight / "train.csv").read_text().splitlines()
    assert "env_steps_per_second" in logged[0] and "buffer_size" in logged[0]
    assert [row.split(",")[0] for row in logged[1:]] == ["64", "96"]

    # The same run as two processes of one device each (--distributed): envs and buffer rows split over them
    # train the same. Reductions may sum in another order, and the policy's actions carry those last-bit
    # differences into the physics; MJX's contact lists may list tied contacts in another order.
    hosts = tmp_path / "hosts"
    out = train_distributed(f"--workdir={hosts}", *TINY_ONLINE)
    assert "mean reward-prompted return" in out
    one, two = final_state(straight, 96), final_state(hosts, 96)
    trained = [
        (one["agent"], two["agent"]),
        (one["source_state"]["buffer"]["experience"], two["source_state"]["buffer"]["experience"]),
    ]
    for a, b in trained:
        for x, y in zip(_leaves(a), _leaves(b), strict=True):
            np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-4)

    video = ["--video", "--video_every=500", "--video_size=32"]
    out = run("evaluate", f"--workdir={straight}", "--eval_episodes=1", "--inference_samples=64", "--step=64", *video)
    assert json.loads((straight / "eval.json").read_text())["step"] == 64
    assert "reward    walker-stand" in out.stdout
    # experiments.evaluate also tracks the held-out walker clips shipped with the library, with any agent.
    held_out = load_clips(shipped_clips("dmc-walker", held_out=True), "dmc-walker", 24, 9, 9).names
    tracked = [r["task"] for r in json.loads((straight / "eval.json").read_text())["tasks"] if r["mode"] == "tracking"]
    assert tracked == list(held_out)
    videos = sorted(path.name for path in (straight / "videos").iterdir())
    prompted = [f"{mode}_{task}.mp4" for mode in ("reward", "goal") for task in tasks]
    assert videos == sorted(prompted + [f"tracking_{name.replace('/', '_')}.mp4" for name in held_out])
    frames = read_video(straight / "videos" / "reward_walker-walk.mp4")  # steps 1 and 501 of the episode
    assert frames.shape == (2, 32, 32, 3) and frames.std() > 0


def test_bad_online_input_is_refused_naming_the_flag(tmp_path):
    cases = [
        (["--env=dmc-walkr"], "--env=dmc-walkr: accepted values: datasets"),
        (["--config.buffer_capacity=8"], "config.buffer_capacity=8 is smaller than a batch (16)"),
        (["--num_envs=3"], "config.env_steps_per_round=16 is not a positive multiple of config.num_envs=3"),
        (["--env_steps=100"], "--num_steps (--env_steps)=100: online periods count env steps in whole rounds"),
    ]
    for extra, message in cases:
        out = run("train", f"--workdir={tmp_path / 'bad'}", *TINY_ONLINE, *extra, "--print_config", check=False)
        assert out.returncode != 0 and message in out.stderr, (extra, out.stderr[-2000:])
        assert "Traceback" not in out.stderr
    # Envs split over devices: 5 do not divide over two (CPU devices made by XLA's flag).
    uneven = ["--num_devices=2", "--num_envs=5", "--config.env_steps_per_round=20", "--print_config"]
    two_devices = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = command("train", f"--workdir={tmp_path / 'bad'}", *TINY_ONLINE, *uneven)
    out = subprocess.run(args, capture_output=True, text=True, env=two_devices, timeout=300)
    assert out.returncode != 0 and "--num_envs=5 does not divide over the 2 devices" in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "bad").exists()


TINY_FB_CPR = [
    "--agent=fb_cpr",
    *TINY_ONLINE[1:],
    "--config.seq_length=4",
    "--config.discriminator_hidden_dim=16",
]


def test_fb_cpr_trains_on_the_shipped_walker_clips_and_tracks_the_held_out_ones(tmp_path):
    out = run("train", f"--workdir={tmp_path / 'cpr'}", *TINY_FB_CPR)
    result = json.loads((tmp_path / "cpr" / "eval.json").read_text())
    tracked = [r for r in result["tasks"] if r["mode"] == "tracking"]
    held_out = load_clips(shipped_clips("dmc-walker", held_out=True), "dmc-walker", 24, 9, 9)
    assert [r["task"] for r in tracked] == list(held_out.names) and "walker-walk/0" in held_out.names
    assert all(r["error"] > 0 and r["random_z_error"] > 0 for r in tracked)
    assert "mean_tracking_error" in result and "error" in out.stdout


def test_fb_cpr_refuses_datasets_and_bad_clip_files_before_training(tmp_path):
    out = run("train", "--agent=fb_cpr", "--print_config", check=False)
    assert out.returncode != 0 and "--agent=fb_cpr trains online on its own rollouts" in out.stderr
    bad = tmp_path / "bad.npz"
    np.savez(bad, observations=np.zeros((2, 10, 24)), qpos=np.zeros((2, 10, 9)), env=np.array("dmc-walker"))
    out = run("train", f"--workdir={tmp_path / 'run'}", *TINY_FB_CPR, f"--config.expert_clips={bad}", check=False)
    assert out.returncode != 0 and f"{bad}: missing key(s) qvel" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()
