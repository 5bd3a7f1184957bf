"""skscreen.pruning.channels._report: MACs and parameters counted by hand on Linear layers."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from skscreen.pruning.channels._report import channel_report, count_macs  # noqa: E402


def test_count_macs_of_a_linear_layer():
    # 4 inputs x 3 outputs: 12 multiply-accumulates and 12 weights (Torch-Pruning counts
    # a bias add as one MAC each: 3 more of both with a bias)
    assert count_macs(nn.Linear(4, 3, bias=False), torch.zeros(1, 4)) == (12, 12)
    assert count_macs(nn.Linear(4, 3), torch.zeros(1, 4)) == (15, 15)


@pytest.mark.parametrize("training", [True, False])
def test_count_macs_leaves_the_mode_as_it_was(training):
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train(training)
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    count_macs(model, torch.zeros(1, 4))
    assert seen == [False]  # counted in eval mode
    assert model.training is training and model[1].training is training


def _conv_linear():
    # conv 1 -> 2 channels, 3x3 on 4x4: 18 weights at 2x2 positions (72 MACs); then Linear
    # 8 -> 3: 24 weights, 24 MACs. In all 42 parameters, 96 MACs
    return nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(8, 3, bias=False))


def test_count_macs_of_a_conv_and_a_linear():
    assert count_macs(_conv_linear(), torch.zeros(1, 1, 4, 4)) == (96, 42)


def test_report_dense_against_pruned():
    # pruned: one 3x3 filter with a bias, 10 parameters; 9 MACs + 1 bias add at 4 positions
    report = channel_report(_conv_linear(), nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 4, 4))
    assert report == {
        "dense": {"parameters": 42, "macs": 96},
        "pruned": {"parameters": 10, "macs": 40},
        "parameter_reduction": 4.2,
        "mac_reduction": 2.4,
    }


def test_report_with_kept_fractions_copies_them():
    kept = {"bn": 0.5}
    report = channel_report(nn.Linear(4, 3), nn.Linear(4, 1), torch.zeros(1, 4), kept)
    assert report["channels_kept"] == {"bn": 0.5} and report["channels_kept"] is not kept


def test_report_of_an_empty_pruned_network_divides_by_one():
    report = channel_report(nn.Linear(4, 3, bias=False), nn.Identity(), torch.zeros(1, 4))
    assert report["pruned"] == {"parameters": 0, "macs": 0}
    assert report["parameter_reduction"] == 12.0 and report["mac_reduction"] == 12.0
