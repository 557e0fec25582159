"""Every notebook runs top to bottom with small settings, so none can rot: the cell tagged `parameters` is
followed by one that shrinks the dataset, the training and the evaluation (as papermill would inject it)."""

from pathlib import Path

import nbclient
import nbformat
import pytest

from .test_end_to_end import TINY_FLAGS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TD_JEPA_FLAGS = [flag for flag in TINY_FLAGS if flag.startswith("--config.")]
FB_FLAGS = ["--config.batch_size=32", "--config.forward_hidden_dim=32", "--config.backward_hidden_dim=32"]
SMALL = {
    "quickstart.ipynb": {
        "NUM_EPISODES": 3,
        "NUM_STEPS": 10,
        "TRAIN_FLAGS": TD_JEPA_FLAGS,
        "INFERENCE_SAMPLES": 200,
        "VIDEO_EVERY": 250,
    },
    "latents.ipynb": {
        "NUM_EPISODES": 3,
        "NUM_STEPS": 10,
        "TRAIN_FLAGS": {"td_jepa": TD_JEPA_FLAGS, "fb": [*FB_FLAGS, "--config.actor_hidden_dim=32"]},
        "INFERENCE_SAMPLES": 200,
        "PER_CELL": 2,
    },
}


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list:
    """The outputs of one kind ('text': printed text, or a MIME type) of every executed code cell."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "text" and output.get("name") == "stdout":
                found.append(output["text"])
            elif kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found


def run_small(name: str, workdir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    (index,) = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    small = "\n".join(f"{key} = {value!r}" for key, value in SMALL[name].items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(small))
    in_workdir = {"metadata": {"path": str(workdir)}}  # the kernel's working directory
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources=in_workdir).execute()
    return notebook


def test_every_notebook_has_settings_the_test_can_shrink():
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)
    for name in SMALL:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), name
        (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert all(f"{key} = " in parameters.source for key in SMALL[name]), name


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory) -> Path:
    """One working folder for both notebooks, as a user running them in turn has: the latents notebook finds
    the quickstart's dataset and TD-JEPA run there and trains only FB."""
    return tmp_path_factory.mktemp("notebooks")


def test_the_quickstart_trains_prompts_plots_and_shows_a_video(shared_folder):
    notebook = run_small("quickstart.ipynb", shared_folder)
    text = "".join(outputs(notebook, "text"))
    assert "success of one episode per prompt: goal" in text and "goal task 2: success" in text
    assert (shared_folder / "runs" / "notebook_td_jepa" / "checkpoints" / "10").exists()
    assert len(outputs(notebook, "image/png")) == 1  # the rollouts on the maze
    assert any("<video" in html for html in outputs(notebook, "text/html"))


def test_the_latents_notebook_draws_both_agents_maps(shared_folder):
    notebook = run_small("latents.ipynb", shared_folder)
    text = "".join(outputs(notebook, "text"))
    assert "td_jepa: mean diagonal similarity" in text and "fb: mean diagonal similarity" in text
    assert len(outputs(notebook, "image/png")) == 2  # the maps, the similarities
