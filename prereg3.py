"""
The third pre-registration (v3): *why the samples lag*. The second study (prereg2.py) found, 8 of 8 seeds, that the
one-step prediction at mid noise puts the bump where asked (K) before the samples come out right (S). v3 asks how long
the lag is when both onsets are read on one dense grid and one measure, how much of it is Alg. 1's strictness, and
whether the network already knows enough and the sampler fails to use it (samplers that try to draw right as soon as
the network knows where: the elicitation ladder), or the chain reaches mid noise off the data (exposure bias: the
self-chain probe). Committed with its tests (test_all.py, "v3") before any of its seeds was trained; changing anything
here after a seed was seen is a new analysis: a new commit and new seeds. Pure functions of the runs, no I/O.

Runs: d = 1, sigma = 1, the study's width-8 model and schedule (16,000 steps), seeds SEEDS (21-28: new, and outside
v2's seed range 3-18, so no v2 table ever reads them). A missing or unfinished seed makes a row "incomplete", never a
smaller sample; a seed twice is an error.

Inputs, per run (elicit.py and report.py build them): seed; base (the dense baseline, DDIM-100 eta 1, 500 labels, on
DENSE_GRID: step, acc, oracle_acc (Alg. 1), pacc, oracle_pacc (position-only locator)); probe (probe.py on DENSE_GRID:
step, ts, acc_q, acc_a, oracle_q); ladder {variant: step, acc, oracle_acc, pacc, oracle_pacc} on the run's window;
chain (step, pacc, oracle_pacc: the self-chain probe, x0_hat at t = T_MID on the sampler's own chain).

Onsets, all on DENSE_GRID (every 500 steps, the probes' grid too), interval-censored (prereg2.first_reached: (previous
checkpoint, first checkpoint reached]; (last, inf) never; step 0 never counts), each against FRAC x its own ceiling:
  K  knows where:  probe acc_q at t = T_MID (x0_hat of a forward-noised render, label drawn apart from the image)
  P  places right: the baseline samples' position-only accuracy (the same locator as K)
  S  draws right:  the baseline samples' Alg. 1 accuracy (the paper's metric)
  S_v, P_v: the same for ladder variant v, read on the run's window (below).
PRIMARY: the same-measure lag P - K. Per seed positive when P_lo >= K_hi, negative when P_hi <= K_lo, else (or when
  either is never reached) undetermined. One-sided exact sign test over all SEEDS at ALPHA (an undetermined seed counts
  against both directions): "confirmed: the sampler places right after one step knows where" when p(later) < ALPHA,
  "the opposite" when p(earlier) < ALPHA, else "inconclusive". Effect size, censoring kept: the median lag lies in
  [median of the per-seed lower bounds, median of the upper bounds]; its 95% interval is the 2.5% quantile of the
  bootstrapped medians of lower bounds to the 97.5% quantile of those of upper bounds (seeds resampled, N_BOOT, BOOT_SEED).
  Sensitivities (no verdict): the lag between linearly interpolated crossings; the lag between held onsets (the
  first checkpoint reached at two consecutive checkpoints), since K is read from 256 probes with noise fixed across
  checkpoints and P from 500 samples, and a noisier curve crosses earlier. A caveat stated before the data: a model
  whose samples are placed right must denoise right at most t, so K <= P is close to implied (v2's caveat): the
  sign is the weaker finding, the lag's size the informative one.
SECONDARIES, each at ALPHA / N_SECONDARY (Bonferroni across the family below; intervals at 1 - ALPHA / N_SECONDARY).
  Power stated before the data: at 0.05 / 9 = 0.0056 an exact sign or binomial test over 8 seeds decides only when
  all 8 agree (p = 0.0039; 7 of 7 gives 0.0078), so one undetermined seed leaves a row "inconclusive" or "mixed".
  Each row's two directions are each tested at the row's level (as usual; at the null the row errs at most twice it).
  H1  S - P (the metric's share of S - K): the primary's test on S - P.
  H2  the self-chain probe: per seed, over the window checkpoints c with K_hi <= c < S_hi (knows where, not yet drawing
      right; a seed with none drops out), the mean of D_c = acc_a(c, T_MID) / oracle_q - chain pacc(c) / oracle_pacc:
      how much worse x0_hat lands on the sampler's own x_T_MID than on forward-noised data. Mean over seeds with a
      t-interval: "the chain reaches mid noise off the data" (the exposure-bias account) when its lower end > DRIFT_MIN;
      "the chain is on the data at mid noise: the samples go wrong below t = T_MID" when its upper end < DRIFT_MIN
      (said separately when the upper end is below -DRIFT_MIN: the chain does better than forward-noised data); else
      inconclusive. acc_a's ceiling is the locator on clean renders of its own labels p (oracle_a; oracle_q when a run
      lacks it: the same label distribution).
  one row per variant of CLOSERS (7): does v close the gap? Each variant is paired with its reference R on the same
      labels and initial noise: the ladder's own ddim100 (ddpm1000: ddim100 on ddpm1000's first N_LADDER_DDPM labels),
      never the dense baseline (other labels, other n: a noisier curve crosses earlier). Ladder onsets are held onsets:
      the first window checkpoint reached there and at the next window checkpoint (or the last); reached at the
      window's first checkpoint (when it is not step 0) means at most that checkpoint. A seed counts when R is after K
      by at least two checkpoints (R_hi - K_hi >= 2 GRID_STEP: a one-checkpoint lag leaves nothing noise could not
      close); R never reached in the window counts as R_hi = the window's end + GRID_STEP (a bound that makes closing
      harder). v closes the gap when S_v_hi <= R_hi - GRID_STEP (strictly earlier than its reference) and either
      S_v_hi <= K_hi + GRID_STEP (it draws right within one checkpoint of knowing where) or R_hi - S_v_hi >= HALF x
      (R_hi - K_hi) (it removes at least half the lag); never reached in the window: it does not. Exact one-sided
      binomial over the counted seeds: "closes the gap" when p(closes more often than half) < the family's level,
      "does not close the gap" when p(fails more often than half) < it, else "mixed". Effect: the closure R - S_v in
      steps, censoring kept. Negative control (descriptive): the ladder's ddim100 against the dense baseline's S.
ACCOUNT (the report's sentence, from the verdicts above): "the network knows enough; the sampler fails to use it" when
  any variant closes the gap; "exposure bias" when H2 says off the data; "the samples go wrong below mid noise" when H2
  says on the data; "neither account is supported" when none of these holds.
Descriptive (no verdict): per variant and checkpoint the failure modes (none, several, a single misplaced bump).

THE LADDER. Checkpoints: the run's window, every DENSE_GRID checkpoint c with K_hi - GRID_STEP <= c <= S_hi + 2 GRID_STEP
(K from the dense probes, S from the dense baseline; to the last checkpoint when S is never reached; no window when K is
never reached). Labels: N_LADDER drawn once per run (seed LADDER_SEED) from the training centres, the same labels and
initial noise for every variant (DDPM-1000: the first N_LADDER_DDPM of them, for cost). Variants (all with the same
trained weights; VARIANTS gives each one's sampler settings):
  ddim100       DDIM-100, eta 1: the registered sampler (the ladder's own baseline, on the ladder's labels)
  ddpm1000      the paper's ancestral DDPM over all 1,000 steps
  ddim100_eta0  DDIM-100 deterministic
  ddim20_eta0   a short chain: DDIM-20 deterministic
  clip          DDIM-100 eta 1 with x0_hat clamped to [-1, 1] at every step
  epsscale      DDIM-100 eta 1 with the predicted noise divided by lambda_t = EPS_B + EPS_K t (the form of Ning et al.,
                arXiv 2308.15321, "epsilon scaling"; the size, lambda from 1.005 at t = 0 to ~1.015 at t = 999, is our
                choice, fixed here and not tuned on any run)
  exit          the DDIM-100 eta 1 chain down to t = T_MID exactly, then its x0_hat as the image (also the self-chain probe)
  exit_renoise  exit's x0_hat noised afresh to t = T_MID, then the DDIM-100 eta 1 chain to the end
Each variant's onset S_v is read on the window only (what precedes the window is not sampled). The registration was
amended once before any v3 seed had samples or probes (a reviewer's pass on the synthetic tests: paired references,
held onsets, two-checkpoint lags, censoring kept in the medians, the power statement); its git history shows both.
"""
import numpy as np
from scipy.stats import binom

import prereg2
from prereg2 import first_reached, lag, reached, sign_test, t_interval

SEEDS = tuple(range(21, 29))   # the confirmatory seeds (8), all trained after this file was committed
FRAC = prereg2.FRAC            # 0.9: "reached" is >= FRAC x the measure's ceiling
T_MID = prereg2.T_MID          # 300: the mid-noise timestep of K, the self-chain probe and the early exit
GRID_STEP = 500                # the dense grid's spacing (steps)
DENSE_GRID = tuple(range(0, 16001, GRID_STEP))  # samples and probes of every run: both onsets on one grid
ALPHA = 0.05                   # the primary's one-sided level
N_SECONDARY = 9                # H1, H2 and the 7 variant rows: each at ALPHA / N_SECONDARY
DRIFT_MIN = 0.10               # H2: the smallest drop of one-step accuracy on the chain (acc / ceiling) that counts
HALF = 0.5                     # a variant closes the gap when it removes at least this fraction of the baseline lag
N_BOOT = 2000                  # bootstrap replicates
BOOT_SEED = 0
N_LADDER = 200                 # labels per variant and checkpoint
N_LADDER_DDPM = 100            # ... for DDPM-1000 (10x the network calls)
LADDER_SEED = 1                # the ladder's labels and noise (the dense baseline uses sample.py's seed 0)
EPS_B, EPS_K = 1.005, 1e-5     # epsscale: lambda_t = EPS_B + EPS_K t
VARIANTS = {                   # name: the keywords of the ladder's sampler (elicit.py)
    'ddim100': dict(sampler='ddim', steps=100, eta=1.0),
    'ddpm1000': dict(sampler='ddpm', steps=1000),
    'ddim100_eta0': dict(sampler='ddim', steps=100, eta=0.0),
    'ddim20_eta0': dict(sampler='ddim', steps=20, eta=0.0),
    'clip': dict(sampler='ddim', steps=100, eta=1.0, clip_x0=True),
    'epsscale': dict(sampler='ddim', steps=100, eta=1.0, eps_scale=(EPS_B, EPS_K)),
    'exit': dict(sampler='ddim', steps=100, eta=1.0, exit_at=T_MID),
    'exit_renoise': dict(sampler='ddim', steps=100, eta=1.0, exit_at=T_MID, renoise=True),
}
CLOSERS = tuple(v for v in VARIANTS if v != 'ddim100')  # the 7 variant rows (ddim100 is the ladder's own baseline)


# --- onsets --------------------------------------------------------------------------------------------------------
def onset(steps, y, ceiling):
    """(lo, hi] of the first trained checkpoint where y >= FRAC x ceiling (prereg2's rule)."""
    return first_reached(steps, reached(y, ceiling))


def crossing(steps, y, ceiling):
    """The linearly interpolated step where y / ceiling first reaches FRAC (inf when never): the sensitivity reading."""
    steps, r = np.asarray(steps, float), np.asarray(y, float) / np.maximum(np.asarray(ceiling, float), 1e-9)
    for i in range(1, len(steps)):
        if r[i] >= FRAC - prereg2.EPS:
            if r[i - 1] >= FRAC:  # reached at a checkpoint whose predecessor was too: the first trained one
                return float(steps[i])
            return float(steps[i - 1] + (FRAC - r[i - 1]) / (r[i] - r[i - 1]) * (steps[i] - steps[i - 1]))
    return np.inf


def k_of(probe):
    j = prereg2.t_index(probe['ts'], T_MID)
    return np.asarray(probe['step']), np.asarray(probe['acc_q'])[:, j], np.asarray(probe['oracle_q'])


def run_onsets(r):
    """K, P, S (intervals) and their interpolated crossings of one run."""
    ks, ky, kc = k_of(r['probe'])
    b = r['base']
    out = dict(seed=r['seed'], K=onset(ks, ky, kc), P=onset(b['step'], b['pacc'], b['oracle_pacc']),
               S=onset(b['step'], b['acc'], b['oracle_acc']))
    out.update(Kx=crossing(ks, ky, kc), Px=crossing(b['step'], b['pacc'], b['oracle_pacc']),
               Sx=crossing(b['step'], b['acc'], b['oracle_acc']))
    out.update(Kh=held(ks, reached(ky, kc)), Ph=held(b['step'], reached(b['pacc'], b['oracle_pacc'])),
               Sh=held(b['step'], reached(b['acc'], b['oracle_acc'])))
    return out


def held(steps, ok):
    """The held onset: (lo, hi] of the first checkpoint reached there and at the next one (or the last checkpoint);
    reached at the first listed checkpoint, when that is not step 0, means at most it: (-inf, first]. Step 0 (the
    untrained network) never counts; (last, inf) when never held."""
    steps, ok = np.asarray(steps, float), np.asarray(ok, bool)
    for i in range(len(steps)):
        if steps[i] > 0 and ok[i] and (i == len(steps) - 1 or ok[i + 1]):
            return (steps[i - 1] if i else -np.inf, float(steps[i]))
    return (float(steps[-1]), np.inf)


def window(K, S, grid=DENSE_GRID):
    """The ladder's checkpoints for onsets K, S (intervals): K_hi - GRID_STEP .. S_hi + 2 GRID_STEP on the grid."""
    if not np.isfinite(K[1]):
        return []
    top = S[1] + 2 * GRID_STEP if np.isfinite(S[1]) else grid[-1]
    return [int(c) for c in grid if K[1] - GRID_STEP <= c <= top]


def complete(r):
    """Every dense checkpoint sampled and probed, and the ladder on the whole window for every variant."""
    if [int(s) for s in r['base']['step']] != list(DENSE_GRID) or [int(s) for s in r['probe']['step']] != list(DENSE_GRID):
        return False
    o = run_onsets(r)
    w = window(o['K'], o['S'])
    have = r.get('ladder', {})
    return all(v in have and [int(s) for s in have[v]['step']] == w for v in tuple(VARIANTS) + ('ddim100_sub',)) and \
        [int(s) for s in r.get('chain', {}).get('step', [])] == w


def select(runs):
    """(runs of SEEDS, problem text or '', missing seeds): a seed twice is an error; a seed at hand that lacks planned
    checkpoints (or no seed at all) is a problem: no statistic; missing seeds leave the statistic of the seeds at hand,
    with no verdict (hold)."""
    seeds = [r['seed'] for r in runs if r['seed'] in SEEDS]
    if len(seeds) != len(set(seeds)):
        raise ValueError(f"seeds {sorted(seeds)}: a seed appears twice")
    use = sorted((r for r in runs if r['seed'] in SEEDS), key=lambda r: r['seed'])
    missing = [s for s in SEEDS if s not in seeds]
    bad = [r['seed'] for r in use if not complete(r)]
    problem = (f"seeds {','.join(map(str, bad))} lack planned checkpoints" if bad else
               f"seeds {','.join(map(str, missing))} not run" if not use else '')
    return use, problem, missing


def hold(verdict, stat, missing):
    """A row's verdict and statistic while seeds are missing: the statistic of the seeds at hand, no verdict."""
    if not missing:
        return verdict, stat
    return (f"incomplete ({len(SEEDS) - len(missing)} of {len(SEEDS)} seeds): no verdict",
            f"on the {len(SEEDS) - len(missing)} seeds at hand (not a test: seeds {','.join(map(str, missing))} to come): {stat}")


# --- effect sizes --------------------------------------------------------------------------------------------------
def censored_median(ivs, level=0.95):
    """The median of interval-censored values: ([median of lower ends, median of upper ends] (for an even count the
    outer of the two middle values), and its bootstrap
    interval: the (1-level)/2 quantile of the resampled medians of lower ends to the (1+level)/2 quantile of those of
    upper ends). ivs: [(lo, hi)]; a never-reached onset gives an infinite end, which stays in (medians and quantiles
    of values with +-inf are themselves bounds: 'unbounded' in the text)."""
    ivs = np.asarray(ivs, float).reshape(-1, 2)
    if not len(ivs):
        return (np.nan, np.nan), (np.nan, np.nan)
    # the outer of the two middle values when n is even ('lower' for lower ends, 'higher' for upper ends): never an
    # average of an infinite and a finite end, and never narrower than the data allow
    lo_med = lambda x, axis=None: np.quantile(x, 0.5, axis=axis, method='lower')
    hi_med = lambda x, axis=None: np.quantile(x, 0.5, axis=axis, method='higher')
    rng = np.random.default_rng(BOOT_SEED)
    idx = rng.integers(0, len(ivs), (N_BOOT, len(ivs)))
    lo_b, hi_b = lo_med(ivs[idx, 0], axis=1), hi_med(ivs[idx, 1], axis=1)
    a = (1 - level) / 2
    return ((float(lo_med(ivs[:, 0])), float(hi_med(ivs[:, 1]))),
            (float(np.quantile(lo_b, a, method='lower')), float(np.quantile(hi_b, 1 - a, method='higher'))))


def lag_row(ons, a, b, alpha):
    """(statistic text, verdict) of the lag b - a over the runs' onsets (keys 'K', 'P', 'S'), sign test at alpha."""
    lags = [lag(o[a], o[b]) for o in ons]
    signs = [x[2] for x in lags]
    pp, pn = sign_test(signs)
    (mlo, mhi), (blo, bhi) = censored_median([x[:2] for x in lags])
    xs = [o[b + 'x'] - o[a + 'x'] for o in ons]
    hl = [lag(o[a + 'h'], o[b + 'h']) for o in ons]
    stat = (f"{b} - {a}: {sum(s > 0 for s in signs)} positive, {sum(s < 0 for s in signs)} negative, "
            f"{sum(s == 0 for s in signs)} undetermined of {len(signs)}; sign test p (later) {pp:.3g}, (earlier) {pn:.3g}; "
            f"median lag in [{num(mlo)}, {num(mhi)}] steps (censoring kept; 95% bootstrap {num(blo)} to {num(bhi)}); "
            f"interpolated crossings: median {num(np.median(xs))}; held onsets: {sum(x[2] > 0 for x in hl)} positive, "
            f"{sum(x[2] < 0 for x in hl)} negative")
    v = 'confirmed' if pp < alpha else 'the opposite' if pn < alpha else 'inconclusive'
    return stat, v


# --- the rows ------------------------------------------------------------------------------------------------------
def primary(runs):
    use, problem, missing = select(runs)
    if problem:
        return 'Primary: P - K (same measure, dense grid)', problem, f"seeds {seed_text(use)}", 'incomplete: no verdict'
    ons = [run_onsets(r) for r in use]
    stat, v = lag_row(ons, 'K', 'P', ALPHA)
    v = {'confirmed': 'confirmed: the sampler places right after one step knows where',
         'the opposite': 'the opposite: the sampler places right first'}.get(v, v)
    v, stat = hold(v, stat, missing)
    return 'Primary: P - K (same measure, dense grid)', stat, f"seeds {seed_text(use)} (alpha {ALPHA:g})", v


def h1(runs):
    use, problem, missing = select(runs)
    if problem:
        return "H1: S - P (Alg. 1's share)", problem, f"seeds {seed_text(use)}", 'incomplete: no verdict'
    stat, v = lag_row([run_onsets(r) for r in use], 'P', 'S', ALPHA / N_SECONDARY)
    v, stat = hold(v, stat, missing)
    return "H1: S - P (Alg. 1's share)", stat, f"seeds {seed_text(use)} (alpha {ALPHA / N_SECONDARY:.3g})", v


def drift(r):
    """H2's per-seed value: mean of D_c over the window checkpoints with K_hi <= c < S_hi (None when there are none)."""
    o = run_onsets(r)
    ks, _, kc = k_of(r['probe'])
    j = prereg2.t_index(r['probe']['ts'], T_MID)
    ceil_a = np.asarray(r['probe'].get('oracle_a', kc))
    fwd = dict(zip(ks.tolist(), np.asarray(r['probe']['acc_a'])[:, j] / np.maximum(ceil_a, 1e-9)))
    ch = r['chain']
    own = dict(zip(np.asarray(ch['step']).tolist(), np.asarray(ch['pacc']) / np.maximum(np.asarray(ch['oracle_pacc']), 1e-9)))
    cs = [c for c in own if o['K'][1] <= c < o['S'][1]]
    return float(np.mean([fwd[c] - own[c] for c in cs])) if cs else None


def h2(runs):
    name = f'H2: self-chain probe at t = {T_MID}'
    use, problem, missing = select(runs)
    if problem:
        return name, problem, f"seeds {seed_text(use)}", 'incomplete: no verdict'
    ds = {r['seed']: drift(r) for r in use}
    vals = [d for d in ds.values() if d is not None]
    level = 1 - ALPHA / N_SECONDARY
    m, (lo, hi) = t_interval(vals, level)
    stat = (f"forward minus own-chain one-step accuracy (acc / ceiling) while it knows where but does not yet draw right: "
            f"{m:+.3f} [{100 * level:.1f}% {lo:+.3f}, {hi:+.3f}] over {len(vals)} seeds (per seed: "
            + ', '.join(f"{s}: {'-' if d is None else f'{d:+.3f}'}" for s, d in ds.items()) + f"); margin {DRIFT_MIN:g}")
    if len(vals) < 2:
        v, stat = hold('not testable (fewer than 2 seeds with a window)', stat, missing)
        return name, stat, f"seeds {seed_text(use)}", v
    v = ('the chain reaches mid noise off the data (exposure bias)' if lo > DRIFT_MIN else
         f'the chain is on the data at mid noise: the samples go wrong below t = {T_MID}' +
         (' (the chain does better than forward-noised data)' if hi < -DRIFT_MIN else '') if hi < DRIFT_MIN else 'inconclusive')
    v, stat = hold(v, stat, missing)
    return name, stat, f"seeds {seed_text(use)} ({100 * level:.1f}% interval)", v


def reference(v):
    """The ladder variant a variant is paired with (same labels and initial noise)."""
    return 'ddim100_sub' if v == 'ddpm1000' else 'ddim100'


def ladder_onset(r, v):
    """The held onset of ladder entry v (a variant, or 'ddim100_sub') on the run's window."""
    lad = r['ladder'][v]
    return held(lad['step'], reached(lad['acc'], lad['oracle_acc']))


def closes(K, R, sv, end):
    """Whether a variant with held onset sv closes the gap between K and its reference's held onset R (intervals);
    None when the seed does not count (K never reached, or R less than two checkpoints after K). end: the window's
    last checkpoint (R never reached counts as end + GRID_STEP)."""
    if not np.isfinite(K[1]):
        return None
    r_hi = R[1] if np.isfinite(R[1]) else end + GRID_STEP
    if r_hi - K[1] < 2 * GRID_STEP:
        return None
    if not np.isfinite(sv[1]):
        return False
    return bool(sv[1] <= r_hi - GRID_STEP and (sv[1] <= K[1] + GRID_STEP or r_hi - sv[1] >= HALF * (r_hi - K[1])))


def variant_row(runs, v):
    name = f'{v}: closes the gap?'
    use, problem, missing = select(runs)
    if problem:
        return name, problem, f"seeds {seed_text(use)}", 'incomplete: no verdict'
    level = ALPHA / N_SECONDARY
    per, cl, ivs = [], [], []
    show = lambda iv: prereg2.show_iv(iv) if np.isfinite(iv[0]) else f"<= {iv[1]:.0f}"
    for r in use:
        o, sv, R = run_onsets(r), ladder_onset(r, v), ladder_onset(r, reference(v))
        c = closes(o['K'], R, sv, float(r['ladder'][v]['step'][-1]))
        per.append(f"{r['seed']}: K {show(o['K'])}, R {show(R)}, S_v {show(sv)}" + (' (not counted)' if c is None else f" ({'closes' if c else 'no'})"))
        if c is not None:
            cl.append(c)
            # closure R - S_v with censoring kept (a left-censored onset lies in [0, first])
            lo_of = lambda iv: iv[0] if np.isfinite(iv[0]) else 0.0
            ivs.append((R[0] - sv[1], R[1] - lo_of(sv)))
    n, k = len(cl), sum(cl)
    p_close = float(binom.sf(k - 1, n, 0.5)) if n else 1.0
    p_fail = float(binom.sf(n - k - 1, n, 0.5)) if n else 1.0
    (mlo, mhi), (blo, bhi) = censored_median(ivs, 1 - level)
    stat = (f"closes in {k} of {n} counted seeds (p closes {p_close:.3g}, p fails {p_fail:.3g}); closure R - S_v median in "
            f"[{num(mlo)}, {num(mhi)}] steps ({100 * (1 - level):.1f}% bootstrap {num(blo)} to {num(bhi)}); reference "
            f"R = {reference(v)}; " + '; '.join(per))
    v_ = ('not testable (no counted seed)' if not n else 'closes the gap' if p_close < level else
          'does not close the gap' if p_fail < level else f'mixed ({k} of {n} seeds)')
    v_, stat = hold(v_, stat, missing)
    return name, stat, f"seeds {seed_text(use)} (alpha {level:.3g})", v_


def control_row(runs):
    """Negative control (descriptive): the ladder's ddim100 (200 labels, seed 1) against the dense baseline's S."""
    use, problem, missing = select(runs)
    if problem:
        return 'Control: ladder ddim100 vs dense S', problem, f"seeds {seed_text(use)}", 'incomplete: no verdict'
    per = []
    for r in use:
        R, S = ladder_onset(r, 'ddim100'), run_onsets(r)['S']
        per.append(f"{r['seed']}: {R[1] - S[1]:+.0f}" if np.isfinite(R[1]) and np.isfinite(S[1]) else f"{r['seed']}: -")
    return ('Control: ladder ddim100 vs dense S', 'held onset minus first-crossing onset, per seed: ' + ', '.join(per),
            f"seeds {seed_text(use)}", 'descriptive (no verdict)')


def account(rows):
    """The report's sentence from the verdicts (rows as all_claims returns them)."""
    v = {r[0]: r[3] for r in rows}
    if any(x.startswith('incomplete') for x in v.values()):
        return 'incomplete: no account yet'
    parts = []
    if any(v[f'{c}: closes the gap?'] == 'closes the gap' for c in CLOSERS):
        parts.append('the network knows enough; the sampler fails to use it (' +
                     ', '.join(c for c in CLOSERS if v[f'{c}: closes the gap?'] == 'closes the gap') + ' closes the gap)')
    h = v[f'H2: self-chain probe at t = {T_MID}']
    if h.startswith('the chain reaches'):
        parts.append('exposure bias: the chain reaches mid noise off the data')
    elif h.startswith('the chain is on'):
        parts.append(f'the samples go wrong below mid noise (the chain is on the data at t = {T_MID})')
    return '; '.join(parts) if parts else 'neither account is supported'


def num(x):
    return f"{x:+.0f}" if np.isfinite(x) else ('unbounded' if x > 0 else '-unbounded') if not np.isnan(x) else 'nan'


def seed_text(use):
    return ','.join(str(r['seed']) for r in use) or 'none'


def all_claims(runs):
    """Every v3 row (claim, statistic, seeds, verdict) and the account."""
    rows = [primary(runs), h1(runs), h2(runs)] + [variant_row(runs, v) for v in CLOSERS] + [control_row(runs)]
    return rows, account(rows)
