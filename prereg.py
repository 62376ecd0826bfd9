"""
The pre-registered analysis of the paper's claims (README, "Results"; the rules in full below): the rules, statistics and
thresholds below were committed, with tests on synthetic references (test_all.py, "pre-registered"), before any
confirmatory seed was run. Seed 0 was seen under the earlier rule (claims.py) and is exploratory; seeds >= 1 are
confirmatory: a claim's verdict rests on them whenever its runs have them. Changing anything here after seeing a
verdict is a new analysis: a new commit and new seeds.

Inputs are runs as plot_figures.load_runs gives them: per split ('id', 'ood') arrays over checkpoints (step, acc,
oracle_acc, n_none/one/many/fill, the order measures) and per-sample arrays (ok_x, ok_y, oracle_ok_x, oracle_ok_y:
(checkpoints, samples) bools), so confidence intervals can resample the evaluation labels.

Phases by behaviour (the paper's Fig. 3 caption), per trained checkpoint (step > 0):
  C  accuracy >= FRAC x oracle                                      (one bump, correct)
  A  not C and failed >= FAIL_A (no bump, several, canvas-filling)  (no usable bump)
  B  not C or A, single-but-wrong >= failed                         (one bump, wrong place)
  -  none of these (mostly failures, but fewer than FAIL_A)
where failed, single-but-wrong and single-and-right partition the samples (per-sample 'single': one contour, not
filling the canvas; right by Eq. 1).
Order of the manifold: layer 4 with each channel's spatial mean removed (free of the broadcast label embedding),
scored by trust_dm and knn_r2_dm, each normalised as (m - floor) / (ceiling - floor). Ceiling: the same measure on
clean renders of the same labels. Floor: the larger of the run's step-0 value and, at this checkpoint, the value for
the same labels on a blank canvas (the label also reaches layer 4 through the Down blocks, which demeaning does not
remove). order = the mean of the two normalised measures. Ordered: order >= ORDERED; disordered: < DISORDERED.
"""
import numpy as np
from scipy.stats import rankdata

FRAC = 0.9          # learned: accuracy >= FRAC x the oracle accuracy (Alg. 1 on clean renders of the same labels)
FAIL_A = 0.5        # phase A: at least this fraction of canvases failed
ORDERED = 0.8       # manifold ordered: order score >= ORDERED (of the way from the step-0 floor to the ceiling)
DISORDERED = 0.5    # manifold disordered: order score < DISORDERED
MIN_ROOM = 0.1      # a measure whose ceiling is within MIN_ROOM of its floor cannot be normalised (nan)
HOLE_TOL = 0.1      # C6: inside the hole within HOLE_TOL of outside (accuracy / oracle)
ALPHA = 0.05        # two-sided 95% intervals; one-sided tests at ALPHA
N_BOOT = 2000       # bootstrap replicates (over seeds, then evaluation labels within each seed)
BOOT_SEED = 0       # the bootstrap's generator
CONFIRMATORY = 1    # seeds >= this are confirmatory


# --- per checkpoint ----------------------------------------------------------------------------------------------
def behaviour(m):
    """Per checkpoint of one split: (failed, single-but-wrong, single-and-right) fractions and the phase letter."""
    single = m['single']
    correct = (single & m['ok_x'] & m['ok_y']).mean(1)
    failed, wrong = 1 - single.mean(1), single.mean(1) - correct
    c = m['acc'] >= FRAC * m['oracle_acc']
    a = ~c & (failed >= FAIL_A)
    b = ~c & ~a & (wrong >= failed)
    phase = np.where(c, 'C', np.where(a, 'A', np.where(b, 'B', '-')))
    return failed, wrong, correct, np.where(m['step'] == 0, '0', phase)


def order_score(m):
    """Per checkpoint: the mean of trust_dm and knn_r2_dm, each normalised from the floor (0: the larger of the run's
    step-0 value and this checkpoint's blank-canvas control) to the clean-render ceiling on the same labels (1). nan
    without a step-0 checkpoint or without room between floor and ceiling."""
    if m['step'][0] != 0:
        return np.full(len(m['step']), np.nan)
    parts = []
    for key in ('trust', 'knn_r2'):
        floor, ceil = np.maximum(m[key + '_dm'][0], m[key + '_blank']), m[key + '_ref']
        room = ceil - floor
        parts.append(np.where(room >= MIN_ROOM, (m[key + '_dm'] - floor) / np.where(room == 0, 1, room), np.nan))
    return np.mean(parts, axis=0)


def manifold(score):
    return np.where(score >= ORDERED, 'ordered', np.where(score < DISORDERED, 'disordered', 'between'))


# --- helpers -----------------------------------------------------------------------------------------------------
def confirmatory(runs):
    """The runs a verdict rests on: the confirmatory seeds when there are any, else all (exploratory)."""
    conf = [r for r in runs if r['seed'] >= CONFIRMATORY]
    return (conf, 'confirmatory') if conf else (runs, 'exploratory')


def seeds_text(runs):
    seeds = sorted({r['seed'] for r in runs})
    return 'seeds ' + ','.join(map(str, seeds)) + (' [< 3 seeds: coarse interval]' if len(seeds) < 3 else '')


def common_steps(runs, split='id'):
    steps = set(runs[0][split]['step'].tolist())
    for r in runs[1:]:
        steps &= set(r[split]['step'].tolist())
    return np.array(sorted(steps))


def at_steps(m, steps, key):
    return m[key][np.searchsorted(m['step'], steps)]


def ratio(ok, oracle):
    """Accuracy / oracle accuracy over the last axis (samples)."""
    return ok.mean(-1) / np.maximum(oracle.mean(-1), 1e-9)


def boot(runs, stat, rng, n_boot=N_BOOT, split='id'):
    """(point estimate, replicates): stat(run, idx) averaged over the runs (seeds); each replicate draws the seeds
    with replacement, then each drawn run's evaluation labels with replacement (the same labels at every checkpoint,
    which keeps the checkpoints of one run paired)."""
    n = len(runs[0][split]['ok_x'][0])
    point = float(np.mean([stat(r, np.arange(n)) for r in runs]))
    reps = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, len(runs), len(runs))
        reps[b] = np.mean([stat(runs[i], rng.integers(0, n, n)) for i in pick])
    return point, reps


def ci(reps):
    return np.quantile(reps, [ALPHA / 2, 1 - ALPHA / 2])


def auc_stat(steps, split='id'):
    """Normalised area under the accuracy / oracle curve on `steps` (trapezoids on the true step axis)."""
    def stat(r, idx):
        m = r[split]
        i = np.searchsorted(m['step'], steps)
        ok = (m['ok_x'] & m['ok_y'])[i][:, idx]
        orc = (m['oracle_ok_x'] & m['oracle_ok_y'])[i][:, idx]
        return float(np.trapezoid(ratio(ok, orc), steps) / (steps[-1] - steps[0]))
    return stat


def auc_difference(a, b, rng):
    """AUC(a) - AUC(b) on the checkpoints both sets of runs have, with its bootstrap 95% CI (a and b resampled
    independently) and each side's AUC."""
    steps = common_steps(a + b)
    pa, ra = boot(a, auc_stat(steps), rng)
    pb, rb = boot(b, auc_stat(steps), rng)
    return pa - pb, ci(ra - rb), pa, pb, steps


def interval(x, lohi):
    return f"{x:+.3f} [{lohi[0]:+.3f}, {lohi[1]:+.3f}]"


# --- the claims --------------------------------------------------------------------------------------------------
def c1(runs):
    """C1, per run (seed): each behavioural phase observed or not, with its first step; the run shows the paper's
    pattern when A, B and C are all observed, first in that order, with the median order score of its C checkpoints
    ordered and of its B checkpoints disordered. Confirmed when every seed shows it; partly when some do; not
    testable when a phase's order score cannot be computed (no room between floor and ceiling)."""
    use, kind = confirmatory(runs)
    parts, shown, untestable = [], 0, 0
    for r in sorted(use, key=lambda r: r['seed']):
        m = r['id']
        *_, phase = behaviour(m)
        order = order_score(m)
        first = {p: (int(m['step'][phase == p][0]) if (phase == p).any() else None) for p in 'ABC'}
        in_c, in_b = order[phase == 'C'], order[phase == 'B']
        untestable += bool((len(in_c) and np.isnan(in_c).all()) or (len(in_b) and np.isnan(in_b).all()))
        ok_c = bool(np.isfinite(in_c).any() and np.nanmedian(in_c) >= ORDERED)
        ok_b = bool(np.isfinite(in_b).any() and np.nanmedian(in_b) < DISORDERED)
        steps = [first[p] for p in 'ABC']
        pattern = None not in steps and steps[0] < steps[1] < steps[2] and ok_c and ok_b
        shown += pattern
        obs = ', '.join(f"{p} {'at ' + str(first[p]) if first[p] is not None else 'not observed'}" for p in 'ABC')
        rng_ = lambda x: f"{np.nanmin(x):.2f}-{np.nanmax(x):.2f}" if len(x) and np.isfinite(x).any() else 'n/a'
        parts.append(f"seed {r['seed']}: {obs}; order in C {rng_(in_c)}, in B {rng_(in_b)}; strip "
                     + ' '.join(f"{s}:{p}" for s, p in zip(m['step'], phase)))
    verdict = ('confirmed' if shown == len(use) else f'partly ({shown} of {len(use)} seeds)' if shown else
               'not testable (no order score)' if untestable else 'not observed')
    return 'C1', f"{runs[0]['name'].rsplit('_seed', 1)[0]}: " + '; '.join(parts), f"{seeds_text(use)} ({kind})", verdict


def within_step_test(acc, score, rng, n_perm=N_BOOT):
    """acc, score: (blocks, increments), one row per (seed, step). Statistic: the mean over blocks of the Spearman
    correlation of accuracy and score across the increments within the block, so training time cannot carry it,
    however nonlinear. Null: the scores permuted among the increments inside each block. Returns (statistic, one-sided
    p for a positive relation, one-sided p for a negative one)."""
    def stat(a, b):  # Spearman per row = Pearson of average ranks; a row without spread counts 0
        ra, rb = rankdata(a, axis=-1), rankdata(b, axis=-1)
        ra, rb = ra - ra.mean(-1, keepdims=True), rb - rb.mean(-1, keepdims=True)
        den = np.sqrt((ra ** 2).sum(-1) * (rb ** 2).sum(-1))
        return np.where(den > 0, (ra * rb).sum(-1) / np.where(den > 0, den, 1), 0).mean(-1)
    obs = stat(acc, score)
    null = stat(acc[None], rng.permuted(np.broadcast_to(score, (n_perm,) + score.shape), axis=-1))
    return obs, (1 + np.sum(null >= obs - 1e-12)) / (1 + n_perm), (1 + np.sum(null <= obs + 1e-12)) / (1 + n_perm)


def c2(runs, key, rng):
    """C2: accuracy / oracle rises with the representation score `key` ('r2' or 'order') across increments at the
    same training step: within each (seed, trained step that every increment of that seed has), the increments'
    accuracies and scores are rank-correlated; a permutation test within those blocks gives p. Confirmed when p for
    a positive relation is < ALPHA; contradicted when p for a negative one is."""
    use, kind = confirmatory(runs)
    blocks, incs = [], sorted({r['dx'] for r in use})
    for seed in sorted({r['seed'] for r in use}):
        rs = sorted((r for r in use if r['seed'] == seed), key=lambda r: r['dx'])
        if [r['dx'] for r in rs] != incs or len(incs) < 3:  # a seed with every increment, once
            continue
        for step in common_steps(rs):
            if step == 0:
                continue
            i = [int(np.searchsorted(r['id']['step'], step)) for r in rs]
            acc = np.array([r['id']['acc'][k] / max(r['id']['oracle_acc'][k], 1e-9) for r, k in zip(rs, i)])
            rep = np.array([(order_score(r['id']) if key == 'order' else r['id'][key])[k] for r, k in zip(rs, i)])
            if np.isfinite(rep).all():
                blocks.append((acc, rep))
    if len(blocks) < 3:
        return f'C2 ({key})', 'fewer than 3 (seed, step) blocks of 3 increments with a score', seeds_text(use), 'not testable'
    rho, pp, pn = within_step_test(np.array([a for a, _ in blocks]), np.array([b for _, b in blocks]), rng)
    stat = (f"mean within-step Spearman(acc/oracle, {key}) across increments {rho:+.2f} over {len(blocks)} (seed, step) "
            f"blocks; permutation p (positive) {pp:.2g}, (negative) {pn:.2g}")
    return f'C2 ({key})', stat, f"{seeds_text(use)} ({kind})", 'confirmed' if pp < ALPHA else 'contradicted' if pn < ALPHA else 'not confirmed'


def c3(by_inc, rng):
    """C3: AUC(smallest increment) - AUC(largest increment) of accuracy / oracle; confirmed when its 95% CI lies
    above 0, contradicted when below. Returns the row and the point estimate (C5 compares with it)."""
    small, large = min(by_inc), max(by_inc)
    a, kind = confirmatory(by_inc[small])
    b, _ = confirmatory(by_inc[large])
    d, lohi, pa, pb, steps = auc_difference(a, b, rng)
    stat = (f"AUC(acc/oracle) d={small:g} {pa:.3f} vs d={large:g} {pb:.3f}; difference {interval(d, lohi)} "
            f"(95% CI over seeds and labels; {len(steps)} checkpoints to step {steps[-1]})")
    v = 'confirmed' if lohi[0] > 0 else 'contradicted' if lohi[1] < 0 else 'not confirmed'
    return ('C3', stat, f"{seeds_text(a + b)} ({kind})", v), (d if v == 'confirmed' else None)


def c5(groups, c3_effect, rng):
    """C5, per increment group: AUC(largest sigma) - AUC(smallest sigma), an equivalence test against the C3 effect:
    confirmed when C3 found a positive effect and every group's 95% CI lies inside (-C3 effect, +C3 effect); not
    testable without a positive C3 effect (noise alone must not read as 'no effect')."""
    parts, ok, used = [], True, []
    for label, rs in groups:
        sig = sorted({r['sigma'] for r in rs})
        if len(sig) < 2:
            continue
        a, kind = confirmatory([r for r in rs if r['sigma'] == sig[-1]])
        b, _ = confirmatory([r for r in rs if r['sigma'] == sig[0]])
        d, lohi, pa, pb, _ = auc_difference(a, b, rng)
        ok &= c3_effect is not None and -c3_effect < lohi[0] and lohi[1] < c3_effect
        used += a + b
        parts.append(f"{label}AUC sigma={sig[-1]:g} {pa:.3f} vs sigma={sig[0]:g} {pb:.3f}; difference {interval(d, lohi)}")
    if not parts:
        return 'C5', 'no increment with two sigmas', '', 'not testable'
    c3_text = 'no positive C3 effect' if c3_effect is None else f"C3 effect {c3_effect:+.3f}"
    return ('C5', '; '.join(parts) + f"; {c3_text}", f"{seeds_text(used)} ({kind})",
            'not testable (no confirmed increment effect to compare with)' if c3_effect is None else 'confirmed' if ok else 'not confirmed')


def first_axis(m, axis, steps):
    """Index in `steps` of the first checkpoint whose accuracy on one axis reaches FRAC x that axis's oracle."""
    hit = at_steps(m, steps, 'acc_' + axis) >= FRAC * at_steps(m, steps, 'oracle_acc_' + axis)
    return int(np.argmax(hit)) if hit.any() else None


def c4(imbal, by_inc, rng):
    """C4 (pace): in each imbalanced run (dx < dy), the first checkpoint where acc_x reaches FRAC x its oracle,
    against the balanced run at d = dx (same seed); likewise acc_y against d = dy. Coupled when x in the imbalanced
    run is later by at least one checkpoint (on the cpu grid a checkpoint is 2,000-4,000 steps: a coarse test). C4 (gap): mean over trained checkpoints of acc_y/oracle_y -
    acc_x/oracle_x with a bootstrap 95% CI; the verdict states its sign."""
    rows = []
    for (dx, dy), rs in sorted(imbal.items()):
        use, kind = confirmatory(rs)
        parts, coupled, tested = [], True, 0
        for r in sorted(use, key=lambda r: r['seed']):
            bx = next((b for b in by_inc.get(dx, []) if b['seed'] == r['seed']), None)
            by = next((b for b in by_inc.get(dy, []) if b['seed'] == r['seed']), None)
            if bx is None:
                parts.append(f"seed {r['seed']}: no balanced d={dx:g} run")
                continue
            steps = common_steps([r, bx] + ([by] if by else []))
            fx, fbx = first_axis(r['id'], 'x', steps), first_axis(bx['id'], 'x', steps)
            show = lambda i: 'never' if i is None else str(steps[i])
            txt = f"seed {r['seed']}: x reaches at {show(fx)} (balanced d={dx:g}: {show(fbx)})"
            if by is not None:
                txt += f", y at {show(first_axis(r['id'], 'y', steps))} (balanced d={dy:g}: {show(first_axis(by['id'], 'y', steps))})"
            parts.append(txt)
            if fbx is not None and fx is not None:
                tested += 1
                coupled &= fx >= fbx + 1
        v = ('not testable (x never reaches the threshold in the balanced or the imbalanced run)' if not tested else 'confirmed (coupled)' if coupled
             else 'not confirmed (x keeps its balanced pace)')
        rows.append((f'C4 pace dx={dx:g}, dy={dy:g}', '; '.join(parts), f"{seeds_text(use)} ({kind})", v))

        def gap(r, idx):
            m = r['id']
            keep = m['step'] > 0
            return float(np.mean(ratio(m['ok_y'][keep][:, idx], m['oracle_ok_y'][keep][:, idx])
                                 - ratio(m['ok_x'][keep][:, idx], m['oracle_ok_x'][keep][:, idx])))
        g, reps = boot(use, gap, rng)
        lohi = ci(reps)
        v = 'y above x' if lohi[0] > 0 else 'x above y' if lohi[1] < 0 else 'no difference detected'
        rows.append((f'C4 gap dx={dx:g}, dy={dy:g}', f"mean over trained checkpoints of acc_y/oracle_y - acc_x/oracle_x "
                     f"{interval(g, lohi)}", f"{seeds_text(use)} ({kind})",
                     ('confirmed (' if v == 'y above x' else 'contradicted (' if v == 'x above y' else 'not confirmed (') + v + ')'))
    return rows


def c6(holes, rng):
    """C6, per hole: at the last checkpoint, (acc / oracle inside the hole) - (acc / oracle outside), with a bootstrap
    95% CI; confirmed when the CI's lower end is above -HOLE_TOL and the outside is learned. The hole's core is
    reported beside. C6b (descriptive, no verdict): where a probe fitted on in-distribution layer 4 places the hole's
    samples, beside where it places the same labels on a blank canvas: the label reaches layer 4 directly, so a small
    error alone does not show that the drawing lands in the right place."""
    rows = []
    for hole, rs in sorted(holes.items()):
        use, kind = confirmatory(rs)
        last = lambda m: int(np.argmax(m['step']))
        def final(split):
            def stat(r, idx):
                m, i = r[split], last(r[split])
                return float(ratio(m['ok_x'][i][idx] & m['ok_y'][i][idx], m['oracle_ok_x'][i][idx] & m['oracle_ok_y'][i][idx]))
            return stat
        pin, rin = boot(use, final('ood'), rng, split='ood')
        pout, rout = boot(use, final('id'), rng)
        lohi = ci(rin - rout)
        core = np.mean([r['ood']['acc_core'][last(r['ood'])] / max(r['ood']['oracle_core'][last(r['ood'])], 1e-9) for r in use])
        learned = pout >= FRAC
        stat = (f"hole [{hole[0]:g}, {hole[1]:g}]: acc/oracle inside {pin:.3f}, outside {pout:.3f}, inside - outside "
                f"{interval(pin - pout, lohi)}; inside the core (> 1 px from the edge) {core:.3f}")
        v = 'confirmed' if lohi[0] > -HOLE_TOL and learned else 'not confirmed' + ('' if learned else ' (outside not learned)')
        rows.append((f'C6 hole {hole[0]:g}-{hole[1]:g}', stat, f"{seeds_text(use)} ({kind})", v))
        mae = {k: np.mean([r['ood'][k][last(r['ood'])] for r in use]) for k in ('probe_ood_mae', 'probe_blank_mae', 'centre_mae')}
        rows.append((f'C6b hole {hole[0]:g}-{hole[1]:g}', f"ID-fitted probe, mean abs. error: hole samples {mae['probe_ood_mae']:.2f} px, "
                     f"the same labels on a blank canvas {mae['probe_blank_mae']:.2f} px, guessing the centre {mae['centre_mae']:.2f} px",
                     f"{seeds_text(use)} ({kind})", 'descriptive (no verdict: the label reaches layer 4 directly)'))
    return rows


def all_claims(f3_runs, f4_runs, f5_runs, f8_groups, f9_runs):
    """Every pre-registered row (claim, statistic, seeds, verdict) for the runs of each figure, all seeds."""
    rng = np.random.default_rng(BOOT_SEED)
    rows, effect = [], None
    if f3_runs:
        rows.append(c1(f3_runs))
    by_inc = {}
    for r in f4_runs:
        by_inc.setdefault(r['dx'], []).append(r)
    if len(by_inc) >= 2:
        rows += [c2(f4_runs, 'r2', rng), c2(f4_runs, 'order', rng)]
        row, effect = c3(by_inc, rng)
        rows.append(row)
    if f5_runs:
        imbal = {}
        for r in f5_runs:
            imbal.setdefault((r['dx'], r['dy']), []).append(r)
        rows += c4(imbal, by_inc, rng)
    if f8_groups:
        rows.append(c5(f8_groups, effect, rng))
    if f9_runs:
        holes = {}
        for r in f9_runs:
            holes.setdefault(r['hole'], []).append(r)
        rows += c6(holes, rng)
    return rows
