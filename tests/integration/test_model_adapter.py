"""Creating models: tags, local checkpoints, the project's own weights, and clear failures."""

import pytest
import torch

from workers.errors import ModelError
from workers.model import PROJECT_WEIGHTS, create_clip, list_models


def test_project_config_is_registered():
    assert "toyclip" in list_models()


def test_project_weights_are_small_and_load():
    path = PROJECT_WEIGHTS[("toyclip", "toyworld")]
    assert path.stat().st_size <= 10 * 1024 * 1024
    clip = create_clip("toyclip", pretrained="toyworld")
    n_params = sum(p.numel() for p in clip.model.parameters())
    assert 1e6 < n_params < 10e6
    assert not any(p.requires_grad for p in clip.model.parameters())
    saved = torch.load(path, weights_only=True)
    torch.testing.assert_close(
        clip.model.token_embedding.weight, saved["token_embedding.weight"].float()
    )


@pytest.mark.parametrize("wrap", [False, True])
def test_local_checkpoint_round_trip(tmp_path, wrap):
    torch.manual_seed(1)
    source = create_clip("toyclip")
    state = source.model.state_dict()
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state} if wrap else state, path)
    loaded = create_clip("toyclip", checkpoint=path)
    for key, value in state.items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)
    assert loaded.pretrained == str(path)


def test_checkpoint_of_another_shape_is_refused(tmp_path):
    state = create_clip("toyclip").model.state_dict()
    state.pop("text_projection")
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match="does not fit model 'toyclip'"):
        create_clip("toyclip", checkpoint=path)


def test_unknown_name_tag_and_missing_file():
    with pytest.raises(ModelError, match="unknown model 'ViT-Q-99'"):
        create_clip("ViT-Q-99")
    with pytest.raises(
        ModelError, match="unknown pretrained tag 'nope' for model 'toyclip'.*toyworld"
    ):
        create_clip("toyclip", pretrained="nope")
    with pytest.raises(ModelError, match="checkpoint file for model 'toyclip' not found"):
        create_clip("toyclip", checkpoint="/nonexistent/weights.pt")
