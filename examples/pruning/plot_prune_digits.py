"""
Pruning an MLP by screening while it trains
===========================================

``ScreeningPrunedNet`` ranks each connection by a mix of its input's ANOVA F-score and its
magnitude, and prunes to an annealed target. Here, the same net with ``alpha=0`` (magnitude
pruning) and ``alpha=0.25`` (screening hybrid), 95 % of weights removed, on digits.
"""

# %%
import matplotlib.pyplot as plt
import torch

from skscreen import ScreeningPrunedNet
from skscreen.datasets import load_digits_split
from skscreen.models import make_mlp
from skscreen.pruning.masks import get_mask

data = load_digits_split()
nets = {}
for alpha in (0.0, 0.25):
    net = ScreeningPrunedNet(
        make_mlp(64, (300, 100), 10),
        alpha=alpha,
        sparsity=0.95,
        max_epochs=30,
        lr=0.1,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=1e-4,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    net.fit(data.X_train, data.y_train)
    nets[alpha] = net
    print(
        f"alpha={alpha}: sparsity {net.sparsity_:.3f}, "
        f"test accuracy {net.score(data.X_test, data.y_test):.3f}, "
        f"kept per layer {[round(v, 3) for v in net.kept_fraction_.values()]}"
    )

# %%
# The schedule followed, and which input pixels kept connections (border pixels of the
# digits carry no information: screening prunes them first).
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].plot(nets[0.25].history[:, "sparsity"], "o-", ms=3)
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("sparsity")
for ax, alpha in zip(axes[1:], (0.0, 0.25)):
    first = nets[alpha].pruner_.layers["1"]
    ax.imshow(get_mask(first).sum(0).reshape(8, 8).numpy())
    ax.set_title(f"alpha={alpha}: inputs kept")
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
# A physically smaller network with the same predictions.
small = nets[0.25].compact()
print(small)
