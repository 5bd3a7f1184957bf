"""
Removing channels of a CNN: network slimming vs channel-level screening
=======================================================================

``ScreeningPrunedNet(granularity="channel")`` ranks the channels of every BatchNorm layer by
``alpha * norm(F) + (1 - alpha) * norm(|gamma|)`` and removes the lowest ones physically
(Torch-Pruning keeps convolutions, BatchNorms and the classifier consistent). ``alpha=0`` is
network slimming. The paper's protocol: train a dense net, prune once, fine-tune. Here a
small VGG-style CNN on the 8x8 digits, half of its channels removed.
"""

# %%
import copy

import matplotlib.pyplot as plt
import torch

from skscreen import ScreeningPrunedNet
from skscreen.datasets import load_digits_split
from skscreen.models import small_vgg_bn
from skscreen.pruning.channels import channel_report

data = load_digits_split()
common = dict(
    lr=0.05,
    optimizer=torch.optim.SGD,
    optimizer__momentum=0.9,
    optimizer__weight_decay=1e-4,
    batch_size=64,
    train_split=None,
    verbose=0,
)
# Dense training (sparsity=0 never prunes; the net is an ordinary skorch classifier).
dense = ScreeningPrunedNet(
    small_vgg_bn(widths=(16, 32), image_size=8),
    granularity="channel",
    sparsity=0.0,
    alpha=0.0,
    schedule="one-shot",
    prune_epochs=1,
    max_epochs=15,
    random_state=0,
    **common,
).fit(data.X_train, data.y_train)
print(f"dense: test accuracy {dense.score(data.X_test, data.y_test):.3f}")

# %%
# One epoch collects the channel statistics, the net is pruned once at its end, then five
# fine-tuning epochs follow. Same start, same budget for both criteria.
nets = {}
for alpha in (0.0, 0.5):
    net = ScreeningPrunedNet(
        copy.deepcopy(dense.module_),
        granularity="channel",
        alpha=alpha,
        sparsity=0.5,
        schedule="one-shot",
        prune_epochs=1,
        max_epochs=6,
        **common,
    )
    torch.manual_seed(0)
    net.fit(data.X_train, data.y_train)
    nets[alpha] = net
    rep = channel_report(dense.module_, net.compact(), torch.as_tensor(data.X_test[:1]))
    print(
        f"alpha={alpha}: {net.sparsity_:.0%} of channels removed, "
        f"test accuracy {net.score(data.X_test, data.y_test):.3f}, "
        f"{rep['parameter_reduction']:.1f}x fewer parameters, "
        f"{rep['mac_reduction']:.1f}x fewer MACs"
    )

# %%
# Channels kept per BatchNorm layer (the paper's fig. 3): the global ranking decides how
# much each layer keeps. On a small network it keeps the last layer whole (its gammas and
# F-scores are the largest) and thins the first ones; screening moves even more of the budget
# to the deep, class-separating channels. ``scope="layer"`` gives every layer the same share.
fig, ax = plt.subplots(figsize=(6, 3))
width = 0.38
for k, alpha in enumerate(nets):
    kept = nets[alpha].kept_fraction_
    ax.bar(
        [i + (k - 0.5) * width for i in range(len(kept))],
        list(kept.values()),
        width,
        label="slimming" if alpha == 0 else f"CLS alpha={alpha}",
    )
ax.set_xticks(range(len(kept)))
ax.set_xticklabels([f"BN {name}" for name in kept])
ax.set_ylabel("fraction of channels kept")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# ``compact()`` is the smaller module itself: same predictions, fewer channels.
small = nets[0.5].compact()
print(small)
with torch.no_grad():
    X = torch.as_tensor(data.X_test)
    same = torch.equal(small(X).argmax(1), nets[0.5].module_.eval()(X).argmax(1))
print("same predictions as the pruned net:", same)
