"""
The where-before-how study (prereg2.py): its table, its claims and its figures, from a sweep's runs.

    python study.py --sweep_dir=out/study --fig_dir=figures/study --results=results/study

Reads the sample metrics from {results}/metrics.csv (plot_figures.py writes it first: run_all.sh calls both) and the
one-step probes from each run's probes_*.npz (probe.py), keeping the runs of earlier sessions from {results}/probes.csv;
writes {results}/probes.csv (one row per run x probe checkpoint x t), {results}/hybrid.csv (the intervention: every
hybrid_*.npz of sample.py, scored by Alg. 1 and by position), {results}/claims.md (v2's verdicts first) and
figures: where_<run>.png (per d = 1 run: one-step accuracy over training step x t, the sampler's accuracy and its
failures on the same step axis) and onsets.png (per seed: when it knows where and when it draws right).
Seeds below prereg2.CONFIRMATORY are shown as exploratory and never enter a verdict.
"""
import csv
import glob
import os
import subprocess

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

import prereg
import prereg2
from artifacts import load_npz
from configurator import configure, check, fail
from plot_figures import STYLE, read_metrics_csv, save

# -----------------------------------------------------------------------------
sweep_dir = 'out/study'        # folder of run folders (metrics.npz, probes_*.npz)
fig_dir = 'figures/study'      # where the study's figures go
results = 'results/study'      # holds metrics.csv (read) and probes.csv, claims.md (written)
dpi = 110                      # PNG resolution
widths = ''                    # instead: comma-separated results folders whose d = 1 runs go into {fig_dir}/widths.png
                               # (one onset pair per width and seed; a folder with probes_t300.csv is gpu_science.sh's)
# -----------------------------------------------------------------------------
PLAN_WIDTH = 8                 # the width v2 (prereg2.py) was registered for: presets.py's study runs
SCALARS = ('acc_q', 'acc_p', 'acc_r', 'acc_a', 'oracle_q', 'dec_q_x0', 'dec_p_x0', 'dec_q_l4', 'dec_p_l4', 'dec_q_l4_gain', 'dec_r_l4')


def load_probes(run_dir):
    """{step, ts, <scalar> (checkpoints, ts)} of a run folder, or None (the per-sample hits stay in the npz files)."""
    files = sorted(glob.glob(os.path.join(run_dir, 'probes_*.npz')))
    if not files:
        return None
    ps = [load_npz(f, 'probe.py', keys=('acc_q', 'probe_ts', 'step')) for f in files]
    out = dict(step=np.array([int(p['step']) for p in ps]), ts=ps[0]['probe_ts'])
    for k in SCALARS:
        out[k] = np.array([np.broadcast_to(p[k], out['ts'].shape) for p in ps], float)
    out['oracle_q'] = out['oracle_q'][:, 0]
    return out


def write_probes_csv(path, runs):
    rows = []
    for r in runs:
        p = r['probe']
        for i, step in enumerate(p['step']):
            for j, t in enumerate(p['ts']):
                row = dict(name=r['name'], seed=r['seed'], dx=r['dx'], dy=r['dy'], sigma=r['sigma'], step=int(step), t=int(t))
                row.update({k: round(float(p[k][i] if k == 'oracle_q' else p[k][i, j]), 5) for k in SCALARS})
                rows.append(row)
    with open(path + '.tmp', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader(), w.writerows(rows)
    os.replace(path + '.tmp', path)


def read_probes_csv(path):
    """{run name: probes as load_probes gives them} from a probes.csv."""
    if not os.path.exists(path):
        return {}
    rows = {}
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            rows.setdefault(row['name'], []).append(row)
    out = {}
    for name, rs in rows.items():
        steps, ts = sorted({int(r['step']) for r in rs}), sorted({int(r['t']) for r in rs})
        p = dict(step=np.array(steps), ts=np.array(ts))
        for k in SCALARS:
            p[k] = np.full((len(steps), len(ts)), np.nan)
        for r in rs:
            i, j = steps.index(int(r['step'])), ts.index(int(r['t']))
            for k in SCALARS:
                p[k][i, j] = float(r[k])
        p['oracle_q'] = p['oracle_q'][:, 0]
        out[name] = p
    return out


def score_hybrids(sweep_dir, names, kept_path):
    """The intervention's table: per hybrid_*.npz of the runs (sample.py --early_step), Alg. 1 and position-only
    accuracy over their oracles and the failed canvases; rows of earlier sessions kept from kept_path."""
    from bumps import render
    from metrics import accuracy, position_hits
    rows = {}
    if os.path.exists(kept_path):
        with open(kept_path, newline='') as f:
            rows = {(r['name'], r['step'], r['early_step'], r['band']): r for r in csv.DictReader(f)}
    for name in names:
        for path in sorted(glob.glob(os.path.join(sweep_dir, name, 'hybrid_0*.npz'))):
            h = load_npz(path, 'sample.py', keys=('images', 'labels'))
            cfg, labels = h['config'], h['labels'].astype(np.float64)
            clean = render(labels, cfg['data']['sigma'], cfg['data']['size'])
            acc, orc = accuracy(h['images'], labels)[0], accuracy(clean, labels)[0]
            pacc = position_hits(h['images'], labels)[0].all(1).mean() / position_hits(clean, labels)[0].all(1).mean()
            sc = cfg['sample']
            key = (name, str(cfg['step']), str(sc['early_step']), f"{sc['band_lo']}-{sc['band_hi']}")
            rows[key] = dict(name=name, step=cfg['step'], early_step=sc['early_step'], band=key[3],
                             acc_over_oracle=round(acc['acc'] / orc['acc'], 4), pacc_over_oracle=round(float(pacc), 4),
                             failed=round(1 - acc['single'].mean(), 4))
    if rows:
        with open(kept_path + '.tmp', 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=list(next(iter(rows.values()))))
            w.writeheader(), w.writerows(sorted(rows.values(), key=lambda r: (r['name'], int(r['step']), int(r['early_step']), r['band'])))
        os.replace(kept_path + '.tmp', kept_path)
    return list(rows.values())


def git_commit(path):
    """The last commit that changed `path` (the rules the verdicts rest on), or 'uncommitted'."""
    try:
        h = subprocess.run(['git', 'log', '-1', '--format=%h', '--', os.path.basename(path)], cwd=os.path.dirname(os.path.abspath(path)),
                           capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', os.path.basename(path)], cwd=os.path.dirname(os.path.abspath(path)),
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (h or 'uncommitted') + (' + uncommitted changes' if dirty and h else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown (no git)'


def off_plan(rows, runs):
    """(rows, note): v2 was registered for the study preset's width-8 model; when a run has another width (the wide
    preset, issue 31) the same statistics are printed but every verdict becomes 'exploratory: no verdict'."""
    widths = sorted({int(r.get('train', {}).get('width', PLAN_WIDTH)) for r in runs} - {PLAN_WIDTH})
    if not widths:
        return rows, ''
    note = f"exploratory (width {', '.join(map(str, widths))}, not in v2's plan): no verdict"
    return [(c, st, sd, note) for c, st, sd, _ in rows], note


def stopped(rows):
    """prereg2's plan stops the study at the interim once its primary is decided: secondary rows there that read
    'continue to the final analysis' are inconclusive and stay so (their statistic is unchanged)."""
    if not rows or rows[0][3].split(':')[0] not in ('confirmed', 'the opposite'):
        return rows
    cont = 'inconclusive: continue to the final analysis'
    return [(c, st, sd, 'inconclusive (the study stopped at the interim: its primary is decided)' if v == cont else v)
            for c, st, sd, v in rows]


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
    kept = read_probes_csv(os.path.join(folder, 'probes.csv'))
    return [(int(r['train'].get('width', 64)), r['seed'], prereg2.knows_where(kept[r['name']], grid=None),
             prereg2.draws_right(r['id'], grid=None), 'CPU') for r in read_metrics_csv(os.path.join(folder, 'metrics.csv'))
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


def write_claims(path, rows, runs, commit, hybrids=(), note=''):
    title = f"v2's statistics, {note}" if note else 'the second pre-registered analysis (v2)'
    with open(path + '.tmp', 'w') as f:
        f.write(f"# Where before how: {title}\n\nRules: `prereg2.py` (last changed in "
                f"{commit}); written by `python study.py`. Confirmatory seeds: >= {prereg2.CONFIRMATORY}; interim at "
                f"{prereg2.N_INTERIM} seeds (alpha {prereg2.ALPHA_INTERIM:g}), final at {prereg2.N_FINAL} (alpha "
                f"{prereg2.ALPHA_FINAL:g}). Knows where: one-step position accuracy at t = {prereg2.T_MID} >= {prereg2.FRAC:g} x "
                f"the locator's ceiling; draws right: Alg. 1 accuracy >= {prereg2.FRAC:g} x oracle. C3/C5 margin +-{prereg2.MARGIN:g}.\n\n"
                "| claim | statistic | seeds | verdict |\n|---|---|---|---|\n")
        f.writelines(f"| {c} | {st} | {sd} | {v} |\n" for c, st, sd, v in rows)
        f.write("\n## Every run: onsets (exploratory seeds never enter a verdict)\n\n| run | seed | knows where | places right | "
                "draws right | lag | stays right | final acc (oracle) | final position-only (oracle) |\n|---|---|---|---|---|---|---|---|---|\n")
        ons = {r['name']: prereg2.onsets([r])[0] for r in runs}  # both tables below read them
        for r in runs:
            o = ons[r['name']]
            iv = lambda v: f"({v[0]:.0f}, {v[1]:.0f}]" if np.isfinite(v[1]) else f"never (> {v[0]:.0f})"
            lag = f"({o['lag'][0]:+.0f}, {o['lag'][1]:+.0f})" if np.isfinite(o['lag'][1]) else f"> {o['lag'][0]:+.0f}"
            m = r['id']
            f.write(f"| {r['name']} | {r['seed']}{'' if r['seed'] >= prereg2.CONFIRMATORY else ' (expl.)'} | {iv(o['K'])} | "
                    f"{iv(o['P'])} | {iv(o['S'])} | {lag} | {o['stays']} | {m['acc'][-1]:.3f} ({m['oracle_acc'][-1]:.3f}) | "
                    f"{m['pacc'][-1]:.3f} ({m['oracle_pacc'][-1]:.3f}) |\n")
        settings = sorted({setting(r) for r in runs}, key=lambda st: (st != 'd=1 sigma=1', st))  # the primary's first
        f.write("\n## Onsets per seed, compact\n\nEach cell: the first checkpoint, in thousand steps, at "
                "which the run knows where / places right (position only) / draws right (Alg. 1); each onset lies after "
                "the checkpoint before it on the grid " + ', '.join(f"{g / 1000:g}" for g in prereg2.SAMPLE_GRID[1:]) +
                ".\n\n| seed | " + ' | '.join(settings) + " |\n|" + '---|' * (len(settings) + 1) + "\n")
        first = lambda v: f"{v[1] / 1000:g}" if np.isfinite(v[1]) else f"never by {v[0] / 1000:g}"
        for sd in sorted({r['seed'] for r in runs}):
            cells = []
            for st in settings:
                r = next((r for r in runs if r['seed'] == sd and setting(r) == st), None)
                o = ons[r['name']] if r else None
                cells.append(' / '.join(first(o[k]) for k in 'KPS') if o else '')
            f.write(f"| {sd}{'' if sd >= prereg2.CONFIRMATORY else ' (expl.)'} | " + ' | '.join(cells) + " |\n")
        if hybrids:
            f.write("\n## The intervention: the early checkpoint in one noise band, the final one elsewhere (descriptive)\n\n"
                    "| run | sampled step | early step | band (t) | Alg. 1 acc / oracle | position-only / oracle | failed canvases |\n"
                    "|---|---|---|---|---|---|---|\n")
            f.writelines(f"| {h['name']} | {h['step']} | {h['early_step']} | {h['band']} | {float(h['acc_over_oracle']):.3f} | "
                         f"{float(h['pacc_over_oracle']):.3f} | {float(h['failed']):.3f} |\n" for h in hybrids)
    os.replace(path + '.tmp', path)


if __name__ == '__main__':
    config = configure(globals())
    check(type(dpi) is int and dpi > 0, 'dpi', dpi, 'a positive integer')
    plt.rcParams.update(STYLE)
    if widths:
        fig_widths([f.strip() for f in widths.split(',') if f.strip()], fig_dir, dpi)
        raise SystemExit
    check(os.path.isdir(sweep_dir), 'sweep_dir', sweep_dir, 'an existing sweep folder (run_all.sh makes out/PRESET)')
    table = os.path.join(results, 'metrics.csv')
    runs = read_metrics_csv(table)
    if not runs:
        fail(f"{table} missing or empty: run plot_figures.py --sweep_dir={sweep_dir} --claims={results}/claims_v1.md first")
    kept = read_probes_csv(os.path.join(results, 'probes.csv'))
    for r in runs:
        r['probe'] = load_probes(os.path.join(sweep_dir, r['name'])) or kept.get(r['name'])
    missing = [r['name'] for r in runs if r['probe'] is None]
    if missing:
        print(f"note: no probes for {', '.join(missing)} (run probe.py there): left out of the study")
    runs = [r for r in runs if r['probe'] is not None]
    if not runs:
        fail(f"no run with probes in {sweep_dir} or {results}/probes.csv: run probe.py first")
    write_probes_csv(os.path.join(results, 'probes.csv'), runs)
    by_setting = {}
    for r in runs:
        if r['dx'] == r['dy'] and not r['hole']:
            by_setting.setdefault((r['dx'], r['sigma']), []).append(r)
    rows = prereg2.all_claims(by_setting, [r for r in runs if r['dx'] != r['dy'] and not r['hole']],
                              [r for r in runs if r['hole'] and 'ood' in r])
    rows, note = off_plan(stopped(rows), runs)
    hybrids = score_hybrids(sweep_dir, [r['name'] for r in runs], os.path.join(results, 'hybrid.csv'))
    write_claims(os.path.join(results, 'claims.md'), rows, sorted(runs, key=lambda r: (setting(r), r['seed'])), git_commit(prereg2.__file__),
                 sorted(hybrids, key=lambda h: (h['name'], int(h['step']), int(h['early_step']), h['band'])), note)
    groups = [(k, sorted(v, key=lambda r: r['seed'])) for k, v in sorted(
        ((f"d = {d:g}, sigma = {s:g}", rs) for (d, s), rs in by_setting.items()), key=lambda kv: kv[0])]
    fig_onsets(groups, fig_dir, dpi)
    for r in by_setting.get((1.0, 1.0), []):
        fig_where(r, fig_dir, dpi)
    print(f"wrote {results}/claims.md and {results}/probes.csv\n\nv2 (prereg2.py) verdicts:")
    for c, _, sd, v in rows:
        print(f"  {c}: {v}; {sd}")
