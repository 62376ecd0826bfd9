"""
The second pre-registration (v2): *where before how*. Does the network know where the bump goes (its one-step
prediction of the clean image follows the label) before its samples come out right, and what that says about the
paper's claims C1-C6. Committed with its tests (test_all.py, "prereg2") before any seed >= CONFIRMATORY was run; seeds
0-2 were seen in the exploratory phase (the study-explore preset) and never count. Changing anything here after a
confirmatory seed was seen is a new analysis: a new commit and new seeds. Pure functions of the runs, no I/O.

Inputs: runs as study.load gives them: r['id'] (per sample checkpoint: step, acc, oracle_acc, pacc, oracle_pacc,
single, ok_x/ok_y/oracle_ok_x/oracle_ok_y/pok_x/pok_y per sample) and r['probe'] (per probe checkpoint: step, ts,
acc_q (checkpoints, ts), oracle_q, dec_q_l4_gain (checkpoints, ts)).

The grid: every run must hold the planned checkpoints (SAMPLE_GRID for samples, PROBE_GRID for probes); a run
missing one is incomplete and its setting gets no verdict. Seeds: the interim analyses exactly seeds
CONFIRMATORY .. CONFIRMATORY + N_INTERIM - 1 (3-10), the final exactly 3-18; a missing or unfinished seed means
"incomplete", never a smaller sample; a seed twice in one setting is an error.
Onsets, both on SAMPLE_GRID (the same grid for both curves, so neither gets more chances to cross first), interval-
censored: each lies in (previous checkpoint, this checkpoint]; right-censored at (last, inf) when never reached; the
first crossing counts (whether it stays is reported as a sensitivity check):
  knows where  K: acc_q at t = T_MID >= FRAC x oracle_q (the one-step prediction x0_hat, given a label drawn
                  independently of the image, lands within 1 px of the label, by the position-only locator; oracle_q:
                  the locator on clean renders of those labels). T_MID was fixed from the issue's exploration and
                  seed 0's probes, before any confirmatory seed (at t = 400-500 it crosses ~1,000 steps earlier there).
  draws right  S: Alg. 1 accuracy >= FRAC x its oracle (the v1 rule; DDIM-100 samples, whatever the sampler is)
  places right P: the position-only accuracy of the samples >= FRAC x its oracle (the same locator as K)
Primary endpoint: the lag S - K, per seed in (S_lo - K_hi, S_hi - K_lo). A seed is positive (where before how) when
S_lo >= K_hi, negative when S_hi <= K_lo, undetermined otherwise, and undetermined whenever S or K is right-censored
(a run that never draws right, or never knows where, decides nothing). Test: one-sided exact sign tests over ALL the
stage's seeds (an undetermined seed counts against both directions). Sequential plan: interim at ALPHA_INTERIM,
final at ALPHA_FINAL (Bonferroni split of 0.05); the study stops at the interim when its verdict is decided.
Effect size: the median of the per-seed lag midpoints over the seeds with both onsets observed, with a bootstrap
interval over those seeds. The decomposition (secondary, same test): P - K (does the sampler *place* bumps later than
one step does?) and S - P (does drawing them right, intensity included, come later still?).
A caveat stated before the data: a model whose samples are right must denoise right at most t, so K <= S is close to
implied; the primary's sign is the weaker finding, its length (and the decomposition) the informative one.
C1 (the paper's words: A no latent structure, B a 2D manifold of disordered states with one bump in the wrong place,
  C ordered), per seed: behavioural phases (prereg.behaviour, v1) on the sample checkpoints; the seed shows the
  paper's pattern when A, B and C are each observed, first in that order, the probe says "does not know where" at
  the (lower) median B checkpoint and "knows where" at the first C checkpoint. Confirmed when every seed shows it.
C2 (representation tracks performance, as timing): no seed has a negative lag (draws right before it knows where),
  with at least half of the stage's seeds determined (else not testable).
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
  checkpoints up to the dense knows-where interval (every probe checkpoint; seeds that know where at their first
  trained checkpoint drop out; larger than (final) nearly by construction, since K is defined by x0_hat);
  mean with a 95% t-interval; "adds" when its lower end > GAIN_MIN, "adds nothing measurable" when its upper end <
  GAIN_MIN (the finding is then behavioural), else inconclusive. The label also reaches layer 4 through every
  block, so a gain says layer 4 carries the label in a form x0_hat does not; it does not by itself show a spatial map.
Where, by noise level (descriptive, no verdict): per t of the probes, each seed's knows-where onset at that t.
C4 and C6: v1's statistics (prereg.c4, prereg.c6) on the confirmatory seeds (3-5 at least).
Multiplicity: the error rate is controlled for the primary endpoint; each secondary row is its own claim at its own
level, with no correction across them (say so beside any secondary finding).
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
SAMPLE_GRID = (0, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 12000, 16000)  # = presets.STUDY_SAMPLES
PROBE_GRID = tuple(range(0, 16001, 500))   # probes every 500 steps (= the study's ckpt_every)
EPS = 1e-9             # "x >= FRAC x ceiling" in floating point: a count exactly at the threshold counts
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


def reached(x, ceiling):
    x, ceiling = np.asarray(x, float), np.asarray(ceiling, float)
    if np.isnan(x).any() or np.isnan(ceiling).any():
        raise ValueError("a nan accuracy: the run's files are incomplete; rerun its stage")
    return x >= FRAC * ceiling - EPS


def on_grid(steps, grid):
    """Indices of `grid` in steps (None when a planned checkpoint is missing)."""
    steps = list(np.asarray(steps).tolist())
    return None if any(g not in steps for g in grid) else [steps.index(g) for g in grid]


def grid_index(steps, grid):
    """Indices of `grid` in steps; every step when grid is None or the run lacks part of it (descriptive use only:
    the verdicts check the grid first, check_runs)."""
    i = None if grid is None else on_grid(steps, grid)
    return list(range(len(steps))) if i is None else i


def knows_where(probe, t=T_MID, grid=SAMPLE_GRID):
    """K on `grid` (None: all the run's probe checkpoints, the dense descriptive onset)."""
    j = t_index(probe['ts'], t)
    i = grid_index(probe['step'], grid)
    return first_reached(np.asarray(probe['step'])[i], reached(probe['acc_q'][i, j], np.asarray(probe['oracle_q'])[i]))


def draws_right(m, key='acc', grid=SAMPLE_GRID):
    """S (key 'acc', Alg. 1) or P (key 'pacc', position only) on `grid`."""
    i = grid_index(m['step'], grid)
    return first_reached(np.asarray(m['step'])[i], reached(m[key][i], m['oracle_' + key][i]))


def complete(r):
    """Whether a run holds every planned checkpoint (samples and probes)."""
    return on_grid(r['id']['step'], SAMPLE_GRID) is not None and on_grid(r['probe']['step'], PROBE_GRID) is not None


def lag(k, s):
    """(lo, hi, sign): the lag S - K's interval and +1 (S after K for sure), -1 (before for sure) or 0 (overlapping
    intervals, or either onset right-censored: never reached decides nothing)."""
    lo, hi = s[0] - k[1], s[1] - k[0]
    if not (np.isfinite(k[1]) and np.isfinite(s[1])):
        return lo, hi, 0
    return lo, hi, 1 if s[0] >= k[1] else -1 if s[1] <= k[0] else 0


def midpoint(lo, hi):
    return (lo + hi) / 2


# --- the sequential plan -------------------------------------------------------------------------------------------
def stage(seeds):
    """(name, alpha, seeds analysed): 'final' when seeds 3-18 are all at hand, 'interim' when 3-10 are, else
    'incomplete' (with the confirmatory seeds at hand). A seed listed twice is an error (a setting run twice)."""
    seeds = list(seeds)
    if len(seeds) != len(set(seeds)):
        raise ValueError(f"seeds {sorted(seeds)}: a seed appears twice in one setting")
    have = set(seeds)
    final = list(range(CONFIRMATORY, CONFIRMATORY + N_FINAL))
    interim = final[:N_INTERIM]
    if have >= set(final):
        return 'final', ALPHA_FINAL, final
    if have >= set(interim):
        return 'interim', ALPHA_INTERIM, interim
    return 'incomplete', None, sorted(s for s in have if s >= CONFIRMATORY)


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
    """Per run (sorted by seed): seed, K, S, P on the shared grid, K_dense (every probe checkpoint), the lags S - K,
    P - K, S - P, and whether S and K stay reached to the last checkpoint once reached (the sensitivity check)."""
    out = []
    for r in sorted(runs, key=lambda r: r['seed']):
        k, s, p = knows_where(r['probe']), draws_right(r['id']), draws_right(r['id'], 'pacc')
        m, pr = r['id'], r['probe']
        i, ik = grid_index(m['step'], SAMPLE_GRID), grid_index(pr['step'], SAMPLE_GRID)
        ok_s = dict(zip(np.asarray(m['step'])[i], reached(m['acc'][i], m['oracle_acc'][i])))
        ok_k = dict(zip(np.asarray(pr['step'])[ik], reached(pr['acc_q'][ik, t_index(pr['ts'])], np.asarray(pr['oracle_q'])[ik])))
        stays = lambda iv, ok: bool(np.isfinite(iv[1]) and all(v for step, v in ok.items() if step >= iv[1]))
        out.append(dict(seed=r['seed'], K=k, S=s, P=p, K_dense=knows_where(pr, grid=None), lag=lag(k, s), lag_pk=lag(k, p),
                        lag_sp=lag(p, s), stays=stays(s, ok_s), stays_k=stays(k, ok_k)))
    return out


def check_runs(runs):
    """(runs of the stage's seeds, stage name, alpha, seeds, problem text or ''): incomplete runs or missing seeds
    make the stage incomplete."""
    st, alpha, seeds = stage([r['seed'] for r in runs])
    use = [r for r in runs if r['seed'] in seeds]
    bad = [r['seed'] for r in use if not complete(r)]
    if bad:
        return use, 'incomplete', None, seeds, f"seeds {','.join(map(str, bad))} lack planned checkpoints"
    return use, st, alpha, seeds, ''


def show_iv(iv):
    return f"({iv[0]:.0f}, {iv[1]:.0f}]" if np.isfinite(iv[1]) else f"(>{iv[0]:.0f}, never)"


def lag_test(ons, key, alpha, st):
    """(statistic text, verdict) of one lag ('lag': S - K, 'lag_pk': P - K, 'lag_sp': S - P)."""
    signs = [o[key][2] for o in ons]
    mids = np.array([midpoint(*o[key][:2]) for o in ons if np.isfinite(o[key][1]) and np.isfinite(o[key][0])])
    pp, pn = sign_test(signs)
    eff = 'no seed with both onsets observed'
    if len(mids):
        rng = np.random.default_rng(BOOT_SEED)
        lohi = np.quantile(np.median(mids[rng.integers(0, len(mids), (N_BOOT, len(mids)))], axis=1), [0.025, 0.975])
        eff = f"median lag {np.median(mids):+.0f} steps [bootstrap 95% {lohi[0]:+.0f}, {lohi[1]:+.0f}] over {len(mids)} seeds"
    stat = (f"{sum(x > 0 for x in signs)} positive, {sum(x < 0 for x in signs)} negative, {sum(x == 0 for x in signs)} "
            f"undetermined of {len(signs)}; sign test p (later) {pp:.3g}, (earlier) {pn:.3g}; {eff}")
    if st == 'incomplete':
        return stat, 'incomplete: no verdict'
    return stat, ('confirmed' if pp < alpha else 'the opposite' if pn < alpha else
                  'inconclusive: continue to the final analysis' if st == 'interim' else 'inconclusive')


def primary(runs):
    """The primary endpoint on the d = 1, sigma = 1 runs: (statistic text, seeds text, verdict, per-seed onsets)."""
    use, st, alpha, seeds, problem = check_runs(runs)
    if not use:
        return 'no confirmatory seeds yet', 'seeds: none', f'incomplete (0 of {N_INTERIM} interim seeds): no verdict', []
    ons = onsets(use) if not problem else []
    seeds_txt = f"seeds {','.join(map(str, seeds))} ({st}" + (f", alpha {alpha:g})" if alpha else ")")
    if problem:
        return problem, seeds_txt, 'incomplete: no verdict', ons
    stat, v = lag_test(ons, 'lag', alpha, st)
    per = '; '.join(f"seed {o['seed']}: K {show_iv(o['K'])}, S {show_iv(o['S'])}" for o in ons)
    if st == 'incomplete':
        v = f'incomplete ({len(seeds)} of {N_INTERIM} interim seeds): no verdict'
    else:
        v = {'confirmed': 'confirmed: where before how', 'the opposite': 'the opposite: how before where'}.get(v, v)
    return f"lag S - K: {stat}; {per}", seeds_txt, v, ons


def decomposition(runs):
    """P - K and S - P (secondary, the same test): which part of the lag is placement and which is drawing."""
    use, st, alpha, seeds, problem = check_runs(runs)
    if problem or not use:
        return [('Lag decomposition', problem or 'no confirmatory seeds yet', f"seeds {','.join(map(str, seeds))} ({st})", 'incomplete: no verdict')]
    ons = onsets(use)
    rows = []
    for key, name in (('lag_pk', 'P - K: the sampler places right after one step knows where'),
                      ('lag_sp', 'S - P: drawn right (Alg. 1) after placed right')):
        stat, v = lag_test(ons, key, alpha, st)
        per = '; '.join(f"seed {o['seed']}: P {show_iv(o['P'])}" for o in ons) if key == 'lag_pk' else ''
        rows.append((name, stat + (f"; {per}" if per else ''), f"seeds {','.join(map(str, seeds))} ({st})", v))
    sens = sum(o['stays'] and o['stays_k'] for o in ons)
    rows.append(('Sensitivity: onsets that stay', f"{sens} of {len(ons)} seeds keep both K and S reached to 16,000 once "
                 f"reached; dense K (every 500 steps): " + '; '.join(f"seed {o['seed']}: {show_iv(o['K_dense'])}" for o in ons),
                 f"seeds {','.join(map(str, seeds))} ({st})", 'descriptive (no verdict)'))
    return rows


def c1(runs):
    """C1 per seed: behavioural phases and the probe's reading (see the module docstring)."""
    use, st, _, seeds, problem = check_runs(runs)
    parts, shown, b_seen = [], 0, 0
    for r in sorted(use if not problem else [], key=lambda r: r['seed']):
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
        return 'C1', problem or '; '.join(parts) or 'no confirmatory seeds', f"{n} seeds ({st})", 'incomplete: no verdict'
    v = 'confirmed' if shown == n else f'partly ({shown} of {n} seeds)' if shown else 'not observed'
    return 'C1', f"B observed in {b_seen} of {n} seeds; " + '; '.join(parts), f"{n} seeds ({st})", v


def c2(ons, st):
    neg = [o['seed'] for o in ons if o['lag'][2] < 0]
    det = sum(o['lag'][2] != 0 for o in ons)
    stat = (f"seeds that draw right before they know where: {len(neg)} of {len(ons)}" + (f" ({','.join(map(str, neg))})" if neg else '')
            + f"; determined {det} of {len(ons)}")
    if st == 'incomplete':
        return 'C2', stat, f"{len(ons)} seeds ({st})", 'incomplete: no verdict'
    if neg:
        return 'C2', stat, f"{len(ons)} seeds ({st})", f'not confirmed ({len(neg)} seeds)'
    return 'C2', stat, f"{len(ons)} seeds ({st})", 'confirmed' if 2 * det >= len(ons) else 'not testable (fewer than half the seeds determined)'


def auc(m, steps, key='acc'):
    """Normalised area under acc/oracle (key 'acc': Alg. 1; 'pacc': position only) on `steps`."""
    i = np.searchsorted(m['step'], steps)
    y = m[key][i] / np.maximum(m['oracle_' + key][i], 1e-9)
    return float(np.trapezoid(y, steps) / (steps[-1] - steps[0]))


def paired(a_runs, b_runs, name, what, paper_equivalence=False):
    """C3/C5: per seed AUC(a) - AUC(b) on the checkpoints both have, TOST at the stage's alpha."""
    stage([r['seed'] for r in a_runs]), stage([r['seed'] for r in b_runs])  # a seed twice in a setting: an error
    st, alpha, seeds = stage(sorted({r['seed'] for r in a_runs} & {r['seed'] for r in b_runs}))
    a = {r['seed']: r for r in a_runs if r['seed'] in seeds}
    b = {r['seed']: r for r in b_runs if r['seed'] in seeds}
    bad = [s for s in seeds if on_grid(a[s]['id']['step'], SAMPLE_GRID) is None or on_grid(b[s]['id']['step'], SAMPLE_GRID) is None]
    if bad:
        return name, f"seeds {','.join(map(str, bad))} lack planned checkpoints", f"seeds {','.join(map(str, seeds))}", 'incomplete: no verdict'
    steps = np.array(SAMPLE_GRID)
    diffs, pdiffs = [], []
    for s in seeds:
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
    use, st, _, seeds, problem = check_runs(runs)
    g, used = [], []
    for r in sorted(use if not problem else [], key=lambda r: r['seed']):
        pr = r['probe']
        j = t_index(pr['ts'])
        floor = pr['dec_q_l4_gain'][pr['step'] == 0, j][0]
        if when == 'final':
            g.append(float(pr['dec_q_l4_gain'][-1, j] - floor))
        else:
            before = (pr['step'] > 0) & (pr['step'] <= knows_where(pr, grid=None)[0])  # the dense onset
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
    use, st, _, seeds, problem = check_runs(runs)
    use = sorted(use if not problem else [], key=lambda r: r['seed'])
    if not use:
        return 'Where, by noise level', 'no confirmatory seeds yet', 'seeds: none', 'descriptive'
    parts = []
    for t in use[0]['probe']['ts']:
        on = [knows_where(r['probe'], int(t), grid=None)[1] for r in use]
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
    rows.append(c2(ons, 'incomplete' if not ons else check_runs(d1)[1]))
    rows += decomposition(d1)
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
