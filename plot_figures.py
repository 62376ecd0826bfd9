"""
Figures 3, 4, 5, 8, 9, the training loss (fig_loss) and the claims table from a sweep (reads the runs' metrics.npz
and loss.csv, and the committed metrics.csv beside the claims; recomputes nothing
beyond summary statistics of those metrics).

    python plot_figures.py --sweep_dir=out/cpu --fig_dir=figures/cpu --claims=results/cpu/claims.md

A run's role comes from its data settings: dx = dy, no hole, sigma = fig4_sigma -> Fig. 4; dx = dy in sigma_incs,
no hole -> Fig. 8 (one row per increment); dx != dy -> Fig. 5; a hole -> Fig. 9; the Fig. 4 run with increment
fig3_d -> Fig. 3. Of several seeds of one setting, the figures and claims use the one with the best final accuracy
(the claims file lists every run and marks the chosen seeds).
The phase rule (Fig. 3, claim C1) and the claims live in claims.py.
"""
import csv
import glob
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

from artifacts import load_npz
from bumps import overlap
import prereg
from claims import all_claims, failure_fractions, fig3_picks, phase_labels, write_claims
from configurator import configure, check, fail

# -----------------------------------------------------------------------------
sweep_dir = 'out/paper'        # folder of run folders, each holding a metrics.npz
fig_dir = 'figures'            # where fig3..fig9 .png/.pdf go
claims = 'results/claims.md'   # the claims table
fig3_d = 1.0                   # increment of the sigma = fig4_sigma run shown in Fig. 3
fig4_sigma = 1.0               # sigma of the Fig. 4 runs
sigma_incs = '0.1,0.5,1.0'     # increments that get a row in Fig. 8
acc_threshold = 0.9            # "learned" (phase C, C3, C5, C6) = accuracy >= acc_threshold x the oracle accuracy
probe_c = 0.9                  # phase C also needs probe R^2 >= probe_c (ordered manifold; README "Phases")
trust_c = 0.9                  # ... and trustworthiness >= trust_c
dim_b = 8.0                    # phase B: TwoNN dimension of layer 4 <= dim_b (quasi-2D; README "Phases"); above: phase A
dpi = 110                      # PNG resolution
# -----------------------------------------------------------------------------
RUN_SETTINGS = ('width', 'attn_res', 'pe_dim', 'batch_size', 'lr', 'warmup', 'lr_decay', 'ema', 'steps')  # kept in metrics.csv
STYLE = {'font.size': 8, 'axes.titlesize': 8, 'figure.dpi': 110, 'savefig.bbox': 'tight'}
CMAP = 'viridis'


def load_runs(sweep_dir):
    """Every run folder with a metrics file, as dicts: settings (dx, dy, sigma, hole, seed, size) and per split rows."""
    runs = []
    for path in sorted(glob.glob(os.path.join(sweep_dir, '*', 'metrics.npz'))):
        m = load_npz(path, 'analyze.py', keys=('step', 'split', 'acc', 'emb', 'examples', 'probe_r2', 'trust', 'id_dim'))
        cfg = m.pop('config')['sample']
        data, train = cfg['data'], cfg['train']
        hole = None if data.get('hole_lo') is None else (data['hole_lo'], data['hole_hi'])
        split = {s: {k: v[m['split'] == s] for k, v in m.items()} for s in ('id', 'ood') if (m['split'] == s).any()}
        runs.append(dict(name=os.path.basename(os.path.dirname(path)), dx=data['dx'], dy=data['dy'], sigma=data['sigma'],
                         hole=hole, seed=train['seed'], size=data['size'], steps=train['steps'],
                         train={k: v for k, v in train.items() if k in RUN_SETTINGS}, **split))
    return runs


SCALARS = ('acc', 'acc_x', 'acc_y', 'oracle_acc', 'oracle_acc_x', 'oracle_acc_y', 'n_none', 'n_one', 'n_many', 'n_fill',
           'r2', 'r2_x', 'r2_y', 'umap_r2_sd', 'probe_r2', 'probe_r2_x', 'probe_r2_y', 'trust', 'id_dim', 'pca_dim',
           'trust_dm', 'knn_r2_dm', 'trust_ref', 'knn_r2_ref', 'trust_blank', 'knn_r2_blank', 'acc_core', 'oracle_core',
           'probe_ood_mae', 'probe_blank_mae', 'centre_mae')
BITS = ('ok_x', 'ok_y', 'oracle_ok_x', 'oracle_ok_y', 'single', 'core')  # per-sample booleans, hex of np.packbits in the CSV
SETTINGS = ('name', 'dx', 'dy', 'sigma', 'hole', 'seed', 'size', 'steps', 'train')


def write_metrics_csv(path, runs):
    """The committed results table: one row per run x checkpoint x split with the run's settings, every scalar
    metric and the per-sample correctness (what the claims need once the run folders are gone)."""
    rows = []
    for r in runs:
        for split in ('id', 'ood'):
            m = r.get(split)
            for i in range(len(m['step']) if m is not None else 0):
                row = {k: (json.dumps(r[k], sort_keys=True) if k in ('hole', 'train') else r[k]) for k in SETTINGS}
                row.update(split=split, step=int(m['step'][i]), n_samples=len(m['ok_x'][i]))
                row.update({k: float(m[k][i]) for k in SCALARS})
                row.update({k: np.packbits(m[k][i]).tobytes().hex() for k in BITS})
                rows.append(row)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader(), w.writerows(rows)
    os.replace(path + '.tmp', path)


def read_metrics_csv(path):
    """Runs (as load_runs gives them, without embeddings and example images) from a metrics.csv."""
    if not os.path.exists(path):
        return []
    runs = {}
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            r = runs.setdefault(row['name'], dict(name=row['name'], dx=float(row['dx']), dy=float(row['dy']),
                                                  sigma=float(row['sigma']), hole=json.loads(row['hole']), seed=int(row['seed']),
                                                  size=int(row['size']), steps=int(row['steps']), train=json.loads(row['train'])))
            m = r.setdefault(row['split'], {k: [] for k in ('step',) + SCALARS + BITS})
            m['step'].append(int(row['step']))
            for k in SCALARS:
                m[k].append(float(row[k]))
            for k in BITS:
                m[k].append(np.unpackbits(np.frombuffer(bytes.fromhex(row[k]), np.uint8))[:int(row['n_samples'])].astype(bool))
    for r in runs.values():
        r['hole'] = tuple(r['hole']) if r['hole'] else None
        for split in ('id', 'ood'):
            if split in r:
                r[split] = {k: np.array(v) for k, v in r[split].items()}
    return list(runs.values())


def best_seeds(runs):
    """One run per setting: the seed with the best final in-distribution accuracy (ties: the lowest seed)."""
    best = {}
    for r in sorted(runs, key=lambda r: r['seed']):
        key = (r['dx'], r['dy'], r['sigma'], r['hole'])
        if key not in best or r['id']['acc'][-1] > best[key]['id']['acc'][-1]:
            best[key] = r
    for r in runs:
        r['chosen'] = best[(r['dx'], r['dy'], r['sigma'], r['hole'])] is r
    return list(best.values())


def save(fig, fig_dir, name, dpi):
    os.makedirs(fig_dir, exist_ok=True)
    for ext in ('png', 'pdf'):
        fig.savefig(os.path.join(fig_dir, f'{name}.{ext}'), dpi=dpi)
    plt.close(fig)
    print(f"wrote {os.path.join(fig_dir, name)}.png/.pdf", flush=True)


# --- one helper per kind of plot ----------------------------------------------
def sample_grid(axes, images, labels, hole=None):
    """Samples (the data's 0..255 grey levels) with the true centres as red rings (1-based pixel centres -> imshow's
    0-based) and, for a hole run, the hole shaded."""
    for k, ax in enumerate(axes):
        ax.imshow(images[k], cmap='gray', vmin=0, vmax=255)
        ax.plot(labels[k, 0] - 1, labels[k, 1] - 1, 'o', mfc='none', mec='r', ms=5, mew=0.7)  # hollow: the bump stays visible
        if hole is not None:
            ax.add_patch(plt.Rectangle((hole[0] - 1, hole[0] - 1), hole[1] - hole[0], hole[1] - hole[0], color='r', alpha=0.25, lw=0))
        ax.set_xticks([]), ax.set_yticks([])  # keep the frame: a correct sample is mostly white, like the page
        for sp in ax.spines.values():
            sp.set_linewidth(0.5), sp.set_color('0.4')


def umap_scatter(ax, emb, mu_x, title):
    ax.scatter(emb[:, 0], emb[:, 1], emb[:, 2], c=mu_x, cmap=CMAP, s=3)
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])


def heatmap(ax, rows, ylabels, key, title, ylabel):
    """Metric `key` over (row setting, training step); steps are the columns of the first run."""
    steps = rows[0]['id']['step']
    grid = np.full((len(rows), len(steps)), np.nan)
    for i, r in enumerate(rows):
        n = min(len(steps), len(r['id'][key]))
        grid[i, :n] = r['id'][key][:n]
    im = ax.imshow(grid, aspect='auto', origin='lower', cmap=CMAP, vmin=0, vmax=1, interpolation='nearest')
    if grid.size <= 120:  # small sweeps: print the values too
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f'{v:.2f}', ha='center', va='center', fontsize=6, color='w' if v < 0.6 else 'k')
    every = max(1, len(steps) // 8)
    ax.set_xticks(range(0, len(steps), every), [str(int(s)) for s in steps[::every]], rotation=45)
    ax.set_yticks(range(len(rows)), ylabels)
    ax.set_xlabel('training step'), ax.set_ylabel(ylabel), ax.set_title(title)
    return im


def lines(ax, m, keys, title):
    for key, style in keys:
        ax.plot(m['step'], m[key], style, label=key)
    ax.set_title(title), ax.set_xlabel('training step'), ax.set_ylim(-0.02, 1.02), ax.legend(fontsize=6)


# --- the figures ---------------------------------------------------------------
def fig3(run, th, fig_dir, dpi):
    """Three checkpoints (phases A, B, C as the rule finds them) with samples and UMAP, and the phase of every checkpoint."""
    m = run['id']
    fig = plt.figure(figsize=(9.5, 8))
    outer = fig.add_gridspec(3, 3, height_ratios=[1, 1.1, 0.22], hspace=0.6)
    for col, (i, title) in enumerate(fig3_picks(m, th)):
        inner = outer[0, col].subgridspec(5, 5, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[r, c]) for r in range(5) for c in range(5)], m['examples'][i], m['labels'][i])
        umap_scatter(fig.add_subplot(outer[1, col], projection='3d'), m['emb'][i], m['labels'][i][:, 0],
                     f"{title}\nacc {m['acc'][i]:.2f} (oracle {m['oracle_acc'][i]:.2f}), UMAP R$^2$ {m['r2'][i]:.2f}\n"
                     f"probe R$^2$ {m['probe_r2'][i]:.2f}, trust {m['trust'][i]:.2f}, TwoNN dim {m['id_dim'][i]:.1f}")
    ax = fig.add_subplot(outer[2, :])
    labels, (failed, wrong) = phase_labels(m, th), failure_fractions(m)
    colors = {'A': '0.75', 'B': 'C1', 'C': 'C2'}
    ax.bar(range(len(labels)), 1, color=[colors[p] for p in labels], width=0.95)
    for j, p in enumerate(labels):
        ax.text(j, 0.5, p, ha='center', va='center', fontsize=7)
    ax.plot(range(len(labels)), m['acc'], 'k.-', lw=0.8, ms=3, label='acc')
    ax.plot(range(len(labels)), wrong, 'C3.-', lw=0.8, ms=3, label='single bump, wrong place')
    ax.set_xticks(range(len(labels)), [str(int(s)) for s in m['step']], rotation=45, fontsize=6)
    ax.set_yticks([]), ax.set_xlim(-0.5, len(labels) - 0.5), ax.set_ylim(0, 1)
    ax.set_xlabel('training step: phase by the rule (grey A, orange B, green C)')
    ax.legend(fontsize=6, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"Fig. 3: {run['name']} (UMAP coloured by true $\\mu_x$)")
    save(fig, fig_dir, 'fig3', dpi)


def phase_diagram(name, rows_per_panel, param, ylabel, title, fig_dir, dpi):
    """Figs. 4 and 8: heatmaps of accuracy, the paper's mean UMAP R^2 and the probe R^2, one row per group of runs."""
    fig, axes = plt.subplots(len(rows_per_panel), 3, figsize=(13, 0.6 + 2.6 * len(rows_per_panel)), squeeze=False,
                             constrained_layout=True)
    for (label, rows), (ax_acc, ax_r2, ax_probe) in zip(rows_per_panel, axes):
        ylabels = [f"{r[param]:g} (seed {r['seed']})" for r in rows]  # the best seed of each setting
        sd = max(float(np.max(r['id']['umap_r2_sd'])) for r in rows)
        heatmap(ax_acc, rows, ylabels, 'acc', f"{label}accuracy", ylabel)
        heatmap(ax_r2, rows, ylabels, 'r2', f"{label}mean R$^2$ (UMAP; sd over UMAP seeds <= {sd:.2f})", ylabel)
        im = heatmap(ax_probe, rows, ylabels, 'probe_r2', f"{label}probe R$^2$ (ridge, 5-fold, on layer 4)", ylabel)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    fig.suptitle(title)
    save(fig, fig_dir, name, dpi)


def fig_loss(sweep_dir, fig3_name, fig_dir, dpi):
    """The training loss of every run in the sweep (train.py's loss.csv), and for the Fig. 3 run the loss per quarter
    of t (q0: t < T/4, the least noisy). Returns False when no run has a loss.csv."""
    logs = {os.path.basename(os.path.dirname(p)): np.genfromtxt(p, delimiter=',', names=True)
            for p in sorted(glob.glob(os.path.join(sweep_dir, '*', 'loss.csv')))}
    logs = {k: v for k, v in logs.items() if v.size > 1}
    if not logs:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for name, v in logs.items():
        axes[0].plot(v['step'], v['loss'], lw=0.8, label=name.replace('_seed', ' seed '))
    axes[0].set_yscale('log'), axes[0].set_xlabel('training step'), axes[0].set_ylabel('loss (mean per row of loss.csv)')
    axes[0].set_title('training loss, every run'), axes[0].legend(fontsize=5)
    name = fig3_name if fig3_name in logs else next(iter(logs))
    for q in range(4):
        axes[1].plot(logs[name]['step'], logs[name][f'loss_q{q}'], lw=0.8, label=f't in [{q}T/4, {q + 1}T/4)')
    axes[1].set_yscale('log'), axes[1].set_xlabel('training step'), axes[1].set_ylabel('loss')
    axes[1].set_title(f"{name}: loss per quarter of t"), axes[1].legend(fontsize=6)
    save(fig, fig_dir, 'fig_loss', dpi)
    return True


def fig7b(fig_dir, dpi, size=32):
    """App. A.5, Fig. 7b: the normalised L2 norm of the overlap of neighbouring bumps against the increment, one
    curve per sigma (bumps.overlap, on the renderer that draws the training images; no runs needed)."""
    incs = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    fig, ax = plt.subplots(figsize=(4, 2.8))
    for k, sigma in enumerate((0.2, 0.3, 0.4, 0.5, 0.7, 1.0)):  # at 0.1 most off-centre bumps render blank: undefined
        ax.plot(incs, [overlap(d, sigma, size) for d in incs], 'o-', ms=2, lw=0.8, color=plt.get_cmap(CMAP)(k / 5), label=f'sigma = {sigma:g}')
    ax.set_xlabel('increment d'), ax.set_ylabel('||sqrt(a b)||_2 / ||a||_2'), ax.set_ylim(-0.02, 1.05)
    ax.set_title('Fig. 7b: overlap of neighbouring bumps'), ax.legend(fontsize=6)
    save(fig, fig_dir, 'fig7b', dpi)


def fig5(runs, fig_dir, dpi):
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.2), squeeze=False, constrained_layout=True)
    for ax, r in zip(axes[0], runs):
        lines(ax, r['id'], (('acc', 'k-'), ('acc_x', 'C0-'), ('acc_y', 'C1-'), ('r2_x', 'C0--'), ('r2_y', 'C1--')),
              f"dx={r['dx']:g}, dy={r['dy']:g} (seed {r['seed']})")
    fig.suptitle('Fig. 5: imbalanced increments')
    save(fig, fig_dir, 'fig5', dpi)


def fig9(runs, fig_dir, dpi):
    fig = plt.figure(figsize=(9, 3.2 * len(runs)))
    outer = fig.add_gridspec(len(runs), 2, width_ratios=[1, 1.6], hspace=0.4)
    for row, r in enumerate(runs):
        ood, idd = r['ood'], r['id']
        inner = outer[row, 0].subgridspec(3, 3, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[i, j]) for i in range(3) for j in range(3)], ood['examples'][-1], ood['labels'][-1], r['hole'])
        ax = fig.add_subplot(outer[row, 1])
        for m, split, style in ((idd, 'ID', '-'), (ood, 'OOD', '--')):
            ax.plot(m['step'], m['acc'], 'k' + style, label=f'acc {split}')
            ax.plot(m['step'], m['r2'], 'C2' + style, label=f'R$^2$ {split}')
        ax.set_title(f"hole [{r['hole'][0]:g}, {r['hole'][1]:g}], d={r['dx']:g} (seed {r['seed']}); "
                     f"left: OOD samples at step {ood['step'][-1]}")
        ax.set_xlabel('training step'), ax.set_ylim(-0.02, 1.02), ax.legend(fontsize=6)
    fig.suptitle('Fig. 9: a hole in the training data (red: the hole, not trained on)')
    save(fig, fig_dir, 'fig9', dpi)


if __name__ == '__main__':
    config = configure(globals())
    check(type(dpi) is int and dpi > 0, 'dpi', dpi, 'a positive integer')
    check(0 < acc_threshold <= 1, 'acc_threshold', acc_threshold, 'a number in (0, 1]')
    check(probe_c <= 1 and trust_c <= 1, 'probe_c/trust_c', (probe_c, trust_c), 'numbers <= 1')
    check(dim_b > 0, 'dim_b', dim_b, 'a number > 0')
    th = dict(frac=acc_threshold, probe_c=probe_c, trust_c=trust_c, dim_b=dim_b)
    try:
        incs8 = [float(s) for s in str(sigma_incs).split(',') if s.strip()]
    except ValueError:
        fail(f"bad setting sigma_incs={sigma_incs!r}: allowed is comma-separated increments, e.g. '0.1,0.5,1.0'")
    plt.rcParams.update(STYLE)
    runs = load_runs(sweep_dir)
    table = os.path.join(os.path.dirname(claims) or '.', 'metrics.csv')  # committed: runs of earlier sessions live on here
    names = {r['name'] for r in runs}
    kept = [r for r in read_metrics_csv(table) if r['name'] not in names]
    if kept:
        print(f"{len(kept)} run(s) from {table} beside the {len(runs)} in {sweep_dir}: {', '.join(r['name'] for r in kept)}")
        other = {json.dumps(r['train'], sort_keys=True) for r in runs + kept}
        if len(other) > 1:
            print(f"note: the runs were trained with {len(other)} different settings (the train column of {table})")
    runs += kept
    if not runs:
        fail(f"no run with a metrics.npz under {sweep_dir}: run the sweep first (bash run_all.sh)")
    write_metrics_csv(table, runs)
    chosen = best_seeds(runs)
    square_all = sorted((r for r in runs if r['dx'] == r['dy'] and r['hole'] is None), key=lambda r: (r['dx'], r['sigma'], r['seed']))
    pre = prereg.all_claims([r for r in square_all if r['dx'] == fig3_d and r['sigma'] == fig4_sigma],
                            [r for r in square_all if r['sigma'] == fig4_sigma],
                            [r for r in runs if r['dx'] != r['dy'] and r['hole'] is None],
                            [(f"d={d:g}: ", [r for r in square_all if r['dx'] == d]) for d in incs8],
                            [r for r in runs if r['hole'] is not None and 'ood' in r])
    chosen = [r for r in chosen if 'emb' in r['id']]  # figures need the run folder's embeddings and images
    square = sorted((r for r in chosen if r['dx'] == r['dy'] and r['hole'] is None), key=lambda r: (r['dx'], r['sigma']))
    f4 = [r for r in square if r['sigma'] == fig4_sigma]
    f3 = next((r for r in f4 if r['dx'] == fig3_d), None)
    f8 = [(f"d={d:g}: ", [r for r in square if r['dx'] == d]) for d in incs8]
    f8 = [(label, rs) for label, rs in f8 if rs]
    f5 = sorted((r for r in chosen if r['dx'] != r['dy'] and r['hole'] is None), key=lambda r: (r['dy'], r['dx']), reverse=True)
    f9 = sorted((r for r in chosen if r['hole'] is not None and 'ood' in r), key=lambda r: r['hole'][1] - r['hole'][0])
    for name, ok in (('fig3', f3 and len(f3['id']['step']) >= 3), ('fig4', f4), ('fig5', f5), ('fig8', f8), ('fig9', f9)):
        if not ok:
            print(f"{name}: no suitable runs in {sweep_dir} (see the module docstring for which runs it needs), skipped")
    if f3 and len(f3['id']['step']) >= 3:
        fig3(f3, th, fig_dir, dpi)
    if f4:
        phase_diagram('fig4', [('', f4)], 'dx', 'increment d (= dx = dy)', f'Fig. 4: increment x training step (sigma = {fig4_sigma:g})',
                      fig_dir, dpi)
    if f5:
        fig5(f5, fig_dir, dpi)
    if f8:
        phase_diagram('fig8', f8, 'sigma', 'sigma', 'Fig. 8: sigma x training step, one row per increment', fig_dir, dpi)
    if f9:
        fig9(f9, fig_dir, dpi)
    fig7b(fig_dir, dpi)
    if not fig_loss(sweep_dir, f3['name'] if f3 else '', fig_dir, dpi):
        print(f"fig_loss: no loss.csv in the runs of {sweep_dir} (runs trained before train.py wrote it), skipped")
    rows = all_claims(f3 if f3 and len(f3['id']['step']) >= 2 else None, f4, f5, f8, f9, th)
    write_claims(claims, sweep_dir, pre, rows, runs, th)
    print(f"wrote {claims} and {table}\n\npre-registered claims (verdicts; statistics in {claims}):")
    for c, _, seeds, v in pre:
        print(f"  {c}: {v} [{seeds}]")
    print("earlier rule (one seed per setting):")
    for c, _, v in rows:
        print(f"  {c}: {v}")
