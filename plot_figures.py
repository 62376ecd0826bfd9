"""
Figures 3, 4, 5, 8, 9, the training loss (fig_loss) and the claims table from a sweep (reads the runs' metrics.npz
and loss.csv, and the committed metrics.csv beside the claims; recomputes nothing
beyond summary statistics of those metrics).

    python plot_figures.py --sweep_dir=out/cpu --fig_dir=figures/cpu --claims=results/cpu/claims.md
    python plot_figures.py --run=out/quick/dx1.0_dy1.0_sigma1.0_seed0 --step=8000   # look at one run's samples

A run's role comes from its data settings: dx = dy, no hole, sigma = fig4_sigma -> Fig. 4; dx = dy in sigma_incs,
no hole -> Fig. 8 (one row per increment); dx != dy -> Fig. 5; a hole -> Fig. 9; the Fig. 4 run with increment
fig3_d -> Fig. 3. Figs. 4 and 8 draw every seed (also those kept only in metrics.csv); Figs. 3, 5 and 9, which show
samples and embeddings, the seed with the best final accuracy among the runs on disk.
Fig. 3's phases and the claims are prereg.py's (v1, by behaviour); the earlier rule (claims.py) was retired, its last
verdicts are in results/NOTES.md section 19.
"""
import glob
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

import prereg
import prereg2
import tables
from artifacts import load_npz
from bumps import in_lesion, overlap
from configurator import configure, check, fail

# -----------------------------------------------------------------------------
sweep_dir = 'out/paper'        # folder of run folders, each holding a metrics.npz
fig_dir = 'figures'            # where fig3..fig9 .png/.pdf go
results = 'results/cpu'        # the tables report.py wrote (metrics.csv; probes.csv, ladder.csv): runs kept there are drawn too
fig3_d = 1.0                   # increment of the sigma = fig4_sigma run shown in Fig. 3
fig4_sigma = 1.0               # sigma of the Fig. 4 runs
sigma_incs = '0.1,0.5,1.0'     # increments that get a row in Fig. 8
dpi = 110                      # PNG resolution
formats = 'png,pdf'            # the files each figure is saved as ('png' alone: a third faster)
study = False                  # also the where-before-how figures (where_<run>.png, onsets.png; needs the probes)
elicit = False                 # also v3's ladder.png (needs report.py --elicit=True's ladder.csv)
followup = False               # also the follow-up's figures (needs report.py --followup=True's tables)
widths = ''                    # instead: comma-separated results folders whose d = 1 runs go into {fig_dir}/widths.png
# a look at one run's samples instead of a sweep's figures
run = ''                       # a run folder: draw its samples at `step` with Alg. 1's verdict per sample, and stop
step = -1                      # the checkpoint step of those samples (-1 = the last one sampled)
n_show = 25                    # samples in that grid (a square number reads best)
# -----------------------------------------------------------------------------
STYLE = {'font.size': 8, 'axes.titlesize': 8, 'figure.dpi': 110, 'savefig.bbox': 'tight'}
CMAP = 'viridis'


def best_seeds(runs):
    """One run per setting: the seed with the best final in-distribution accuracy (ties: the lowest seed)."""
    best = {}
    for r in sorted(runs, key=lambda r: r['seed']):
        key = (r['dx'], r['dy'], r['sigma'], r['hole'])
        if key not in best or r['id']['acc'][-1] > best[key]['id']['acc'][-1]:
            best[key] = r
    return list(best.values())


def save(fig, fig_dir, name, dpi):
    os.makedirs(fig_dir, exist_ok=True)
    exts = formats.split(',')
    for ext in exts:
        fig.savefig(os.path.join(fig_dir, f'{name}.{ext}'), dpi=dpi)
    plt.close(fig)
    print(f"wrote {os.path.join(fig_dir, name)}.{'/.'.join(exts)}", flush=True)


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


def look(run_dir, step, n, dpi):
    """A run's samples at one checkpoint: the asked centre (red ring), where Alg. 1 puts the bump (blue x) and its
    verdict per sample (ok: within 1 px on both axes; miss: one bump, wrong place; none / several / blob: a failed
    canvas). Writes {run_dir}/look_{step}.png and returns its path."""
    from metrics import accuracy
    files = sorted(glob.glob(os.path.join(run_dir, 'samples_*.npz')))
    if not files:
        fail(f"no samples_*.npz in {run_dir}: run sample.py there first (or give another --run)")
    steps = [int(os.path.basename(f)[8:-4]) for f in files]
    if step == -1:
        step = steps[-1]
    check(step in steps, 'step', step, f"-1 or a sampled step of {run_dir}: {', '.join(map(str, steps))}")
    s = load_npz(files[steps.index(step)], 'sample.py', keys=('images', 'labels'))
    images, labels = s['images'][:n], s['labels'][:n].astype(np.float64)
    res, pred = accuracy(images, labels)
    ok = (np.abs(pred - labels) < 1).all(1)
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.15 * cols, 1.25 * rows + 0.4), squeeze=False)
    sample_grid(axes.flat[:len(images)], images, labels)
    from metrics import predict_label
    for k, ax in enumerate(axes.flat):
        if k >= len(images):
            ax.axis('off')
            continue
        _, count, fill = predict_label(images[k])
        verdict = 'ok' if ok[k] else 'none' if count == 0 else 'several' if count > 1 else 'blob' if fill else 'miss'
        if count == 1 and not fill:  # a failed canvas has no bump to mark (Alg. 1's centroid fallback is not one)
            ax.plot(pred[k, 0] - 1, pred[k, 1] - 1, 'x', color='tab:blue', ms=4, mew=0.8)
        ax.set_title(verdict, fontsize=6, color='g' if ok[k] else 'r', pad=1.5)
    fig.suptitle(f"{os.path.basename(os.path.normpath(run_dir))}, step {step}: {ok.sum()} of {len(images)} ok (this grid); "
                 f"Eq. 1 accuracy {res['acc']:.3f} on these\nred ring: the asked centre; blue x: where Alg. 1 puts the one bump\nok: within 1 px on "
                 "both axes; miss: one bump, wrong place;\nnone, several: no bump, more than one; blob: one dark region "
                 "filling the canvas", fontsize=7)
    path = os.path.join(run_dir, f'look_{step:07d}.png')
    fig.savefig(path, dpi=dpi, bbox_inches='tight')
    plt.close(fig)
    return path


# --- the figures ---------------------------------------------------------------
def fig3(run, fig_dir, dpi, note='', others=()):
    """The untrained model and one checkpoint per phase as the pre-registered rule finds it by behaviour (A: the most
    failed canvases; B: the most single bumps in the wrong place; C: the first learned checkpoint), each with 16
    samples and the UMAP-3D of layer 4 coloured by mu_x and by mu_y; a phase not observed is an empty panel saying so.
    Below, every checkpoint on a true step axis, and the phases of the other seeds of the same setting (`others`)."""
    m = run['id']
    failed, wrong, correct, phase = prereg.behaviour(m)
    score, acc_o = prereg.order_score(m), m['acc'] / m['oracle_acc']
    scored = not np.isnan(score).all()  # the order score has no room in some runs (README): then it is not shown
    picks = [(0, 'untrained (step 0)')]
    for p, key in (('A', failed), ('B', wrong), ('C', -m['step'].astype(float))):
        idx = np.nonzero(phase == p)[0]
        i = int(idx[np.argmax(key[idx])]) if len(idx) else None
        picks.append((i, f"phase {p}: step {m['step'][i]}" if i is not None else f"phase {p}: not observed"))
    fig = plt.figure(figsize=(10, 9.4 + 0.25 * len(others)))
    outer = fig.add_gridspec(5, 5, height_ratios=[1, 1, 1, 0.8, 0.001 + 0.1 * len(others)], width_ratios=[1, 1, 1, 1, 0.06],
                             hspace=0.22, wspace=0.15, top=0.865)
    for col, (i, title) in enumerate(picks):
        if i is None:
            ax = fig.add_subplot(outer[0, col])
            ax.text(0.5, 0.5, title.replace(': ', '\n'), ha='center', va='center'), ax.axis('off')
            continue
        inner = outer[0, col].subgridspec(4, 4, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[r, c]) for r in range(4) for c in range(4)], m['examples'][i], m['labels'][i])
        fig.add_subplot(outer[0, col]).axis('off')
        plt.gca().set_title(f"{title}\nfailed {failed[i]:.2f}, wrong place {wrong[i]:.2f}\nacc/oracle {acc_o[i]:.2f}, "
                            f"UMAP R$^2$ {m['r2'][i]:.2f}" + (('\norder score ' + ('n/a' if np.isnan(score[i]) else f"{score[i]:.2f}"))
                                                              if scored else ''), pad=4)
        for row, axis in ((1, 0), (2, 1)):
            ax = fig.add_subplot(outer[row, col], projection='3d')
            sc = ax.scatter(*m['emb'][i].T, c=m['labels'][i][:, axis], cmap=CMAP, s=2, vmin=0, vmax=32)
            ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
            ax.set_xlabel('UMAP 1', labelpad=-12), ax.set_ylabel('UMAP 2', labelpad=-12), ax.set_zlabel('UMAP 3', labelpad=-12)
            if col == len(picks) - 1:
                fig.colorbar(sc, cax=fig.add_subplot(outer[row, 4]), label=f"true $\\mu_{'xy'[axis]}$ (px)")
    ax = fig.add_subplot(outer[3, :4])
    steps = m['step']
    colors = {'0': '0.9', 'A': '0.75', 'B': '#fdd0a2', 'C': '#c7e9c0', '-': 'w'}
    shade(ax, steps, phase, colors, 0, 1.12, letters=1.04)
    ax.plot(steps, acc_o, 'k.-', lw=1, ms=4, label='accuracy / oracle')
    ax.plot(steps, failed, 'C0.-', lw=1, ms=4, label='failed canvases')
    ax.plot(steps, wrong, 'C3.-', lw=1, ms=4, label='single bump, wrong place')
    ax.plot(steps, m['r2'], 'C2.--', lw=1, ms=4, label='UMAP R$^2$')
    ax.set_xlim(steps[0], steps[-1]), ax.set_ylim(0, 1.12), ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xlabel('training step'), ax.set_ylabel('fraction of samples / R$^2$')
    if others:  # the other seeds' phases on the same step axis: does the sequence repeat?
        ax2 = fig.add_subplot(outer[4, :4], sharex=ax)
        for k, r in enumerate(others):
            shade(ax2, r['id']['step'], prereg.behaviour(r['id'])[3], colors, k, k + 0.9, letters=k + 0.45)
        ax2.set_ylim(len(others), 0), ax2.set_yticks(np.arange(len(others)) + 0.45)
        ax2.set_yticklabels([f"seed {r['seed']}" for r in others], fontsize=7), ax2.set_xlabel('training step')
        ax.tick_params(axis='x', labelbottom=False), ax.set_xlabel('')
    ax.legend(fontsize=6, loc='center right'), ax.set_title('every checkpoint; shading and letters: phase by behaviour '
                                                            '(grey A, orange B, green C; "-": none of these: failures dominate, but fewer than half)' +
                                                            ('; below: the other seeds' if others else '') +
                                                            '; oracle: Alg. 1 on clean renders of the same labels', fontsize=7)
    fig.suptitle(f"Fig. 3: {run['name'].replace('_seed', ', seed ')}{note}\nsamples (red rings: the centre asked for) "
                 "and layer 4's UMAP, coloured by $\\mu_x$ (row 2) and $\\mu_y$ (row 3)", y=0.975)
    save(fig, fig_dir, 'fig3', dpi)


def shade(ax, steps, phase, colors, y0, y1, letters):
    """Each checkpoint's phase as a band from halfway to its neighbours, y0 to y1 (data units), lettered at `letters`."""
    edges = np.concatenate([[steps[0]], (steps[1:] + steps[:-1]) / 2, [steps[-1]]])
    for k, p in enumerate(phase):
        ax.fill_between([edges[k], edges[k + 1]], y0, y1, color=colors[p], lw=0)
        ax.text(steps[k], letters, p if p != '0' else '', ha='center', va='bottom' if y1 > 1 else 'center', fontsize=7)


def fig_sheet(run, fig_dir, dpi, note=''):
    """The ordered sheet the paper's phase C is about, seen directly: layer 4's UMAP-3D with every pair of evaluation
    labels that are grid neighbours joined (blue: neighbours along x, orange: along y). An ordered 2D sheet reads as a
    mesh of short segments; no order, as long segments crossing the cloud. Untrained, a checkpoint before the model
    learned (phase B's with the most misplaced bumps; without a phase B, the last of phase A), and the last one."""
    m, d = run['id'], run['dx']
    _, wrong, _, phase = prereg.behaviour(m)
    b, a = np.nonzero(phase == 'B')[0], np.nonzero(phase == 'A')[0]
    before, what = ((int(b[np.argmax(wrong[b])]), 'phase B') if len(b) else (int(a[-1]), 'phase A (no B)') if len(a)
                    else (len(m['step']) // 2, 'midway'))
    picks = [(0, 'untrained'), (before, what), (len(m['step']) - 1, 'last checkpoint')]
    picks = [p for k, p in enumerate(picks) if p[0] not in [q[0] for q in picks[:k]]]  # a checkpoint once, never twice
    fig = plt.figure(figsize=(10 * len(picks) / 3, 3.6))
    for col, (i, what) in enumerate(picks):
        ax = fig.add_subplot(1, len(picks), col + 1, projection='3d')
        emb, labels = m['emb'][i], m['labels'][i]
        where = {tuple(np.round(l / d).astype(int)): k for k, l in enumerate(labels)}
        for (gx, gy), k in where.items():
            for (ox, oy), color in (((1, 0), 'C0'), ((0, 1), 'C1')):
                j = where.get((gx + ox, gy + oy))
                if j is not None:
                    ax.plot(*zip(emb[k], emb[j]), color=color, lw=0.8, alpha=0.8)
        ax.scatter(*emb.T, s=1.5, c='0.4')
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        ax.set_title(f"{what}: step {m['step'][i]}\nacc/oracle {m['acc'][i] / m['oracle_acc'][i]:.2f}, UMAP R$^2$ {m['r2'][i]:.2f}")
    fig.suptitle(f"{run['name'].replace('_seed', ', seed ')}{note}: layer 4's UMAP with grid neighbours joined "
                 "(blue: along x, orange: along y)")
    save(fig, fig_dir, 'fig_sheet', dpi)


def curves(name, groups, param, ylabel, title, fig_dir, dpi):
    """Figs. 4 and 8: accuracy / oracle and the paper's UMAP R^2 against the training step, one colour per setting;
    every seed a thin line (its own checkpoints; one line style per seed), their mean a thick one on the checkpoints
    every run of the panel has (denser checkpoints of one setting do not make its mean look faster); the untrained
    model's R^2 (its floor) as a band from the lowest to the highest seed."""
    fig, axes = plt.subplots(len(groups), 2, figsize=(9, 0.4 + 2.8 * len(groups)), squeeze=False, constrained_layout=True)
    styles = ['-', '--', ':', '-.']
    for (label, runs), (ax_acc, ax_r2) in zip(groups, axes):
        values = sorted({r[param] for r in runs})
        seeds = sorted({r['seed'] for r in runs})
        common = sorted(set.intersection(*(set(r['id']['step'].tolist()) for r in runs)))
        for k, v in enumerate(values):
            color = plt.get_cmap(CMAP)(k / max(1, len(values) - 1) * 0.9)
            rs = [r for r in runs if r[param] == v]
            oracle = np.mean([r['id']['oracle_acc'][-1] for r in rs])
            for ax, key in ((ax_acc, 'acc/oracle'), (ax_r2, 'r2')):
                y = lambda r: r['id']['acc'] / r['id']['oracle_acc'] if key == 'acc/oracle' else r['id'][key]
                for r in rs:
                    ax.plot(r['id']['step'], y(r), styles[seeds.index(r['seed']) % 4], color=color, lw=0.6, alpha=0.7)
                at = lambda r: y(r)[[list(r['id']['step']).index(s) for s in common]]
                ax.plot(common, np.mean([at(r) for r in rs], 0), 'o-', color=color, lw=1.8, ms=3,
                        label=f"{ylabel} {v:g}" + (f": mean of {len(rs)} seeds" if len(rs) > 1 else '') +
                        (f" (oracle {oracle:.2f})" if key != 'r2' else ''))
                if key == 'r2':
                    floor = [y(r)[0] for r in rs]
                    ax.axhspan(min(floor), max(floor) + 0.004, color=color, alpha=0.15, lw=0)
        for k, seed in enumerate(seeds):  # the line style of each seed, once per panel
            ax_r2.plot([], [], styles[k % 4], color='0.4', lw=0.6, label=f"seed {seed}")
        ax_acc.axhline(prereg.FRAC, color='0.5', ls='--', lw=0.8)
        ax_acc.text(0, prereg.FRAC + 0.01, 'learned', fontsize=6, color='0.4', va='bottom')
        ax_acc.set_ylabel('accuracy / oracle'), ax_acc.set_title(f"{label}accuracy / oracle (Alg. 1's ceiling on the same labels)")
        ax_r2.set_ylabel('mean R$^2$ (UMAP-3D)')
        ax_r2.set_title(f"{label}the paper's UMAP R$^2$; each shaded band (one per setting, its colour): the untrained\n"
                        f"model's R$^2$ at step 0, from its lowest to its highest seed (the floor)")
        for ax in (ax_acc, ax_r2):
            ax.set_xlabel('training step'), ax.set_ylim(-0.02, 1.08), ax.legend(fontsize=6, loc='lower right')
    fig.suptitle(title)
    save(fig, fig_dir, name, dpi)


def fig_loss(sweep_dir, fig3_name, fig_dir, dpi):
    """The training loss of every run in the sweep (train.py's loss.csv), and for the Fig. 3 run the loss per quarter
    of t (q0: t < T/4, the least noisy). Returns '' when drawn, else why not (one line)."""
    paths = sorted(glob.glob(os.path.join(sweep_dir, '*', 'loss.csv')))
    if not paths:
        return f"no loss.csv in the runs of {sweep_dir} (runs trained before train.py wrote it)"
    logs = {}
    for p in paths:
        if sum(1 for _ in open(p)) > 2:  # a header and at least two rows make a curve
            logs[os.path.basename(os.path.dirname(p))] = np.genfromtxt(p, delimiter=',', names=True)
    if not logs:
        return (f"the {len(paths)} loss.csv of {sweep_dir} hold fewer than 2 rows each (runs shorter than 2 x train.py's "
                f"log_every steps)")
    n_runs = len(glob.glob(os.path.join(sweep_dir, '*', 'metrics.npz')))
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), constrained_layout=True)
    for name, v in logs.items():
        axes[0].plot(v['step'], v['loss'], lw=0.8, label=name.replace('_seed', ' seed '))
    axes[0].set_yscale('log'), axes[0].set_xlabel('training step'), axes[0].set_ylabel('loss (mean per row of loss.csv)')
    axes[0].set_title(f'training loss: the {len(logs)} of {n_runs} runs with a loss.csv'), axes[0].legend(fontsize=5)
    name = fig3_name if fig3_name in logs else next(iter(logs))
    missing = ' (the Fig. 3 run has no loss.csv)' if fig3_name and fig3_name not in logs else ''
    for q in range(4):
        axes[1].plot(logs[name]['step'], logs[name][f'loss_q{q}'], lw=0.8, label=f't in [{q}T/4, {q + 1}T/4)')
    axes[1].set_yscale('log'), axes[1].set_xlabel('training step'), axes[1].set_ylabel('loss')
    axes[1].set_title(f"{name}: loss per quarter of t{missing}", fontsize=7), axes[1].legend(fontsize=6)
    save(fig, fig_dir, 'fig_loss', dpi)
    return ''


def fig7b(fig_dir, dpi, size=32):
    """App. A.5, Fig. 7b: the normalised L2 norm of the overlap of neighbouring bumps against the increment, one
    curve per sigma (bumps.overlap, on the renderer that draws the training images; no runs needed)."""
    incs = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    fig, ax = plt.subplots(figsize=(4, 2.8))
    for k, sigma in enumerate((0.2, 0.3, 0.4, 0.5, 0.7, 1.0)):  # at 0.1 most off-centre bumps render blank: undefined
        ax.plot(incs, [overlap(d, sigma, size) for d in incs], 'o-', ms=2, lw=0.8, color=plt.get_cmap(CMAP)(k / 5), label=f'sigma = {sigma:g}')
    ax.set_xlabel('increment d'), ax.set_ylabel(r'$\|\sqrt{a\,b}\|_2\,/\,\|a\|_2$'), ax.set_ylim(-0.02, 1.05)
    ax.set_title('Fig. 7b: overlap of neighbouring bumps\n(a, b: inverted renders d apart; sigma = 0.1 renders blank)',
                 fontsize=7), ax.legend(fontsize=6)
    save(fig, fig_dir, 'fig7b', dpi)


def ratio_gap(m):
    """Per checkpoint: acc_y / oracle_y - acc_x / oracle_x and its 95% half-width over the evaluation samples (normal
    approximation of the paired per-sample difference)."""
    ox, oy = np.maximum(m['oracle_acc_x'], 1e-9)[:, None], np.maximum(m['oracle_acc_y'], 1e-9)[:, None]
    d = m['ok_y'] / oy - m['ok_x'] / ox
    return d.mean(1), 1.96 * d.std(1, ddof=1) / np.sqrt(d.shape[1])


def fig5(runs, fig_dir, dpi):
    """Per imbalanced run: each axis's accuracy / its oracle; their gap y - x with its 95% interval; the UMAP R^2 and
    the probe R^2 of each axis (their step-0 values are the untrained floor, not learning)."""
    fig, axes = plt.subplots(len(runs), 3, figsize=(11, 0.4 + 2.7 * len(runs)), squeeze=False, constrained_layout=True)
    for (ax_acc, ax_gap, ax_rep), r in zip(axes, runs):
        m, name = r['id'], f"dx={r['dx']:g}, dy={r['dy']:g} (seed {r['seed']})"
        for axis, color in (('x', 'C0'), ('y', 'C1')):
            ax_acc.plot(m['step'], m[f'acc_{axis}'] / np.maximum(m[f'oracle_acc_{axis}'], 1e-9), '.-', color=color,
                        label=f"{axis}: acc_{axis} / oracle_{axis}")
            ax_rep.plot(m['step'], m[f'r2_{axis}'], '.--', color=color, label=f'UMAP R$^2_{axis}$')
            ax_rep.plot(m['step'], m[f'probe_r2_{axis}'], '.-', color=color, label=f'probe R$^2_{axis}$')
        gap, half = ratio_gap(m)
        ax_gap.errorbar(m['step'], gap, yerr=half, fmt='k.-', lw=1, capsize=2)
        ax_gap.axhline(0, color='0.5', lw=0.8)
        ax_acc.set_title(f"{name}: accuracy per axis / its oracle"), ax_acc.set_ylim(-0.02, 1.1)
        ax_gap.set_title('y - x (per axis, of its oracle), 95% interval over samples')
        ax_rep.set_title('representation of each axis (step 0: untrained floor)'), ax_rep.set_ylim(-0.02, 1.05)
        for ax in (ax_acc, ax_gap, ax_rep):
            ax.set_xlabel('training step')
        ax_acc.legend(fontsize=6), ax_rep.legend(fontsize=6, ncol=2, handlelength=3.5)
        ax_acc.set_ylabel('accuracy / oracle'), ax_gap.set_ylabel('acc_y/oracle_y - acc_x/oracle_x'), ax_rep.set_ylabel('R$^2$')
    fig.suptitle('Fig. 5: imbalanced increments (dx != dy): are x and y learned together?')
    save(fig, fig_dir, 'fig5', dpi)


def fig9(runs, fig_dir, dpi):
    """Per hole run: samples inside the hole at the last checkpoint; accuracy / oracle inside and outside the hole
    (as the claims judge it; the oracle differs: no border bumps inside); and where a decoder fitted on layer 4 of the
    samples outside the hole places those inside (mean error in px, against guessing the hole's centre and the same
    labels on a blank canvas)."""
    fig = plt.figure(figsize=(11, 3.2 * len(runs)))
    outer = fig.add_gridspec(len(runs), 3, width_ratios=[1, 1.5, 1.2], hspace=0.5, wspace=0.4, top=1 - 0.6 / (3.2 * len(runs)))
    for row, r in enumerate(runs):
        ood, idd = r['ood'], r['id']
        inner = outer[row, 0].subgridspec(3, 3, wspace=0.05, hspace=0.05)
        sample_grid([fig.add_subplot(inner[i, j]) for i in range(3) for j in range(3)], ood['examples'][-1], ood['labels'][-1], r['hole'])
        ax = fig.add_subplot(outer[row, 1])
        for m, split, style in ((idd, 'outside (trained)', '-'), (ood, 'inside the hole', '--')):
            ax.plot(m['step'], m['acc'] / np.maximum(m['oracle_acc'], 1e-9), 'k.' + style, label=f'accuracy / oracle, {split}')
        ax.axhline(prereg.FRAC, color='C3', lw=0.6, ls=':', label=f'learned: {prereg.FRAC:g} x oracle')
        ax.set_title(f"hole [{r['hole'][0]:g}, {r['hole'][1]:g}], d={r['dx']:g}, seed {r['seed']}\n(left: inside, step "
                     f"{ood['step'][-1]}; oracle: Alg. 1 on clean renders)", fontsize=7)
        ax.set_xlabel('training step'), ax.set_ylabel('accuracy / oracle'), ax.set_ylim(-0.02, 1.12), ax.legend(fontsize=6, handlelength=3.5)
        ax = fig.add_subplot(outer[row, 2])
        for key, label, style in (('probe_ood_mae', 'hole samples', 'k.-'), ('probe_blank_mae', 'blank canvases, same labels', 'C1.--'),
                                  ('centre_mae', 'guessing the hole centre', 'C7:')):
            if key in ood:
                ax.plot(ood['step'], ood[key], style, label=label)
        ax.set_title('a decoder of (mu_x, mu_y) from layer 4, fitted on samples\noutside the hole, read on samples inside: '
                     'its error (px)', fontsize=7)
        ax.set_xlabel('training step'), ax.set_ylabel('px'), ax.set_ylim(bottom=0), ax.legend(fontsize=6, handlelength=3.5)
    fig.suptitle('Fig. 9: a hole in the training data (red square: the hole, never trained on)', y=1.0)
    save(fig, fig_dir, 'fig9', dpi)


def setting(r):
    return 'hole' if r['hole'] else 'imbalanced' if r['dx'] != r['dy'] else f"d={r['dx']:g} sigma={r['sigma']:g}"


def fig_where(r, fig_dir, dpi):
    """One run: one-step accuracy (label drawn independently of the image) over training step x t; below, on the same
    step axis, the sampler's accuracy (Alg. 1 and position only, over their oracles) and what its canvases hold."""
    p, m = r['probe'], r['id']
    fig, axes = plt.subplots(2, 1, figsize=(6.5, 5.2), sharex=True, constrained_layout=True, height_ratios=(1.1, 1))
    ax = axes[0]
    im = ax.pcolormesh(p['step'], p['ts'], (p['acc_q'] / p['oracle_q'][:, None]).T, vmin=0, vmax=1, cmap='viridis', shading='nearest')
    k = prereg2.knows_where(p)
    ax.axhline(prereg2.T_MID, color='w', lw=0.6, ls=':')
    ax.set_yticks(p['ts'])  # the probed timesteps, however few
    ax.set_ylabel('timestep t of the one-step probe\n(0: clean, 900: almost pure noise)')
    ax.set_title(f"{r['name']}: does x0_hat put the bump at the label? (label drawn apart from the image; "
                 f"acc / locator ceiling)\nknows where (t = {prereg2.T_MID}, >= {prereg2.FRAC:g}): "
                 + (f"at {k[1]:.0f} steps" if np.isfinite(k[1]) else 'never'), fontsize=7)
    fig.colorbar(im, ax=ax, label='one-step position accuracy')
    ax = axes[1]
    failed, wrong, correct, _ = prereg.behaviour(m)
    ax.stackplot(m['step'], failed, wrong, colors=('0.85', '#f4c58f'), labels=('canvas failed (no bump, several, blob)',
                                                                                'one bump, wrong place'), alpha=0.9)
    ax.plot(m['step'], m['acc'] / m['oracle_acc'], 'k-o', ms=3, lw=1.2, label='sampler: Alg. 1 acc / oracle')
    if np.isfinite(m['pacc']).all():
        ax.plot(m['step'], m['pacc'] / m['oracle_pacc'], 'b--s', ms=3, lw=1, label='sampler: position-only acc / oracle')
    j = prereg2.t_index(p['ts'])
    ax.plot(p['step'], p['acc_q'][:, j] / p['oracle_q'], color='g', lw=1, label=f'one step at t = {prereg2.T_MID} (label)')
    ax.plot(p['step'], p['acc_p'][:, j] / p['oracle_q'], color='g', lw=0.8, ls=':', label=f'one step at t = {prereg2.T_MID} (image)')
    ax.axhline(prereg2.FRAC, color='r', lw=0.6, ls='--')
    s = prereg2.draws_right(m)
    ax.set_title('draws right (Alg. 1 >= %g x oracle): %s' % (prereg2.FRAC, f"at {s[1]:.0f} steps" if np.isfinite(s[1]) else 'never'), fontsize=7)
    ax.set_xlabel('training step'), ax.set_ylabel('fraction'), ax.set_ylim(0, 1.08)
    ax.legend(fontsize=5.5, loc='center right')
    save(fig, fig_dir, f"where_{r['name']}", dpi)


def fig_onsets(groups, fig_dir, dpi):
    """Per setting and seed: the interval in which it comes to know where (one step, t = T_MID) and the one in which
    it comes to draw right (Alg. 1); exploratory seeds hatched."""
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 1.5 + 0.3 * max(len(rs) for _, rs in groups)),
                             squeeze=False, constrained_layout=True)
    for ax, (label, rs) in zip(axes[0], groups):
        last = max(r['id']['step'][-1] for r in rs)
        ons = prereg2.onsets(rs)
        for y, o in enumerate(ons):
            expl = o['seed'] < prereg2.CONFIRMATORY
            for (lo, hi), dy, c, name in ((o['K'], 0.15, 'g', 'knows where'), (o['S'], -0.15, 'k', 'draws right')):
                ax.barh(y + dy, (min(hi, last * 1.05) - lo), left=lo, height=0.26, color=c, alpha=0.35 if expl else 0.8,
                        hatch='///' if expl else None, label=name if y == 0 else None)
                if not np.isfinite(hi):
                    ax.annotate('never', (last * 1.05, y + dy), fontsize=5, va='center')
        ax.set_yticks(range(len(rs)), [f"seed {o['seed']}" + (' (expl.)' if o['seed'] < prereg2.CONFIRMATORY else '')
                                       for o in ons], fontsize=6)
        ax.set_xlim(0, last * 1.15), ax.set_ylim(-0.6, len(rs) - 0.4)
        ax.set_xlabel('training step'), ax.set_title(label)
        ax.legend(fontsize=5.5, loc='upper center', bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)
    fig.suptitle('Where before how: when each seed first knows where (one-step prediction at t = %d) and first draws right\n'
                 '(a bar spans the two checkpoints between which it happened)' % prereg2.T_MID, fontsize=7)
    save(fig, fig_dir, 'onsets', dpi)


def width_onsets(folder):
    """[(width, seed, K, S, where)] of a results folder's d = 1, sigma = 1 runs: K on every probe checkpoint (t = T_MID),
    S (Alg. 1) on every sampled one, both by prereg2's rule (>= FRAC x the ceiling). A folder holding probes_t300.csv
    and sampler.csv is the GPU run's (results/gpu-science: tables transcribed from its logs; its probe oracle is 1.0,
    read from the probes files that came back, as on the CPU: the same probe inputs)."""
    if os.path.exists(os.path.join(folder, 'probes_t300.csv')):
        p = np.genfromtxt(os.path.join(folder, 'probes_t300.csv'), delimiter=',', names=True)
        m = np.genfromtxt(os.path.join(folder, 'sampler.csv'), delimiter=',', names=True)
        k = prereg2.first_reached(p['step'], prereg2.reached(p['acc_label_t300'], np.ones(len(p))))
        return [(64, 0, k, prereg2.first_reached(m['step'], prereg2.reached(m['acc'], m['oracle'])), 'H200')]
    kept = tables.read_probes_csv(os.path.join(folder, 'probes.csv'))
    return [(int(r['train'].get('width', 64)), r['seed'], prereg2.knows_where(kept[r['name']], grid=None),
             prereg2.draws_right(r['id'], grid=None), 'CPU') for r in tables.read_metrics_csv(os.path.join(folder, 'metrics.csv'))
            if r['dx'] == r['dy'] == 1 and r['sigma'] == 1 and not r['hole'] and r['name'] in kept]


def fig_widths(folders, fig_dir, dpi):
    """Exploratory: per width and seed, when it knows where and when it draws right (as onsets.png)."""
    rows = sorted({(w, sd): (k, s, where) for f in folders for w, sd, k, s, where in width_onsets(f)}.items())
    if not rows:
        fail(f"no d = 1 run with probes in {', '.join(folders)}")
    last = 1.1 * max(x for _, (k, s, _) in rows for x in k + s if np.isfinite(x))
    fig, ax = plt.subplots(figsize=(6, 1.4 + 0.28 * len(rows)), constrained_layout=True)
    for y, ((w, sd), (k, s, where)) in enumerate(rows):
        for (lo, hi), dy, c, name in ((k, 0.15, 'g', 'knows where'), (s, -0.15, 'k', 'draws right')):
            ax.barh(y + dy, min(hi, last) - lo, left=lo, height=0.26, color=c, alpha=0.8, label=name if y == 0 else None)
            if not np.isfinite(hi):
                ax.annotate('never', (last, y + dy), fontsize=5, va='center')
    ax.set_yticks(range(len(rows)), [f"width {w}, seed {sd} ({where})" for (w, sd), (_, _, where) in rows], fontsize=6)
    ax.set_xlim(0, last * 1.08), ax.set_ylim(len(rows) - 0.4, -0.6), ax.set_xlabel('training step')
    ax.legend(fontsize=5.5, loc='lower right')
    missing = [w for w in (8, 16, 64) if w not in {w for (w, _), _ in rows}]
    if missing:
        ax.annotate('not run yet: width ' + ', '.join(map(str, missing)), (0.99, 0.99), xycoords='axes fraction', ha='right',
                    va='top', fontsize=6, color='0.4')
    ax.set_title('Exploratory, d = 1: when each width knows where (one-step, t = %d) and draws right (Alg. 1), >= %g x ceiling\n'
                 'width 8 and 16: lr 2e-3, cosine to 16,000 steps (CPU); width 64: the paper\'s 3e-4, constant (H200, DDIM-100)'
                 % (prereg2.T_MID, prereg2.FRAC), fontsize=6.5)
    save(fig, fig_dir, 'widths', dpi)
    for (w, sd), (k, s, where) in rows:
        print(f"width {w} seed {sd} ({where}): knows where ({k[0]:.0f}, {k[1]:.0f}], draws right ({s[0]:.0f}, {s[1]:.0f}]")


def fig_ladder(runs, fig_dir, dpi):
    """v3: per seed, when it knows where (K), places right (P) and draws right (S) on the dense grid, and each ladder
    variant's held onset (as onsets.png); below, the self-chain probe against the forward probe by step."""
    import prereg3
    if not runs:
        return
    names = list(prereg3.VARIANTS)
    fig, axes = plt.subplots(2, 1, figsize=(7, 2.0 + 0.9 * len(runs) + 2.4), constrained_layout=True,
                             height_ratios=(0.9 * len(runs) + 1, 2.4))
    ax = axes[0]
    last = prereg3.DENSE_GRID[-1]
    free = [1, 3, 4, 5, 6, 7, 8, 9]  # tab10 without its blue and green, which K and P use
    rows = [('K', 'g'), ('P', 'b'), ('S', 'k')] + [(v, plt.cm.tab10(free[i % len(free)])) for i, v in enumerate(names)]
    h = 0.8 / len(rows)
    for y, r in enumerate(sorted(runs, key=lambda r: r['seed'])):
        o = prereg3.run_onsets(r)
        for i, (key, c) in enumerate(rows):
            iv = o[key] if key in 'KPS' else prereg3.ladder_onset(r, key) if key in r['ladder'] else (np.nan, np.nan)
            if not np.isfinite(iv[1]) and not np.isfinite(iv[0]):
                continue
            lo = iv[0] if np.isfinite(iv[0]) else 0.0
            hi = min(iv[1], last * 1.05)
            ax.barh(y - 0.4 + (i + 0.5) * h, hi - lo, left=lo, height=h * 0.9, color=c, label=key if y == 0 else None)
    ax.set_yticks(range(len(runs)), [f"seed {r['seed']}" for r in sorted(runs, key=lambda r: r['seed'])], fontsize=6)
    ax.set_xlabel('training step (a bar spans the checkpoints between which the onset happened)')
    ax.legend(fontsize=5, ncol=11, loc='lower center', bbox_to_anchor=(0.5, 1.0), frameon=False)  # above: the bars fill the axes
    fig.suptitle('v3: knows where (one step, t = %d), places right, draws right, and each sampler of the ladder (held onset)'
                 % prereg3.T_MID, fontsize=7)
    ax = axes[1]
    for r in runs:
        ch, p = r['chain'], r['probe']
        j = prereg2.t_index(p['ts'], prereg3.T_MID)
        ax.plot(p['step'], p['acc_a'][:, j] / np.maximum(p['oracle_a'], 1e-9), color='0.6', lw=0.8)
        ax.plot(ch['step'], np.asarray(ch['pacc']) / np.maximum(np.asarray(ch['oracle_pacc']), 1e-9), 'r.-', lw=0.8, ms=3)
    ax.plot([], [], color='0.6', label='forward-noised render (probe.py, acc_a)')
    ax.plot([], [], 'r.-', label="the sampler's own x_t (self-chain)")
    ax.set_xlabel('training step'), ax.set_ylabel('x0_hat at t = %d on the label\n(acc / ceiling)' % prereg3.T_MID)
    ax.set_ylim(0, 1.05), ax.legend(fontsize=6)
    save(fig, fig_dir, 'ladder', dpi)


# --- the follow-up (arXiv 2408.13256) ------------------------------------------------------------------------------
def fig_regions(runs, fig_dir, dpi):
    """Per follow-up run, accuracy per axis and joint on each of its evaluation sets (in-distribution and held-out
    regions) at the last checkpoint, against the detector's oracle (grey ticks)."""
    runs = [r for r in runs if r.get('data')]
    if not runs:
        return
    cols = min(len(runs), 6)  # rows of six panels: the follow-up has two dozen runs
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows + 0.3), squeeze=False, constrained_layout=True)
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, sorted(runs, key=lambda r: r['name'])):
        splits = r.get('splits', ['id'])
        for j, sp in enumerate(splits):
            m = r[sp]
            for k, (key, c) in enumerate((('acc_x', 'C0'), ('acc_y', 'C1'), ('acc', 'k'))):
                ax.bar(j + (k - 1) * 0.27, m[key][-1], width=0.25, color=c, label=key.replace('acc_', '') if j == 0 else None)
            ax.plot([j - 0.4, j + 0.4], [m['oracle_acc'][-1]] * 2, color='0.6', lw=1)
        ax.set_xticks(range(len(splits)), splits, rotation=30, fontsize=6)
        ax.set_ylim(0, 1.05), ax.set_title(f"{r['name'].split('_dx')[0]} (seed {r['seed']}, step {r['id']['step'][-1]})", fontsize=7)
    for row in axes:
        row[0].set_ylabel('accuracy (Eq. 1 per axis; joint)', fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.suptitle('The follow-up at CPU scale: accuracy on each evaluation set (grey: the detector on clean renders)', fontsize=8)
    save(fig, fig_dir, 'fig_regions', dpi)


def fig_factor(results, fig_dir, dpi):
    """E1: the chord statistics of each periodic run's layer 4 (last checkpoint) against the ideal 3D and Clifford
    tori (histograms, as the follow-up's Fig. 3); its persistence diagram beside the Clifford torus's (Fig. 2b); and
    its effective dimension over training (Fig. 2c-d)."""
    fac, ch, bars = (tables.read_rows(os.path.join(results, f)) for f in ('factor.csv', 'chords.csv', 'persistence.csv'))
    runs = sorted({r['run'] for r in fac if r['rep'] == 'layer4 (demeaned)'})
    if not runs:
        return
    last = {n: max(int(r['step']) for r in fac if r['run'] == n and r['rep'] == 'layer4 (demeaned)') for n in runs}
    stats = ('orth_xy', 'orth_xx', 'orth_yy', 'par_xx', 'par_yy')
    edges = np.linspace(-1, 1, 41)
    col = {n: f'C{(2, 4, 5, 6, 8, 9)[k % 6]}' for k, n in enumerate(runs)}  # one colour per run (C0, C1, C3: the tori, H1, H2)
    fig = plt.figure(figsize=(13, 5.6), constrained_layout=True)
    gs = fig.add_gridspec(2, 5)
    for i, st in enumerate(stats):
        ax = fig.add_subplot(gs[0, i])
        for name, step, rep, c in ([('3D torus', 0, 'ideal', 'C0'), ('Clifford torus', 0, 'ideal', 'C1')] +
                                   [(n, last[n], 'layer4 (demeaned)', col[n]) for n in runs]):
            row = next((h for h in ch if h['run'] == name and int(h['step']) == step and h['rep'] == rep and h['stat'] == st), None)
            if row:
                counts = np.array([int(row[f'b{k}']) for k in range(len(edges) - 1)])
                ax.stairs(counts / counts.sum(), edges, color=c, label=name if i == 0 else None)
        ax.set_title(st.replace('_', ' ').replace('orth', 'orthogonality |cos|,').replace('par', 'parallelism cos,'), fontsize=7)
    fig.axes[0].legend(fontsize=6)
    for j, (name, step, rep) in enumerate([('Clifford torus', 0, 'ideal'), (runs[0], last[runs[0]], 'layer4 (demeaned)')]):
        ax = fig.add_subplot(gs[1, j])
        for dim, c in ((1, 'C1'), (2, 'C3')):
            pts = [(float(b['birth']), float(b['death'])) for b in bars if b['run'] == name and int(b['step']) == step and
                   b['rep'] == rep and int(b['dim']) == dim and b['death'] != 'inf']
            if pts:
                ax.scatter(*zip(*pts), s=6, color=c, label=f'H{dim}')
        lim = ax.get_xlim()[1] if ax.has_data() else 1
        ax.plot([0, lim], [0, lim], color='0.6', lw=0.6), ax.set_xlabel('birth'), ax.set_ylabel('death')
        ax.set_title(f"persistence: {name}", fontsize=7), ax.legend(fontsize=6)
    ax = fig.add_subplot(gs[1, 2:])
    for n in runs:
        rs = sorted((r for r in fac if r['run'] == n and r['rep'] == 'layer4 (demeaned)'), key=lambda r: int(r['step']))
        ax.plot([int(r['step']) for r in rs], [float(r['pr']) for r in rs], 'o-', color=col[n], label=f"{n}: participation ratio")
        ax.plot([int(r['step']) for r in rs], [float(r['pcs95']) for r in rs], 's--', color=col[n], label=f"{n}: PCs to 95%")
    ax.axhline(4, color='C1', lw=0.6, ls=':', label='Clifford torus: 4')
    ax.set_xlabel('training step'), ax.set_ylabel('effective dimension'), ax.legend(fontsize=6)
    fig.suptitle('E1, periodic bumps: layer 4 (channel means removed) on every second centre, against the ideal tori', fontsize=8)
    save(fig, fig_dir, 'fig_factor', dpi)


def fig_lesion(runs, fig_dir, dpi):
    """E3 (the follow-up's Fig. 11b): accuracy over the detector's oracle inside the held-out lesion, per axis and
    joint, against the lesion's width, beside in-distribution; a faint point per run at its last checkpoint, the line
    through their mean per width."""
    runs = sorted((r for r in runs if r.get('data', {}).get('lesion_w') and r.get('lesion') is not None),
                  key=lambda r: (r['data']['lesion_w'], r['seed']))
    if not runs:
        return
    w = [r['data']['lesion_w'] for r in runs]
    widths = sorted(set(w))
    ratio = lambda r, split, key: r[split][key][-1] / max(r[split]['oracle_' + key][-1], 1e-9)  # per axis: its own oracle
    fig, ax = plt.subplots(figsize=(4.2, 3.0), constrained_layout=True)
    for k, (split, key, style, label) in enumerate((('id', 'acc', 'o--', 'in distribution, joint'), ('lesion', 'acc', 'o-', 'in the lesion, joint'),
                                                    ('lesion', 'acc_x', 's:', 'in the lesion, x'), ('lesion', 'acc_y', '^:', 'in the lesion, y'))):
        vals = [ratio(r, split, key) for r in runs]  # a point per run, the line through the mean over seeds
        ax.plot(w, vals, style[0], ms=3, alpha=0.5, color=f'C{k}')
        ax.plot(widths, [np.mean([v for v, x in zip(vals, w) if x == wd]) for wd in widths], style, ms=5, color=f'C{k}', label=label)
    for wd in widths:  # the grid columns each width holds out (on the d = 1 grid), and its seeds
        at = [r for r in runs if r['data']['lesion_w'] == wd]
        xs = np.arange(1, at[0]['size'] + 1.0)
        cols = int(in_lesion(np.stack([xs, xs], 1), wd, at[0]['size']).sum())
        ax.annotate(f"{cols} columns\n{len(at)} seed{'s' * (len(at) > 1)}", (wd, 1.04), ha='center', fontsize=6)
    ax.set_xlabel('lesion width (px)'), ax.set_ylabel('accuracy / oracle')
    ax.set_ylim(0, 1.2), ax.legend(fontsize=6, loc='lower left')
    seeds = sorted({str(r['seed']) for r in runs})
    ax.set_title(f"E3: a vertical lesion of the bump grid (seed{'s' * (len(seeds) > 1)} {','.join(seeds)}, "
                 f"step {runs[0]['id']['step'][-1]})", fontsize=7)
    save(fig, fig_dir, 'fig_lesion', dpi)


def fig_percolation(results, fig_dir, dpi):
    """E5: the largest cluster (fraction of kept sites) against the kept fraction lambda, per sigma, for both overlap
    readings and thresholds (the follow-up's Fig. 6c, Fig. 13)."""
    rows = tables.read_rows(os.path.join(results, 'percolation.csv'))
    if not rows:
        return
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.8), constrained_layout=True, sharey=True)
    for ax, (ov, th) in zip(axes, [(o, t) for o in ('pixelated', 'continuum') for t in ('0.005', '0.05')]):
        for k, sg in enumerate(sorted({r['sigma'] for r in rows}, key=float)):
            pts = sorted((float(r['lam']), float(r['cluster_kept'])) for r in rows if r['overlap'] == ov and r['threshold'] == th and r['sigma'] == sg)
            ax.plot(*zip(*pts), 'o-', ms=3, color=plt.cm.viridis(k / 4), label=f'sigma {sg}')
        ax.set_title(f"{ov} overlap, threshold {th}", fontsize=7), ax.set_xlabel('kept fraction lambda')
    axes[0].set_ylabel('largest cluster / kept sites'), axes[0].legend(fontsize=6)
    fig.suptitle('E5: percolation of the bump lattice (d = 1, 10 draws; simulated, no training)', fontsize=8)
    save(fig, fig_dir, 'fig_percolation', dpi)


if __name__ == '__main__':
    config = configure(globals())
    check(type(dpi) is int and dpi > 0, 'dpi', dpi, 'a positive integer')
    check(str(formats) in ('png,pdf', 'png', 'pdf', 'pdf,png'), 'formats', formats, "'png,pdf', 'png' or 'pdf'")
    try:
        incs8 = [float(s) for s in str(sigma_incs).split(',') if s.strip()]
    except ValueError:
        fail(f"bad setting sigma_incs={sigma_incs!r}: allowed is comma-separated increments, e.g. '0.1,0.5,1.0'")
    plt.rcParams.update(STYLE)
    if run:  # one run's samples, not a sweep
        check(type(n_show) is int and n_show > 0, 'n_show', n_show, 'a positive integer')
        check(type(step) is int and step >= -1, 'step', step, '-1 (the last) or a checkpoint step')
        check(os.path.isdir(run), 'run', run, 'an existing run folder (e.g. out/quick/dx1.0_dy1.0_sigma1.0_seed0)')
        print(f"wrote {look(run, step, n_show, dpi)}")
        raise SystemExit(0)
    if widths:  # exploratory: the widths side by side, from committed tables only
        fig_widths([f.strip() for f in widths.split(',') if f.strip()], fig_dir, dpi)
        raise SystemExit(0)
    check(os.path.isdir(sweep_dir), 'sweep_dir', sweep_dir, 'an existing sweep folder (run_all.sh makes out/PRESET)')
    runs = tables.runs_and_kept(sweep_dir, os.path.join(results, 'metrics.csv'))
    if not runs:
        fail(f"no run with a metrics.npz under {sweep_dir}: run the sweep first (bash run_all.sh)")
    square_all = sorted((r for r in runs if r['dx'] == r['dy'] and r['hole'] is None), key=lambda r: (r['dx'], r['sigma'], r['seed']))
    f3_all = [r for r in square_all if r['dx'] == fig3_d and r['sigma'] == fig4_sigma]  # every seed of the Fig. 3 run
    f4_all = [r for r in square_all if r['sigma'] == fig4_sigma]
    f8_all = [(f"d={d:g}: ", [r for r in square_all if r['dx'] == d]) for d in incs8]
    # figures of samples and embeddings need a run folder: per setting the best seed among the runs that have one
    # (a seed kept only in metrics.csv can still be the best one; Figs. 4 and 8 draw every seed from the table)
    chosen = best_seeds([r for r in runs if 'emb' in r['id']])
    f3 = next((r for r in chosen if any(r is a for a in f3_all)), None)
    f8 = [(label, rs) for label, rs in f8_all if len({r['sigma'] for r in rs}) > 1]  # a row compares sigmas
    f5 = sorted((r for r in chosen if r['dx'] != r['dy'] and r['hole'] is None), key=lambda r: (r['dy'], r['dx']), reverse=True)
    f9 = sorted((r for r in chosen if r['hole'] is not None and 'ood' in r), key=lambda r: r['hole'][1] - r['hole'][0])
    for name, ok in (('fig3', f3 and len(f3['id']['step']) >= 3), ('fig4', f4_all), ('fig5', f5), ('fig8', f8), ('fig9', f9)):
        if not ok:
            print(f"{name}: no suitable runs in {sweep_dir} (see the module docstring for which runs it needs), skipped")
    if f3 and len(f3['id']['step']) >= 3:
        n, here = len(f3_all), sum('emb' in r['id'] for r in f3_all)
        note = '' if n < 2 else f" (best final accuracy of {n} seeds)" if here == n else \
            f" (best final accuracy of the {here} of {n} seeds with samples in {sweep_dir})"
        fig3(f3, fig_dir, dpi, note, [r for r in f3_all if r['seed'] != f3['seed']])
        fig_sheet(f3, fig_dir, dpi, note)
    if f4_all:  # Figs. 4 and 8 draw every seed, also those kept only in metrics.csv
        curves('fig4', [('', f4_all)], 'dx', 'd =',
               f'Fig. 4: increments d (= dx = dy), sigma = {fig4_sigma:g}', fig_dir, dpi)
    if f5:
        fig5(f5, fig_dir, dpi)
    if f8:
        curves('fig8', f8, 'sigma', 'sigma =', 'Fig. 8: bump widths sigma' + (', one row per increment' if len(f8) > 1 else
                                                                             f" at {f8[0][0].rstrip(': ')}"), fig_dir, dpi)
    if f9:
        fig9(f9, fig_dir, dpi)
    fig7b(fig_dir, dpi)
    why = fig_loss(sweep_dir, f3['name'] if f3 else '', fig_dir, dpi)
    if why:
        print(f"fig_loss: {why}, skipped")
    if study or elicit:  # the one-step probes: in the run folders, or kept in probes.csv
        runs = tables.attach_probes(runs, sweep_dir, results)
    if study and runs:
        by_setting = {}
        for r in runs:
            if r['dx'] == r['dy'] and not r['hole']:
                by_setting.setdefault((r['dx'], r['sigma']), []).append(r)
        groups = [(k, sorted(v, key=lambda r: r['seed'])) for k, v in sorted(
            ((f"d = {d:g}, sigma = {s:g}", rs) for (d, s), rs in by_setting.items()), key=lambda kv: kv[0])]
        fig_onsets(groups, fig_dir, dpi)
        for r in by_setting.get((1.0, 1.0), []):
            fig_where(r, fig_dir, dpi)
    if elicit:
        fig_ladder(tables.v3_runs(runs, sweep_dir, results), fig_dir, dpi)
    if followup:
        fig_regions(runs, fig_dir, dpi)
        fig_lesion(runs, fig_dir, dpi)
        fig_factor(results, fig_dir, dpi)
        fig_percolation(results, fig_dir, dpi)
