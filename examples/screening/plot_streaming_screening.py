"""
Streaming ANOVA F screening, chunk by chunk and merged
======================================================

``OnlineFClassifScreener`` keeps per-class moments instead of the data. Fitting it chunk by
chunk, or on separate parts later merged, gives exactly the scores of
:func:`sklearn.feature_selection.f_classif` on all the data.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.feature_selection import f_classif

from skscreen import OnlineFClassifScreener

X, y = load_digits(return_X_y=True)
screener = OnlineFClassifScreener(k=16)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # digits has constant border pixels (F = nan)
    for start in range(0, len(X), 200):
        screener.partial_fit(X[start : start + 200], y[start : start + 200])
    f_ref, _ = f_classif(X, y)

print("max relative difference to f_classif:", np.nanmax(np.abs(screener.scores_ - f_ref) / f_ref))

# %%
# Two screeners fitted on disjoint halves, merged, equal one fit on everything.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    a = OnlineFClassifScreener(k=16).fit(X[::2], y[::2])
    b = OnlineFClassifScreener(k=16).fit(X[1::2], y[1::2])
    a.merge(b)
print("merged == streamed:", np.allclose(a.scores_, screener.scores_, equal_nan=True))

# %%
# The selected pixels: the F-score map and the 16 kept pixels.
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
axes[0].imshow(np.nan_to_num(screener.scores_).reshape(8, 8))
axes[0].set_title("F-score per pixel")
axes[1].imshow(screener.get_support().reshape(8, 8))
axes[1].set_title("16 pixels kept")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()
