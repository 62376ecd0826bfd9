"""
Figures from a run's metrics file (reads {out_dir}/metrics.npz only; recomputes nothing).

    python plot_figures.py --out_dir=out/cpu/main

Writes into fig_dir: fig3.png/.pdf (three checkpoints picked as phases A, B, C: 5x5 samples with the true
centres as red dots above the 3D UMAP of layer 4 coloured by true mu_x) and curves.png/.pdf (accuracy joint/x/y,
R^2 x/y, and the failure-mode fractions against training step; the per-run view behind the paper's Fig. 5).
Phase rule (Fig. 3): C = the (latest) checkpoint with the best accuracy; A = the checkpoint before C with the most
failed samples (no contour, several contours, or a canvas-filling one); B = the checkpoint between A and C
with the largest (fraction of proper single bumps) - (accuracy): one bump, in the wrong place.
"""
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

from configurator import configure, check, load_npz, fail

# -----------------------------------------------------------------------------
out_dir = 'out/run'      # run folder holding metrics.npz
fig_dir = 'figures'      # where the figures go
split = 'id'             # which evaluation set to plot: 'id' or 'ood'
dpi = 110                # PNG resolution
# -----------------------------------------------------------------------------
STYLE = {'font.size': 8, 'axes.titlesize': 8, 'figure.dpi': 110, 'savefig.bbox': 'tight'}
CMAP = 'viridis'


def pick_phases(m):
    """Indices (A, B, C) of the rows of one split, by the rule in the module docstring."""
    n = m['n_none'] + m['n_one'] + m['n_many']
    failed = (m['n_none'] + m['n_many'] + m['n_fill']) / n
    single = (m['n_one'] - m['n_fill']) / n
    c = len(m['acc']) - 1 - int(np.argmax(m['acc'][::-1]))  # the latest of equally good checkpoints
    a = int(np.argmax(failed[:c + 1]))
    b = a + int(np.argmax((single - m['acc'])[a:c + 1]))
    return a, b, c


def sample_grid(ax_grid, images, labels):
    """A 5x5 grid of samples (the data's 0..255 grey levels) with the true centres as red dots."""
    for k, ax in enumerate(ax_grid):
        ax.imshow(images[k], cmap='gray', vmin=0, vmax=255)
        ax.plot(labels[k, 0] - 1, labels[k, 1] - 1, 'r.', ms=3)  # 1-based pixel centres -> imshow's 0-based
        ax.set_axis_off()


def umap_scatter(ax, emb, mu_x, title):
    ax.scatter(emb[:, 0], emb[:, 1], emb[:, 2], c=mu_x, cmap=CMAP, s=3)
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])


def save(fig, name):
    os.makedirs(fig_dir, exist_ok=True)
    for ext in ('png', 'pdf'):
        fig.savefig(os.path.join(fig_dir, f'{name}.{ext}'), dpi=dpi)
    plt.close(fig)
    print(f"wrote {os.path.join(fig_dir, name)}.png/.pdf")


def fig3(m):
    fig = plt.figure(figsize=(9, 6.2))
    outer = fig.add_gridspec(2, 3, height_ratios=[1, 1])
    for col, (phase, i) in enumerate(zip('ABC', pick_phases(m))):
        inner = outer[0, col].subgridspec(5, 5, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[r, c]) for r in range(5) for c in range(5)], m['examples'][i], m['labels'][i])
        ax = fig.add_subplot(outer[1, col], projection='3d')
        umap_scatter(ax, m['emb'][i], m['labels'][i][:, 0],
                     f"phase {phase}: step {m['step'][i]}\nacc {m['acc'][i]:.2f}, R$^2$ {m['r2'][i]:.2f}")
    save(fig, 'fig3')


def curves(m):
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for k, style in (('acc', 'k-'), ('acc_x', 'C0--'), ('acc_y', 'C1--'), ('oracle_acc', 'k:')):
        axes[0].plot(m['step'], m[k], style, label=k)
    for k, style in (('r2_x', 'C0-'), ('r2_y', 'C1-'), ('r2', 'k-')):
        axes[1].plot(m['step'], m[k], style, label=k)
    n = m['n_none'] + m['n_one'] + m['n_many']
    for k, v in (('no bump', m['n_none']), ('one bump', m['n_one'] - m['n_fill']), ('several', m['n_many']), ('canvas-filling', m['n_fill'])):
        axes[2].plot(m['step'], v / n, label=k)
    for ax, title in zip(axes, ('accuracy (Eq. 1)', 'R$^2$ of UMAP-3D of layer 4', 'failure modes')):
        ax.set_title(title), ax.set_xlabel('training step'), ax.set_ylim(-0.02, 1.02), ax.legend(fontsize=6)
    save(fig, 'curves')


if __name__ == '__main__':
    config = configure(globals())
    check(split in ('id', 'ood'), 'split', split, "'id' or 'ood'")
    check(type(dpi) is int and dpi > 0, 'dpi', dpi, 'a positive integer')
    plt.rcParams.update(STYLE)
    m = load_npz(os.path.join(out_dir, 'metrics.npz'), 'analyze.py', keys=('step', 'split', 'acc', 'emb', 'examples'))
    rows = m['split'] == split
    if not rows.any():
        fail(f"bad setting split={split!r}: {out_dir}/metrics.npz holds {sorted(set(m['split']))}")
    m = {k: v[rows] for k, v in m.items() if k != 'config'}
    if len(m['step']) < 3:
        fail(f"{out_dir}/metrics.npz has {len(m['step'])} checkpoints; Fig. 3 needs at least 3 (lower ckpt_every)")
    fig3(m)
    curves(m)
