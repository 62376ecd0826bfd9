"""
Figures 3, 4, 5, 8, 9 and the claims table from a sweep (reads {sweep_dir}/*/metrics.npz only; recomputes nothing
beyond summary statistics of those metrics).

    python plot_figures.py --sweep_dir=out/cpu --fig_dir=figures/cpu --claims=results/cpu/claims.md

A run's role comes from its data settings: dx = dy, no hole, sigma = fig4_sigma -> Fig. 4; dx = dy in sigma_incs,
no hole -> Fig. 8 (one row per increment); dx != dy -> Fig. 5; a hole -> Fig. 9; the Fig. 4 run with increment
fig3_d -> Fig. 3. Of several seeds of one setting, the figures and claims use the one with the best final accuracy
(the claims file lists every run and marks the chosen seeds).
Phase rule (Fig. 3, claim C1): C = the (latest) checkpoint with the best accuracy; A = the checkpoint up to C with
the most failed samples (no contour, several contours, or a canvas-filling one); B = the checkpoint from A to C with
the largest (fraction of proper single bumps) - (accuracy), i.e. the most single bumps in the wrong place.
"""
import glob
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import pearsonr, spearmanr

from configurator import configure, check, load_npz, fail

# -----------------------------------------------------------------------------
sweep_dir = 'out/paper'        # folder of run folders, each holding a metrics.npz
fig_dir = 'figures'            # where fig3..fig9 .png/.pdf go
claims = 'results/claims.md'   # the claims table
fig3_d = 1.0                   # increment of the sigma = fig4_sigma run shown in Fig. 3
fig4_sigma = 1.0               # sigma of the Fig. 4 runs
sigma_incs = '0.1,0.5,1.0'     # increments that get a row in Fig. 8
acc_threshold = 0.9            # C1/C3/C5: "learned" means accuracy >= acc_threshold x the oracle accuracy (see README)
dpi = 110                      # PNG resolution
# -----------------------------------------------------------------------------
STYLE = {'font.size': 8, 'axes.titlesize': 8, 'figure.dpi': 110, 'savefig.bbox': 'tight'}
CMAP = 'viridis'


def load_runs(sweep_dir):
    """Every run folder with a metrics file, as dicts: settings (dx, dy, sigma, hole, seed, size) and per split rows."""
    runs = []
    for path in sorted(glob.glob(os.path.join(sweep_dir, '*', 'metrics.npz'))):
        m = load_npz(path, 'analyze.py', keys=('step', 'split', 'acc', 'emb', 'examples'))
        cfg = m.pop('config')['sample']
        data, train = cfg['data'], cfg['train']
        hole = None if data.get('hole_lo') is None else (data['hole_lo'], data['hole_hi'])
        split = {s: {k: v[m['split'] == s] for k, v in m.items()} for s in ('id', 'ood') if (m['split'] == s).any()}
        runs.append(dict(name=os.path.basename(os.path.dirname(path)), dx=data['dx'], dy=data['dy'], sigma=data['sigma'],
                         hole=hole, seed=train['seed'], size=data['size'], steps=train['steps'], **split))
    return runs


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


def phases(m):
    """Indices (A, B, C) of the checkpoints of one split, by the rule in the module docstring, and the fractions."""
    n = m['n_none'] + m['n_one'] + m['n_many']
    failed = (m['n_none'] + m['n_many'] + m['n_fill']) / n
    wrong_single = (m['n_one'] - m['n_fill']) / n - m['acc']
    c = len(m['acc']) - 1 - int(np.argmax(m['acc'][::-1]))
    a = int(np.argmax(failed[:c + 1]))
    b = a + int(np.argmax(wrong_single[a:c + 1]))
    return (a, b, c), failed, wrong_single


def steps_to(m, frac):
    """First step whose accuracy reaches frac x the oracle accuracy (inf when none does)."""
    hit = np.nonzero(m['acc'] >= frac * m['oracle_acc'])[0]
    return float(m['step'][hit[0]]) if len(hit) else np.inf


def save(fig, name):
    os.makedirs(fig_dir, exist_ok=True)
    for ext in ('png', 'pdf'):
        fig.savefig(os.path.join(fig_dir, f'{name}.{ext}'), dpi=dpi)
    plt.close(fig)
    print(f"wrote {os.path.join(fig_dir, name)}.png/.pdf")


# --- one helper per kind of plot ----------------------------------------------
def sample_grid(axes, images, labels, hole=None):
    """Samples (the data's 0..255 grey levels) with the true centres as red rings (1-based pixel centres -> imshow's
    0-based) and, for a hole run, the hole shaded."""
    for k, ax in enumerate(axes):
        ax.imshow(images[k], cmap='gray', vmin=0, vmax=255)
        ax.plot(labels[k, 0] - 1, labels[k, 1] - 1, 'o', mfc='none', mec='r', ms=5, mew=0.7)  # hollow: the bump stays visible
        if hole is not None:
            ax.add_patch(plt.Rectangle((hole[0] - 1, hole[0] - 1), hole[1] - hole[0], hole[1] - hole[0], color='r', alpha=0.25, lw=0))
        ax.set_axis_off()


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
def fig3(run):
    m = run['id']
    fig = plt.figure(figsize=(9, 6.2))
    outer = fig.add_gridspec(2, 3)
    for col, (phase, i) in enumerate(zip('ABC', phases(m)[0])):
        inner = outer[0, col].subgridspec(5, 5, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[r, c]) for r in range(5) for c in range(5)], m['examples'][i], m['labels'][i])
        umap_scatter(fig.add_subplot(outer[1, col], projection='3d'), m['emb'][i], m['labels'][i][:, 0],
                     f"phase {phase}: step {m['step'][i]}\nacc {m['acc'][i]:.2f}, R$^2$ {m['r2'][i]:.2f}")
    fig.suptitle(f"Fig. 3: {run['name']} (UMAP coloured by true $\\mu_x$)")
    save(fig, 'fig3')


def phase_diagram(name, rows_per_panel, param, ylabel, title):
    """Figs. 4 and 8: accuracy and mean R^2 heatmaps, one row of two panels per group of runs."""
    fig, axes = plt.subplots(len(rows_per_panel), 2, figsize=(9, 0.6 + 2.6 * len(rows_per_panel)), squeeze=False,
                             constrained_layout=True)
    for (label, rows), (ax_acc, ax_r2) in zip(rows_per_panel, axes):
        ylabels = [f"{r[param]:g} (seed {r['seed']})" for r in rows]  # the best seed of each setting
        heatmap(ax_acc, rows, ylabels, 'acc', f"{label}accuracy", ylabel)
        im = heatmap(ax_r2, rows, ylabels, 'r2', f"{label}mean R$^2$", ylabel)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    fig.suptitle(title)
    save(fig, name)


def fig5(runs):
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.2), squeeze=False, constrained_layout=True)
    for ax, r in zip(axes[0], runs):
        lines(ax, r['id'], (('acc', 'k-'), ('acc_x', 'C0-'), ('acc_y', 'C1-'), ('r2_x', 'C0--'), ('r2_y', 'C1--')),
              f"dx={r['dx']:g}, dy={r['dy']:g} (seed {r['seed']})")
    fig.suptitle('Fig. 5: imbalanced increments')
    save(fig, 'fig5')


def fig9(runs):
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
    save(fig, 'fig9')


# --- the claims ----------------------------------------------------------------
def verdict(ok, bad=None):
    return 'confirmed' if ok else ('contradicted' if bad else 'not confirmed')


def not_reached(runs, by_mean_acc):
    """Verdict when no run reached the threshold: judged by mean accuracy if some run learned at all."""
    if max(r['id']['acc'][-1] for r in runs) < 0.5:
        return 'not testable at this scale (no run reached the threshold or even final accuracy 0.5)'
    return f'not testable by steps (threshold not reached at this scale); by mean accuracy: {by_mean_acc}'


def write_claims(runs, f3, f4, f8, f5, f9):
    rows = []
    if f3:  # C1
        m = f3['id']
        (a, b, c), failed, wrong = phases(m)
        learned = m['acc'][c] >= acc_threshold * m['oracle_acc'][c]
        ok = a < b < c and failed[a] >= 0.5 and wrong[b] > failed[b] and learned
        rows.append(('C1 phases A -> B -> C in order', f"{f3['name']}: A step {m['step'][a]} (failed {failed[a]:.2f}), "
                     f"B step {m['step'][b]} (one bump in the wrong place {wrong[b]:.2f}, failed {failed[b]:.2f}), "
                     f"C step {m['step'][c]} (acc {m['acc'][c]:.2f}, oracle {m['oracle_acc'][c]:.2f}; R^2 A/B/C "
                     f"{m['r2'][a]:.2f}/{m['r2'][b]:.2f}/{m['r2'][c]:.2f})",
                     verdict(ok) + ('' if learned else ' (phase C not reached: accuracy below the threshold)')))
    if len(f4) >= 2:  # C2, C3
        acc = np.concatenate([r['id']['acc'] for r in f4])
        r2 = np.concatenate([r['id']['r2'] for r in f4])
        rho, p = spearmanr(acc, r2)
        rows.append(('C2 accuracy tracks R^2 across (increment, step) cells', f"Spearman rho {rho:.2f} (p {p:.1g}, {len(acc)} cells)",
                     verdict(rho >= 0.5 and p < 0.05, rho < 0 and p < 0.05)))
        incs = [r['dx'] for r in f4]
        reach = [steps_to(r['id'], acc_threshold) for r in f4]
        auc = [float(np.mean(r['id']['acc'])) for r in f4]
        stat = ', '.join(f"d={d:g}: {'never' if np.isinf(s) else int(s)}" for d, s in zip(incs, reach))
        if np.isfinite(reach).sum() >= 1 and len(set(reach)) > 1:
            rho, _ = spearmanr(incs, reach)  # never-reached counts as slowest (ties)
            rows.append(('C3 smaller increments reach the threshold in fewer steps', f"steps to acc >= {acc_threshold:g} x oracle: {stat}; "
                         f"Spearman(increment, steps) {rho:.2f}", verdict(rho >= 0.5, rho <= -0.5)))
        else:
            rho, _ = spearmanr(incs, auc)
            rows.append(('C3 smaller increments reach the threshold in fewer steps', f"steps to acc >= {acc_threshold:g} x oracle: {stat}; "
                         f"no ordering by that, so mean accuracy over training: " + ', '.join(f"d={d:g}: {v:.2f}" for d, v in zip(incs, auc))
                         + f"; Spearman(increment, mean acc) {rho:.2f}", not_reached(f4, 'no clear difference (range < 0.05)'
                         if np.ptp(auc) < 0.05 else 'smaller increments learn faster' if rho <= -0.5 else 'smaller increments do not learn faster')))
    if f5:  # C4
        parts, ok = [], True
        for r in f5:
            m = r['id']
            corr = pearsonr(m['r2_x'], m['r2_y'])[0] if np.ptp(m['r2_x']) > 0 and np.ptp(m['r2_y']) > 0 else np.nan
            gap = float(np.mean(m['acc_y'] - m['acc_x']))
            ok &= bool(corr >= 0.8) and gap >= -0.02
            parts.append(f"dx={r['dx']:g}, dy={r['dy']:g}: Pearson(R^2_x, R^2_y) {corr:.2f}, mean(acc_y - acc_x) {gap:+.3f}")
        rows.append(('C4 imbalanced increments: R^2_x and R^2_y coupled, y accuracy not below x', '; '.join(parts), verdict(ok)))
    if f8:  # C5
        parts, ok, reached_any = [], True, False
        for label, rs in f8:
            reach = np.array([steps_to(r['id'], acc_threshold) for r in rs])
            auc = np.array([np.mean(r['id']['acc']) for r in rs])
            fin = reach[np.isfinite(reach)]
            reached_any |= len(fin) > 0
            if len(fin) == len(reach) and len(fin):
                ok &= fin.max() <= 2 * fin.min()
            elif len(fin):
                ok = False  # some sigmas learned, some never did: a strong effect
            else:
                ok &= np.ptp(auc) <= 0.15
            parts.append(f"{label}steps " + ', '.join(f"s={r['sigma']:g}: {'never' if np.isinf(s) else int(s)}" for r, s in zip(rs, reach))
                         + f" (mean acc range {np.ptp(auc):.2f})")
        rows.append(('C5 sigma has no strong effect on steps to the threshold', '; '.join(parts), verdict(ok) if reached_any else
                     not_reached([r for _, rs in f8 for r in rs], 'mean accuracy range <= 0.15 in every row' if ok else 'mean accuracy range > 0.15')))
    if f9:  # C6
        parts, ok, learned = [], True, True
        for r in f9:
            i, o = r['id'], r['ood']
            learned &= i['acc'][-1] >= 0.5
            ok &= o['acc'][-1] >= i['acc'][-1] - 0.1
            parts.append(f"hole [{r['hole'][0]:g}, {r['hole'][1]:g}]: final acc ID {i['acc'][-1]:.2f} (oracle {i['oracle_acc'][-1]:.2f}), "
                         f"OOD {o['acc'][-1]:.2f} (oracle {o['oracle_acc'][-1]:.2f}); R^2 ID {i['r2'][-1]:.2f}, OOD {o['r2'][-1]:.2f}")
        rows.append(('C6 out-of-distribution accuracy in the hole close to in-distribution (within 0.1)', '; '.join(parts),
                     verdict(ok and learned) + ('' if learned else ' (not testable: in-distribution accuracy < 0.5)')))
    os.makedirs(os.path.dirname(claims) or '.', exist_ok=True)
    with open(claims + '.tmp', 'w') as f:
        f.write(f"# Claims of arXiv 2402.03305 against the runs in `{sweep_dir}`\n\nWritten by `python plot_figures.py "
                f"--sweep_dir={sweep_dir}` from the runs' metrics.npz. Each setting uses its seed with the best final accuracy. "
                f"'Learned' means accuracy >= {acc_threshold:g} x the oracle accuracy (Alg. 1 on clean renders of the same labels).\n\n"
                "| claim | statistic | verdict |\n|---|---|---|\n")
        f.writelines(f"| {c} | {s} | {v} |\n" for c, s, v in rows)
        f.write("\n## Runs\n\n| run | seed | steps | canvas | final acc | oracle | final R^2 | used |\n|---|---|---|---|---|---|---|---|\n")
        f.writelines(f"| {r['name']} | {r['seed']} | {r['id']['step'][-1]} | {r['size']} | {r['id']['acc'][-1]:.3f} | "
                     f"{r['id']['oracle_acc'][-1]:.3f} | {r['id']['r2'][-1]:.3f} | {'yes' if r['chosen'] else ''} |\n" for r in runs)
    os.replace(claims + '.tmp', claims)
    print(f"wrote {claims}")
    for c, s, v in rows:
        print(f"{c}: {v}\n    {s}")


if __name__ == '__main__':
    config = configure(globals())
    check(type(dpi) is int and dpi > 0, 'dpi', dpi, 'a positive integer')
    check(0 < acc_threshold <= 1, 'acc_threshold', acc_threshold, 'a number in (0, 1]')
    try:
        incs8 = [float(s) for s in str(sigma_incs).split(',') if s.strip()]
    except ValueError:
        fail(f"bad setting sigma_incs={sigma_incs!r}: allowed is comma-separated increments, e.g. '0.1,0.5,1.0'")
    plt.rcParams.update(STYLE)
    runs = load_runs(sweep_dir)
    if not runs:
        fail(f"no run with a metrics.npz under {sweep_dir}: run the sweep first (bash run_all.sh)")
    chosen = best_seeds(runs)
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
        fig3(f3)
    if f4:
        phase_diagram('fig4', [('', f4)], 'dx', 'increment d (= dx = dy)', f'Fig. 4: increment x training step (sigma = {fig4_sigma:g})')
    if f5:
        fig5(f5)
    if f8:
        phase_diagram('fig8', f8, 'sigma', 'sigma', 'Fig. 8: sigma x training step, one row per increment')
    if f9:
        fig9(f9)
    write_claims(runs, f3, f4, f8, f5, f9)
