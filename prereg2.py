"""
The second pre-registration (v2): *where before how*. Does the network know where the bump goes (its one-step
prediction of the clean image follows the label) before its samples come out right, and what that says about the
paper's claims C1-C6. Committed with its tests (test_all.py, "prereg2") before any seed >= CONFIRMATORY was run; seeds
0-2 were seen in the exploratory phase (the study-explore preset) and never count. Changing anything here after a
confirmatory seed was seen is a new analysis: a new commit and new seeds. Pure functions of the runs, no I/O.

Inputs: runs as study.load gives them: r['id'] (per sample checkpoint: step, acc, oracle_acc, pacc, oracle_pacc,
single, ok_x/ok_y/oracle_ok_x/oracle_ok_y/pok_x/pok_y per sample) and r['probe'] (per probe checkpoint: step, ts,
acc_q (checkpoints, ts), oracle_q, dec_q_l4_gain (checkpoints, ts)).

Onsets (interval-censored: each lies in (previous checkpoint, this checkpoint]; right-censored at (last, inf) when
never reached; the first crossing counts):
  knows where  K: the first trained probe checkpoint with acc_q at t = T_MID >= FRAC x oracle_q (the one-step prediction
                  x0_hat, given a label drawn independently of the image, lands within 1 px of the label; oracle_q: the
                  same locator on clean renders of those labels)
  draws right  S: the first trained sample checkpoint with Alg. 1 accuracy >= FRAC x its oracle (the v1 rule)
Primary endpoint: the lag S - K, per seed in (S_lo - K_hi, S_hi - K_lo). A seed is positive (where before how) when
S_lo >= K_hi, negative when S_hi <= K_lo, undetermined otherwise. Test: one-sided exact sign tests over ALL analysed
seeds (an undetermined seed counts against both directions). Sequential plan: the interim analysis uses the first
N_INTERIM confirmatory seeds (by seed number) at ALPHA_INTERIM, the final one the first N_FINAL at ALPHA_FINAL
(Bonferroni split of 0.05); the study stops at the interim when its verdict is decided. Effect size: the median
of the per-seed lag midpoints (a right-censored lag at its lower bound) with a bootstrap interval over seeds.
C1 (the paper's words: A no latent structure, B a 2D manifold of disordered states with one bump in the wrong place,
  C ordered), per seed: behavioural phases (prereg.behaviour, v1) on the sample checkpoints; the seed shows the
  paper's pattern when A, B and C are each observed, first in that order, the probe says "does not know where" at
  the median B checkpoint and "knows where" at the first C checkpoint. Confirmed when every seed shows it.
C2 (representation tracks performance, as timing): no seed has a negative lag (draws right before it knows where).
C3 (smaller d faster) and C5 (sigma matters little): per-seed paired differences of AUC(acc/oracle) by Alg. 1 (the
  paper's measure; the position-only AUC is reported beside), t-interval at 1 - 2 alpha of the stage (TOST), margin
  MARGIN. Verdicts: confirmed (lower end > 0), the opposite direction (upper end < 0), equivalent within the margin
  (the interval inside (-MARGIN, MARGIN)), inconclusive. For C5 the paper's claim is the equivalence.
  MARGIN: the paper gives no number; its Fig. 4 calls d = 0.1 faster than d = 1 over 51 checkpoints of 320,000
  steps. The smallest difference we take a reader of that figure to call "faster" is an onset earlier by a tenth of
  training (5 of its columns); for step-shaped accuracy curves an onset shift of a fraction f of training is an AUC
  difference of f, so MARGIN = 0.10. It was fixed before any confirmatory seed, not from what our seeds resolve.
L4 (does layer 4 hold what x0_hat does not): per seed, dec_q_l4_gain at T_MID minus its value at step 0 (the
  untrained floor, same inputs), (final) at the last probe checkpoint and (before K) averaged over the trained probe
  checkpoints before the knows-where interval (seeds that know where at their first trained checkpoint drop out);
  mean with a 95% t-interval; "adds" when its lower end > GAIN_MIN, "adds nothing measurable" when its upper end <
  GAIN_MIN (the finding is then behavioural), else inconclusive. The label also reaches layer 4 through every
  block, so a gain says layer 4 carries the label in a form x0_hat does not; it does not by itself show a spatial map.
Where, by noise level (descriptive, no verdict): per t of the probes, each seed's knows-where onset at that t.
C4 and C6: v1's statistics (prereg.c4, prereg.c6) on the confirmatory seeds.
"""
import numpy as np
from scipy.stats import binom, t as student_t

import prereg

FRAC = 0.9             # "reached": >= FRAC x the measure's own ceiling (the same relative threshold on both curves)
T_MID = 300            # the probes' mid-noise timestep (abar 0.39: signal and noise of similar size)
CONFIRMATORY = 3       # seeds >= this are confirmatory (0-2: exploratory)
N_INTERIM = 8          # confirmatory seeds at the interim analysis (seeds 3-10)
N_FINAL = 16           # ... at the final one (seeds 3-18)
ALPHA_INTERIM = 0.01   # error rate spent at the interim
ALPHA_FINAL = 0.04     # ... at the final (0.01 + 0.04 = 0.05)
MARGIN = 0.10          # C3/C5 equivalence margin in AUC of acc/oracle (docstring: why)
GAIN_MIN = 0.05        # L4: the smallest R^2 gain over the untrained floor that counts as layer 4 adding something
N_BOOT = 2000          # bootstrap replicates of the median lag
BOOT_SEED = 0


# --- onsets ------------------------------------------------------------------------------------------------------
def first_reached(steps, hit):
    """(lo, hi]: the interval of the first trained checkpoint where hit is True; (last step, inf) when never.
    steps ascending, step 0 (the untrained network) never counts."""
    steps, hit = np.asarray(steps), np.asarray(hit, bool)
    for i in range(len(steps)):
        if steps[i] > 0 and hit[i]:
            return (float(steps[i - 1]) if i else 0.0, float(steps[i]))
    return (float(steps[-1]), np.inf)


def t_index(ts, t=T_MID):
    ts = list(np.asarray(ts).tolist())
    if t not in ts:
        raise ValueError(f"the probes lack t = {t} (probe_ts {ts}): rerun probe.py with it")
    return ts.index(t)


def knows_where(probe, t=T_MID):
    j = t_index(probe['ts'], t)
    return first_reached(probe['step'], probe['acc_q'][:, j] >= FRAC * np.asarray(probe['oracle_q']))


def draws_right(m):
    return first_reached(m['step'], m['acc'] >= FRAC * m['oracle_acc'])


def lag(k, s):
    """(lo, hi, sign): the lag S - K's interval and +1 (S after K for sure), -1 (before for sure) or 0."""
    lo, hi = s[0] - k[1], s[1] - k[0]
    sign = 1 if s[0] >= k[1] else -1 if s[1] <= k[0] else 0
    return lo, hi, sign


def midpoint(lo, hi):
    return lo if not np.isfinite(hi) else (lo + hi) / 2


# --- the sequential plan -------------------------------------------------------------------------------------------
def stage(seeds):
    """(name, alpha, seeds analysed) for the confirmatory seeds at hand: the first N_INTERIM or N_FINAL of them."""
    conf = sorted(s for s in set(seeds) if s >= CONFIRMATORY)
    if len(conf) >= N_FINAL:
        return 'final', ALPHA_FINAL, conf[:N_FINAL]
    if len(conf) >= N_INTERIM:
        return 'interim', ALPHA_INTERIM, conf[:N_INTERIM]
    return 'incomplete', None, conf


def sign_test(signs):
    """One-sided exact sign tests: (p that positives are too many for chance, p for negatives); n = every seed."""
    signs = np.asarray(signs)
    n = len(signs)
    return float(binom.sf((signs > 0).sum() - 1, n, 0.5)), float(binom.sf((signs < 0).sum() - 1, n, 0.5))


def t_interval(x, level):
    """Mean and its two-sided t-interval at `level` (nan interval for fewer than 2 values)."""
    x = np.asarray(x, float)
    m = float(x.mean()) if len(x) else np.nan
    if len(x) < 2:
        return m, (np.nan, np.nan)
    h = student_t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return m, (m - h, m + h)


def four_way(lohi, margin=MARGIN):
    lo, hi = lohi
    if not np.isfinite(lo):
        return 'not testable'
    if lo > 0:
        return 'confirmed' + (' (and within the margin)' if hi < margin else '')
    if hi < 0:
        return 'the opposite direction' + (' (within the margin)' if lo > -margin else '')
    if -margin < lo and hi < margin:
        return f'equivalent within +-{margin:g}'
    return 'inconclusive'


# --- the endpoints -----------------------------------------------------------------------------------------------
def onsets(runs):
    """Per run (sorted by seed): seed, K, S, lag (lo, hi, sign), and whether S stays reached to the last checkpoint."""
    out = []
    for r in sorted(runs, key=lambda r: r['seed']):
        k, s = knows_where(r['probe']), draws_right(r['id'])
        m = r['id']
        ok = m['acc'] >= FRAC * m['oracle_acc']
        stays = bool(np.isfinite(s[1]) and ok[m['step'] >= s[1]].all())
        out.append(dict(seed=r['seed'], K=k, S=s, lag=lag(k, s), stays=stays))
    return out


def primary(runs):
    """The primary endpoint on the d = 1, sigma = 1 runs: (statistic text, seeds text, verdict, per-seed onsets)."""
    st, alpha, seeds = stage([r['seed'] for r in runs])
    use = [r for r in runs if r['seed'] in seeds]
    ons = onsets(use)
    signs = [o['lag'][2] for o in ons]
    show = lambda iv: f"({iv[0]:.0f}, {iv[1]:.0f}]" if np.isfinite(iv[1]) else f"(>{iv[0]:.0f}, never)"
    per = '; '.join(f"seed {o['seed']}: K {show(o['K'])}, S {show(o['S'])}" for o in ons)
    if not ons:
        return 'no confirmatory seeds yet', 'seeds: none', 'incomplete (0 of %d interim seeds)' % N_INTERIM, ons
    mids = np.array([midpoint(*o['lag'][:2]) for o in ons])
    rng = np.random.default_rng(BOOT_SEED)
    reps = np.median(mids[rng.integers(0, len(mids), (N_BOOT, len(mids)))], axis=1)
    lohi = np.quantile(reps, [0.025, 0.975])
    pp, pn = sign_test(signs)
    stat = (f"lag S - K: {sum(s > 0 for s in signs)} positive, {sum(s < 0 for s in signs)} negative, "
            f"{sum(s == 0 for s in signs)} undetermined of {len(signs)}; sign test p (where first) {pp:.3g}, "
            f"(how first) {pn:.3g}; median lag {np.median(mids):+.0f} steps [bootstrap 95% {lohi[0]:+.0f}, {lohi[1]:+.0f}]; {per}")
    seeds_txt = f"seeds {','.join(map(str, seeds))} ({st}" + (f", alpha {alpha:g})" if alpha else ")")
    if st == 'incomplete':
        return stat, seeds_txt, f'incomplete ({len(seeds)} of {N_INTERIM} interim seeds): no verdict', ons
    v = ('confirmed: where before how' if pp < alpha else 'the opposite: how before where' if pn < alpha else
         'inconclusive: continue to the final analysis' if st == 'interim' else 'inconclusive')
    return stat, seeds_txt, v, ons


def c1(runs):
    """C1 per seed: behavioural phases and the probe's reading (see the module docstring)."""
    st, _, seeds = stage([r['seed'] for r in runs])
    parts, shown, b_seen = [], 0, 0
    for r in sorted((r for r in runs if r['seed'] in seeds), key=lambda r: r['seed']):
        m, pr = r['id'], r['probe']
        *_, phase = prereg.behaviour(m)
        first = {p: (int(m['step'][phase == p][0]) if (phase == p).any() else None) for p in 'ABC'}
        j = t_index(pr['ts'])
        def knows(step):
            i = int(np.searchsorted(pr['step'], step))
            return bool(pr['acc_q'][i, j] >= FRAC * np.asarray(pr['oracle_q'])[i]) if i < len(pr['step']) and pr['step'][i] == step else None
        b_steps = m['step'][phase == 'B']
        b_knows = knows(int(b_steps[(len(b_steps) - 1) // 2])) if len(b_steps) else None  # the (lower) median B checkpoint
        c_knows = knows(first['C']) if first['C'] is not None else None
        order = None not in first.values() and first['A'] < first['B'] < first['C']
        ok = bool(order and b_knows is False and c_knows is True)
        shown += ok
        b_seen += first['B'] is not None
        obs = ', '.join(f"{p} {'at ' + str(first[p]) if first[p] is not None else 'not observed'}" for p in 'ABC')
        parts.append(f"seed {r['seed']}: {obs}; knows where in B: {b_knows}, at first C: {c_knows}")
    n = len(parts)
    if st == 'incomplete':
        return 'C1', '; '.join(parts) or 'no confirmatory seeds', f"{n} seeds ({st})", 'incomplete: no verdict'
    v = 'confirmed' if shown == n else f'partly ({shown} of {n} seeds)' if shown else 'not observed'
    return 'C1', f"B observed in {b_seen} of {n} seeds; " + '; '.join(parts), f"{n} seeds ({st})", v


def c2(ons, st):
    neg = [o['seed'] for o in ons if o['lag'][2] < 0]
    stat = f"seeds that draw right before they know where: {len(neg)} of {len(ons)}" + (f" ({','.join(map(str, neg))})" if neg else '')
    if st == 'incomplete':
        return 'C2', stat, f"{len(ons)} seeds ({st})", 'incomplete: no verdict'
    return 'C2', stat, f"{len(ons)} seeds ({st})", 'confirmed' if not neg else f'not confirmed ({len(neg)} seeds)'


def auc(m, steps, key='acc'):
    """Normalised area under acc/oracle (key 'acc': Alg. 1; 'pacc': position only) on `steps`."""
    i = np.searchsorted(m['step'], steps)
    y = m[key][i] / np.maximum(m['oracle_' + key][i], 1e-9)
    return float(np.trapezoid(y, steps) / (steps[-1] - steps[0]))


def paired(a_runs, b_runs, name, what, paper_equivalence=False):
    """C3/C5: per seed AUC(a) - AUC(b) on the checkpoints both have, TOST at the stage's alpha."""
    st, alpha, seeds = stage(sorted({r['seed'] for r in a_runs} & {r['seed'] for r in b_runs}))
    a = {r['seed']: r for r in a_runs if r['seed'] in seeds}
    b = {r['seed']: r for r in b_runs if r['seed'] in seeds}
    diffs, pdiffs = [], []
    for s in seeds:
        steps = np.array(sorted(set(a[s]['id']['step'].tolist()) & set(b[s]['id']['step'].tolist())))
        diffs.append(auc(a[s]['id'], steps) - auc(b[s]['id'], steps))
        pdiffs.append(auc(a[s]['id'], steps, 'pacc') - auc(b[s]['id'], steps, 'pacc'))
    level = 1 - 2 * (alpha or 0.05)
    d, lohi = t_interval(diffs, level)
    pd, plohi = t_interval(pdiffs, level)
    stat = (f"{what}: AUC(acc/oracle) difference {d:+.3f} [{100 * level:.0f}% {lohi[0]:+.3f}, {lohi[1]:+.3f}] over "
            f"{len(diffs)} paired seeds (per seed: {', '.join(f'{x:+.3f}' for x in diffs)}); position-only {pd:+.3f} "
            f"[{plohi[0]:+.3f}, {plohi[1]:+.3f}]; margin +-{MARGIN:g}")
    seeds_txt = f"seeds {','.join(map(str, seeds))} ({st})"
    if st == 'incomplete':
        return name, stat, seeds_txt, 'incomplete: no verdict'
    v = four_way(lohi)
    if paper_equivalence:  # C5: the paper's claim is "no strong sigma effect": the interval inside the margin
        lo, hi = lohi
        v = (f'confirmed (equivalent within +-{MARGIN:g})' if -MARGIN < lo and hi < MARGIN else
             'contradicted (the first setting faster)' if lo > 0 else 'contradicted (the second setting faster)' if hi < 0 else 'inconclusive')
    return name, stat, seeds_txt, v


def l4_gain(runs, when):
    """L4 (when: 'final' or 'before K'): layer 4's decoding gain over x0_hat at T_MID above the untrained floor."""
    st, _, seeds = stage([r['seed'] for r in runs])
    g, used = [], []
    for r in sorted((r for r in runs if r['seed'] in seeds), key=lambda r: r['seed']):
        pr = r['probe']
        j = t_index(pr['ts'])
        floor = pr['dec_q_l4_gain'][pr['step'] == 0, j][0]
        if when == 'final':
            g.append(float(pr['dec_q_l4_gain'][-1, j] - floor))
        else:
            before = (pr['step'] > 0) & (pr['step'] <= knows_where(pr)[0])
            if not before.any():
                continue
            g.append(float(pr['dec_q_l4_gain'][before, j].mean() - floor))
        used.append(r['seed'])
    mean, lohi = t_interval(g, 0.95)
    where = 'last checkpoint' if when == 'final' else 'mean over the checkpoints before it knows where'
    stat = (f"R^2 of the label from x0_hat and layer 4 minus from x0_hat alone, t = {T_MID}, {where}, minus untrained: "
            f"{mean:+.3f} [95% {lohi[0]:+.3f}, {lohi[1]:+.3f}] (per seed {', '.join(f'{x:+.3f}' for x in g)})")
    name, seeds_txt = f'L4 ({when})', f"seeds {','.join(map(str, used))} ({st})"
    if st == 'incomplete':
        return name, stat, seeds_txt, 'incomplete: no verdict'
    v = ('adds (layer 4 carries label information x0_hat lacks)' if lohi[0] > GAIN_MIN else
         'adds nothing measurable: the finding is behavioural' if lohi[1] < GAIN_MIN else 'inconclusive')
    return name, stat, seeds_txt, v


def by_noise_level(runs):
    """Descriptive: per probe timestep, each seed's knows-where onset (the upper end of its interval) at that t."""
    st, _, seeds = stage([r['seed'] for r in runs])
    use = sorted((r for r in runs if r['seed'] in seeds), key=lambda r: r['seed'])
    if not use:
        return 'Where, by noise level', 'no confirmatory seeds yet', 'seeds: none', 'descriptive'
    parts = []
    for t in use[0]['probe']['ts']:
        on = [knows_where(r['probe'], int(t))[1] for r in use]
        med = np.median(on)
        parts.append(f"t={int(t)}: median {'never' if not np.isfinite(med) else f'{med:.0f}'} "
                     f"({sum(np.isfinite(on))} of {len(on)} seeds reach it)")
    return 'Where, by noise level', '; '.join(parts), f"seeds {','.join(str(r['seed']) for r in use)} ({st})", 'descriptive (no verdict)'


def all_claims(by_setting, imbal=(), holes=()):
    """Every v2 row (claim, statistic, seeds, verdict). by_setting: {(dx, sigma): [runs]} of the balanced runs;
    imbal, holes: v1-style runs for C4 and C6. Only confirmatory seeds are analysed."""
    conf = lambda rs: [r for r in rs if r['seed'] >= CONFIRMATORY]
    d1 = conf(by_setting.get((1.0, 1.0), []))
    rows = []
    stat, seeds_txt, v, ons = primary(d1)
    rows.append(('Primary: where before how (d = 1)', stat, seeds_txt, v))
    rows.append(c1(d1))
    rows.append(c2(ons, stage([r['seed'] for r in d1])[0]))
    if by_setting.get((0.1, 1.0)):
        rows.append(paired(conf(by_setting[(0.1, 1.0)]), d1, 'C3', 'd = 0.1 minus d = 1'))
    if by_setting.get((1.0, 0.5)):
        rows.append(paired(d1, conf(by_setting[(1.0, 0.5)]), 'C5', 'sigma = 1 minus sigma = 0.5 at d = 1', paper_equivalence=True))
    rows += [l4_gain(d1, 'final'), l4_gain(d1, 'before K'), by_noise_level(d1)]
    rng = np.random.default_rng(prereg.BOOT_SEED)
    if conf(list(imbal)):
        by_inc = {}
        for (dx, sg), rs in by_setting.items():
            if sg == 1.0:
                by_inc[dx] = conf(rs)
        groups = {}
        for r in conf(list(imbal)):
            groups.setdefault((r['dx'], r['dy']), []).append(r)
        rows += prereg.c4(groups, by_inc, rng)
    if conf(list(holes)):
        groups = {}
        for r in conf(list(holes)):
            groups.setdefault(r['hole'], []).append(r)
        rows += prereg.c6(groups, rng)
    return rows
