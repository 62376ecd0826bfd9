"""
The paper's claims C1-C6 and its three phases, as data: each claim is one function of the runs (as
plot_figures.load_runs returns them) and its thresholds, returning a row (claim, statistic, verdict). No plotting;
the only file written is the claims table (write_claims).

Phase rule, per checkpoint (the paper, Sec. 3: A = no latent structure, B = a quasi-2D manifold that is disordered,
C = an ordered 2D manifold with accurate generation), from the deterministic manifold measures of analyze.py:
  C  accuracy >= frac x oracle accuracy, probe_r2 >= probe_c and trust >= trust_c  (ordered and accurate)
  B  not C, and id_dim <= dim_b                                                       (low-dimensional, disordered)
  A  otherwise: id_dim > dim_b                                                        (no low-dimensional structure)
The thresholds th = dict(frac, probe_c, trust_c, dim_b) are settings of plot_figures.py, set from measured runs
(results/NOTES.md, section 7).
"""
import os

import numpy as np
from scipy.stats import pearsonr, spearmanr

def learned(m, frac):
    """Per checkpoint: accuracy >= frac x the oracle accuracy (Alg. 1's own ceiling on the same labels)."""
    return m['acc'] >= frac * m['oracle_acc']


def phase_labels(m, th):
    """'A', 'B' or 'C' for each checkpoint of one split `m` (arrays over steps), by the rule in the module docstring."""
    c = learned(m, th['frac']) & (m['probe_r2'] >= th['probe_c']) & (m['trust'] >= th['trust_c'])
    b = ~c & (m['id_dim'] <= th['dim_b'])
    return np.where(c, 'C', np.where(b, 'B', 'A'))


def failure_fractions(m):
    """Per checkpoint: fraction of failed canvases (no bump, several, or canvas-filling) and of single bumps in the
    wrong place (the paper's failure modes i and ii)."""
    n = m['n_none'] + m['n_one'] + m['n_many']
    failed = (m['n_none'] + m['n_many'] + m['n_fill']) / n
    wrong_single = (m['n_one'] - m['n_fill']) / n - m['acc']
    return failed, wrong_single


def fig3_picks(m, th):
    """The three checkpoints Fig. 3 shows, as (index, title) for A, B, C. A: the A checkpoint with the most failed
    canvases; B: the B checkpoint with the most single bumps in the wrong place; C: the first C checkpoint. A phase
    the rule did not find is shown by the nearest stand-in and titled so."""
    labels = phase_labels(m, th)
    failed, wrong = failure_fractions(m)
    best = len(m['acc']) - 1 - int(np.argmax(m['acc'][::-1]))
    picks = []
    for phase, score, fallback in (('A', failed, 0), ('B', wrong, len(labels) // 2), ('C', m['acc'], best)):
        idx = np.nonzero(labels == phase)[0]
        if len(idx):
            i = int(idx[0]) if phase == 'C' else int(idx[np.argmax(score[idx])])
            picks.append((i, f"phase {phase}: step {m['step'][i]}"))
        elif phase == 'C':
            picks.append((fallback, f"best checkpoint, step {m['step'][fallback]}\n(phase C not reached: acc "
                                    f"{m['acc'][fallback]:.2f} of oracle {m['oracle_acc'][fallback]:.2f})"))
        else:
            picks.append((fallback, f"step {m['step'][fallback]} (no phase-{phase} checkpoint)"))
    return picks


def steps_to(m, frac):
    """First step whose accuracy reaches frac x the oracle accuracy (inf when none does)."""
    hit = np.nonzero(learned(m, frac))[0]
    return float(m['step'][hit[0]]) if len(hit) else np.inf


def verdict(ok, bad=False):
    return 'confirmed' if ok else ('contradicted' if bad else 'not confirmed')


def c1_phases(run, th):
    """C1: the run passes through A, B and C in that order (first A before first B before first C)."""
    m = run['id']
    labels = phase_labels(m, th)
    first = {p: int(np.nonzero(labels == p)[0][0]) if (labels == p).any() else None for p in 'ABC'}
    strip = ' '.join(f"{s}:{p}" for s, p in zip(m['step'], labels))
    stat = f"{run['name']}: phases by step {strip}"
    if first['C'] is None:
        i = int(np.argmax(m['acc']))
        return ('C1 phases A -> B -> C in order', stat + f"; best acc {m['acc'][i]:.2f} of oracle {m['oracle_acc'][i]:.2f} "
                f"at step {m['step'][i]} (probe R^2 {m['probe_r2'][i]:.2f}, trust {m['trust'][i]:.2f})",
                'not confirmed (phase C not reached)')
    ordered = first['A'] is not None and first['B'] is not None and first['A'] < first['B'] < first['C']
    missing = [p for p in 'AB' if first[p] is None]
    return ('C1 phases A -> B -> C in order', stat, verdict(ordered) + (f" (no phase-{'/'.join(missing)} checkpoint)" if missing else ''))


def c2_acc_tracks_rep(runs, key):
    """C2: across the (increment, step) cells of Fig. 4, accuracy rises with the representation score `key`."""
    acc = np.concatenate([r['id']['acc'] for r in runs])
    rep = np.concatenate([r['id'][key] for r in runs])
    flat = 'accuracy' if np.ptp(acc) == 0 else key if np.ptp(rep) == 0 else None
    if flat:  # a constant score (e.g. nothing learned yet): no correlation to speak of
        return (f"C2 accuracy tracks {key} across (increment, step) cells", f"{flat} is the same in all {len(acc)} cells",
                'not testable (a constant score)')
    rho, p = spearmanr(acc, rep)
    return (f"C2 accuracy tracks {key} across (increment, step) cells", f"Spearman rho {rho:.2f} (p {p:.1g}, {len(acc)} cells)",
            verdict(rho >= 0.5 and p < 0.05, rho < 0 and p < 0.05))


def c3_increment(runs, frac):
    """C3: smaller increments reach the accuracy threshold in fewer steps (a run that never does counts as slowest)."""
    incs = [r['dx'] for r in runs]
    reach = [steps_to(r['id'], frac) for r in runs]
    stat = f"steps to acc >= {frac:g} x oracle: " + ', '.join(f"d={d:g}: {'never' if np.isinf(s) else int(s)}" for d, s in zip(incs, reach))
    if not np.isfinite(reach).any():
        return ('C3 smaller increments reach the threshold in fewer steps', stat, 'not testable (no run reached the threshold)')
    if len(set(reach)) == 1:
        return ('C3 smaller increments reach the threshold in fewer steps', stat + ' (all at the same checkpoint)', 'not confirmed')
    rho = spearmanr(incs, reach)[0]
    return ('C3 smaller increments reach the threshold in fewer steps', stat + f"; Spearman(increment, steps) {rho:.2f}",
            verdict(rho >= 0.5, rho <= -0.5))


def c4_coupled(runs, key):
    """C4: with imbalanced increments, the x and y scores of `key` (r2 or probe_r2) move together, and y accuracy is
    not below x accuracy (the paper: y is learned no worse despite 10x fewer distinct y values)."""
    parts, ok = [], True
    for r in runs:
        m = r['id']
        kx, ky = m[key + '_x'], m[key + '_y']
        corr = pearsonr(kx, ky)[0] if np.ptp(kx) > 0 and np.ptp(ky) > 0 else np.nan
        gap = float(np.mean(m['acc_y'] - m['acc_x']))
        ok &= bool(corr >= 0.8) and gap >= -0.02
        parts.append(f"dx={r['dx']:g}, dy={r['dy']:g}: Pearson({key}_x, {key}_y) {corr:.2f}, mean(acc_y - acc_x) {gap:+.3f}")
    return (f"C4 imbalanced increments: {key}_x and {key}_y coupled, y accuracy not below x", '; '.join(parts), verdict(ok))


def c5_sigma(groups, frac):
    """C5: within each increment, sigma changes the steps to the threshold by at most 2x (no strong effect)."""
    parts, ok, reached = [], True, False
    for label, rs in groups:
        reach = np.array([steps_to(r['id'], frac) for r in rs])
        fin = reach[np.isfinite(reach)]
        reached |= len(fin) > 0
        ok &= len(fin) == len(reach) and len(fin) > 0 and fin.max() <= 2 * fin.min()
        parts.append(f"{label}steps " + ', '.join(f"s={r['sigma']:g}: {'never' if np.isinf(s) else int(s)}" for r, s in zip(rs, reach)))
    return ('C5 sigma has no strong effect on steps to the threshold (within 2x)', '; '.join(parts),
            verdict(ok) if reached else 'not testable (no run reached the threshold)')


def c6_hole(runs, frac):
    """C6: models trained with a hole generalise into it: final OOD accuracy within 0.1 of ID accuracy, ID learned."""
    parts, ok, learned_all = [], True, True
    for r in runs:
        i, o = r['id'], r['ood']
        learned_all &= bool(learned(i, frac)[-1])
        ok &= o['acc'][-1] >= i['acc'][-1] - 0.1
        parts.append(f"hole [{r['hole'][0]:g}, {r['hole'][1]:g}]: final acc ID {i['acc'][-1]:.2f} (oracle {i['oracle_acc'][-1]:.2f}), "
                     f"OOD {o['acc'][-1]:.2f} (oracle {o['oracle_acc'][-1]:.2f}); R^2 ID {i['r2'][-1]:.2f}, OOD {o['r2'][-1]:.2f}; "
                     f"probe R^2 ID {i['probe_r2'][-1]:.2f}, OOD {o['probe_r2'][-1]:.2f}")
    return ('C6 out-of-distribution accuracy in the hole within 0.1 of in-distribution', '; '.join(parts),
            verdict(ok and learned_all) + ('' if learned_all else ' (in-distribution not learned: below the threshold)'))


def all_claims(f3, f4, f5, f8, f9, th):
    """The claims table's rows for the runs assigned to each figure (a figure without runs gives no row)."""
    rows = [c1_phases(f3, th)] if f3 else []
    if len(f4) >= 2:
        rows += [c2_acc_tracks_rep(f4, 'r2'), c2_acc_tracks_rep(f4, 'probe_r2'), c3_increment(f4, th['frac'])]
    if f5:
        rows += [c4_coupled(f5, 'r2'), c4_coupled(f5, 'probe_r2')]
    if f8:
        rows.append(c5_sigma(f8, th['frac']))
    if f9:
        rows.append(c6_hole(f9, th['frac']))
    return rows


def write_claims(path, sweep_dir, pre, rows, runs, th):
    """The pre-registered claims (prereg.py) with the earlier rule's verdict beside each, the earlier rule's table,
    then every run with its untrained (step 0) and final metrics and its phases by step."""
    import prereg
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    keys = ('acc', 'oracle_acc', 'r2', 'umap_r2_sd', 'probe_r2', 'trust', 'id_dim')
    old = {}
    for c, _, v in rows:
        old.setdefault(c.split()[0], []).append(v)
    with open(path + '.tmp', 'w') as f:
        f.write(f"# Claims of arXiv 2402.03305 against the runs in `{sweep_dir}`\n\nWritten by `python plot_figures.py "
                f"--sweep_dir={sweep_dir}` from the runs' metrics.npz and the runs kept in metrics.csv beside this file.\n\n"
                f"## Pre-registered analysis (prereg.py; README, \"Results\")\n\nEvery seed of a setting "
                f"counts; a verdict rests on the confirmatory seeds (>= {prereg.CONFIRMATORY}) when there are any. Intervals: "
                f"bootstrap 95% over seeds and evaluation labels ({prereg.N_BOOT} replicates). Learned: accuracy >= "
                f"{prereg.FRAC:g} x oracle. Phases: A failed >= {prereg.FAIL_A:g}; B single-but-wrong >= failed; C learned. "
                f"Manifold ordered: order score >= {prereg.ORDERED:g}; disordered: < {prereg.DISORDERED:g}.\n\n"
                "| claim | statistic | seeds | verdict | earlier rule's verdict |\n|---|---|---|---|---|\n")
        f.writelines(f"| {c} | {st} | {sd} | {v} | {'; '.join(old.get(c.split()[0].rstrip('b'), ['']))} |\n" for c, st, sd, v in pre)
        f.write(f"\n## The earlier rule (claims.py; one seed per setting, the best final accuracy)\n\n'Learned' means "
                f"accuracy >= {th['frac']:g} x the oracle accuracy. Phases: C = learned, probe R^2 >= {th['probe_c']:g} and "
                f"trust >= {th['trust_c']:g}; B = not C and TwoNN dimension <= {th['dim_b']:g}; A = otherwise.\n\n"
                "| claim | statistic | verdict |\n|---|---|---|\n")
        f.writelines(f"| {c} | {s} | {v} |\n" for c, s, v in rows)
        f.write("\n## Runs: untrained (step 0) -> final\n\n| run | seed | steps | " + ' | '.join(keys) + " | used |\n|"
                + '---|' * (len(keys) + 4) + "\n")
        for r in runs:
            m = r['id']
            cells = ' | '.join(f"{m[k][0]:.2f} -> {m[k][-1]:.2f}" for k in keys)
            f.write(f"| {r['name']} | {r['seed']} | {m['step'][-1]} | {cells} | {'yes' if r['chosen'] else ''} |\n")
        f.write("\n## Phases per run (and inside the hole: ood)\n\nBy behaviour (pre-registered: 0 untrained, A, B, C, - none) with the "
                "order score in brackets, and by the earlier rule.\n\n| run | split | behaviour [order] by step | earlier rule by step | "
                "first step learned | final acc (oracle) |\n|---|---|---|---|---|---|\n")
        for r in runs:
            for split in ('id', 'ood'):
                if split in r:
                    m = r[split]
                    strip = ' '.join(f"{s}:{p}" for s, p in zip(m['step'], phase_labels(m, th)))
                    beh = ' '.join(f"{s}:{p}[{o:.2f}]" for s, p, o in zip(m['step'], prereg.behaviour(m)[3], prereg.order_score(m)))
                    first = steps_to(m, th['frac'])
                    f.write(f"| {r['name']} | {split} | {beh} | {strip} | {'never' if first == np.inf else int(first)} | "
                            f"{m['acc'][-1]:.3f} ({m['oracle_acc'][-1]:.3f}) |\n")
    os.replace(path + '.tmp', path)
