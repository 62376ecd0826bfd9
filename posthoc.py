"""
Readings of the second study (prereg2.py) added after its interim analysis: NOT pre-registered, every row says so.
A skeptical re-analysis of the committed tables asked for them (how long the lag is once the censoring is kept, the
same measure on both sides, the noise levels where the order holds, layer 4 raw and floor-subtracted); prereg2.py
itself stays as it was committed. Pure functions of study runs (r['id']: sample metrics on prereg2.SAMPLE_GRID;
r['probe']: probes on prereg2.PROBE_GRID), as study.load and prereg2 take them.
"""
import numpy as np

import prereg2
import prereg3

LABEL = 'descriptive: added after the interim (not pre-registered)'


def _k_dense(probe, t=prereg2.T_MID):
    j = prereg2.t_index(probe['ts'], t)
    return np.asarray(probe['step']), np.asarray(probe['acc_q'])[:, j], np.asarray(probe['oracle_q'])


def interpolated(r):
    """K (dense probes), P and S (sample grid): the linearly interpolated crossings of FRAC x ceiling (inf: never)."""
    m = r['id']
    return dict(K=prereg3.crossing(*_k_dense(r['probe'])), P=prereg3.crossing(m['step'], m['pacc'], m['oracle_pacc']),
                S=prereg3.crossing(m['step'], m['acc'], m['oracle_acc']))


def lag_reading(runs, a, b):
    """(statistic text) of the lag b - a ('K', 'P', 'S') over the runs: sign counts of prereg2's intervals, the
    censored median [median of lower ends, median of upper ends] with its bootstrap interval, and the median of the
    interpolated-crossing lags."""
    ons = prereg2.onsets(runs)
    lags = [prereg2.lag(o[a], o[b]) for o in ons]
    (lo, hi), (blo, bhi) = prereg3.censored_median([x[:2] for x in lags])
    xs = [interpolated(r) for r in sorted(runs, key=lambda r: r['seed'])]
    ix = [x[b] - x[a] for x in xs]
    width = np.median([h - l for l, h, _ in lags])
    return (f"{b} - {a}: {sum(x[2] > 0 for x in lags)} positive, {sum(x[2] < 0 for x in lags)} negative, "
            f"{sum(x[2] == 0 for x in lags)} undetermined of {len(lags)}; median lag in [{prereg3.num(lo)}, "
            f"{prereg3.num(hi)}] steps (censoring kept; 95% bootstrap {prereg3.num(blo)} to {prereg3.num(bhi)}; "
            f"per-seed intervals {prereg3.num(width)} steps wide at the median); interpolated crossings: median "
            f"{prereg3.num(np.median(ix))} (per seed {', '.join(prereg3.num(v) for v in ix)})")


def by_noise_level(runs):
    """Per probe t: the order of the one-step onset at t (on the sample grid, as the primary reads K) against P and
    against S: positive (the samples after), negative, undetermined."""
    parts = []
    for t in runs[0]['probe']['ts']:
        signs = {'P': [], 'S': []}
        for r in runs:
            k = prereg2.knows_where(r['probe'], int(t))
            for key, s in (('P', prereg2.draws_right(r['id'], 'pacc')), ('S', prereg2.draws_right(r['id']))):
                signs[key].append(prereg2.lag(k, s)[2])
        parts.append(f"t={int(t)}: " + ', '.join(f"{k} - K {sum(x > 0 for x in v)}+/{sum(x < 0 for x in v)}-/{sum(x == 0 for x in v)}?"
                                                   for k, v in signs.items()))
    return '; '.join(parts)


def layer4(runs):
    """L4 read again: the gain raw and minus the untrained floor, at the last probe checkpoint and before K, and what
    x0_hat alone decodes at the last checkpoint (the cap on any gain)."""
    raw_f, raw_b, floors, x0 = [], [], [], []
    for r in runs:
        pr = r['probe']
        j = prereg2.t_index(pr['ts'])
        floors.append(float(pr['dec_q_l4_gain'][pr['step'] == 0, j][0]))
        raw_f.append(float(pr['dec_q_l4_gain'][-1, j]))
        x0.append(float(pr['dec_q_x0'][-1, j]))
        before = (pr['step'] > 0) & (pr['step'] <= prereg2.knows_where(pr, grid=None)[0])
        if before.any():
            raw_b.append(float(pr['dec_q_l4_gain'][before, j].mean()))
    f = lambda xs: ', '.join(f"{x:+.2f}" for x in xs)
    return (f"t = {prereg2.T_MID}: x0_hat alone decodes the label at R^2 {f(x0)} at the last checkpoint, so layer 4's gain "
            f"there is capped near 0; raw gain at the last checkpoint {f(raw_f)}; untrained floor {f(floors)}; raw gain "
            f"before K {f(raw_b)} ({sum(x > 0 for x in raw_b)} of {len(raw_b)} positive)")


def frac_sensitivity(runs, fracs=(0.8, 0.85, 0.95)):
    """The primary's sign counts (S - K on v2's grid) with the "reached" threshold FRAC at other values than the
    registered 0.9 (prereg2.FRAC is set for the call and restored)."""
    parts, keep = [], prereg2.FRAC
    try:
        for f in fracs:
            prereg2.FRAC = f
            signs = [o['lag'][2] for o in prereg2.onsets(runs)]
            parts.append(f"FRAC {f:g}: {sum(x > 0 for x in signs)}+/{sum(x < 0 for x in signs)}-/{sum(x == 0 for x in signs)}?")
    finally:
        prereg2.FRAC = keep
    return 'the primary S - K at other thresholds: ' + '; '.join(parts)


def c3_in_steps(small, large, level=0.98):
    """C3 in the units its margin was argued in: per seed, the interpolated draws-right onset (Alg. 1) of d = 0.1
    minus that of d = 1, mean with a t-interval at `level` (v2's interim level); the margin's onset shift, a tenth of
    training, is 1,600 steps here."""
    a = {r['seed']: interpolated(r)['S'] for r in small if r['seed'] >= prereg2.CONFIRMATORY}
    b = {r['seed']: interpolated(r)['S'] for r in large if r['seed'] >= prereg2.CONFIRMATORY}
    seeds = sorted(set(a) & set(b))
    diffs = [b[s] - a[s] for s in seeds if np.isfinite(a[s]) and np.isfinite(b[s])]
    m, (lo, hi) = prereg2.t_interval(diffs, level)
    return ('C3 in steps', f"interpolated draws-right onset, d = 1 minus d = 0.1: {m:+.0f} [{100 * level:.0f}% {lo:+.0f}, "
            f"{hi:+.0f}] steps over {len(diffs)} seeds (positive: d = 0.1 earlier); the margin's shift: 1,600 steps",
            f"seeds {','.join(map(str, seeds))}", LABEL)


def rows(runs):
    """The readings as claims rows (claim, statistic, seeds, label) on the d = 1 runs of the confirmatory seeds."""
    runs = sorted((r for r in runs if r['seed'] >= prereg2.CONFIRMATORY), key=lambda r: r['seed'])
    if not runs:
        return []
    seeds = f"seeds {','.join(str(r['seed']) for r in runs)}"
    return [('Primary at other thresholds', frac_sensitivity(runs), seeds, LABEL),
            ('Lag S - K, censoring kept', lag_reading(runs, 'K', 'S'), seeds, LABEL),
            ('Lag P - K (one measure on both sides)', lag_reading(runs, 'K', 'P'), seeds, LABEL),
            ("Lag S - P (Alg. 1's strictness)", lag_reading(runs, 'P', 'S'), seeds, LABEL),
            ('Order by noise level', by_noise_level(runs), seeds, LABEL),
            ('L4 raw and floor-subtracted', layer4(runs), seeds, LABEL)]
