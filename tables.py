"""
Every results table, read and written in one place (no statistics, no figures): the runs of a sweep as the stages
left them (metrics.npz, probes_*.npz, ladder_*.npz) and the committed tables that keep them once the run folders
are gone (results/<preset>/metrics.csv, probes.csv, ladder.csv), plus atomic text writes for the claims tables.
report.py writes the tables and claims, plot_figures.py reads them; both import this.
"""
import csv
import glob
import json
import os
import subprocess

import numpy as np

from artifacts import DATA_DEFAULTS, load_npz

RUN_SETTINGS = ('width', 'attn_res', 'pe_dim', 'batch_size', 'lr', 'warmup', 'lr_decay', 'ema', 'steps')  # kept in metrics.csv
CEILINGS = ('oracle_q', 'oracle_a')  # per checkpoint, not per t: the locator on clean renders of q and of p
PROBE_SCALARS = ('acc_q', 'acc_p', 'acc_r', 'acc_a', 'oracle_q', 'oracle_a', 'dec_q_x0', 'dec_p_x0', 'dec_q_l4', 'dec_p_l4', 'dec_q_l4_gain', 'dec_r_l4')


def write_text(path, text):
    """Atomic write of a text file (temporary name, then rename)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def write_rows(path, rows):
    """Atomic CSV of a list of dicts (the first row's keys are the columns)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader(), w.writerows(rows)
    os.replace(path + '.tmp', path)


def read_rows(path):
    """The rows of a CSV as dicts of strings ([] when the file does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


# --- sample metrics: metrics.npz per run, metrics.csv per preset ---------------------------------------------------
def load_runs(sweep_dir):
    """Every run folder with a metrics file, as dicts: settings (dx, dy, sigma, hole, seed, size) and per split rows."""
    runs = []
    for path in sorted(glob.glob(os.path.join(sweep_dir, '*', 'metrics.npz'))):
        m = load_npz(path, 'analyze.py', keys=('step', 'split', 'acc', 'emb', 'examples', 'probe_r2', 'trust', 'id_dim'))
        cfg = m.pop('config')['sample']
        data, train = cfg['data'], cfg['train']
        hole = None if data.get('hole_lo') is None else (data['hole_lo'], data['hole_hi'])
        splits = sorted(set(m['split'].tolist()), key=lambda s: (s != 'id', s != 'ood', s))  # id, ood, then regions
        split = {s: {k: v[m['split'] == s] for k, v in m.items()} for s in splits}
        runs.append(dict(name=os.path.basename(os.path.dirname(path)), dx=data['dx'], dy=data['dy'], sigma=data['sigma'],
                         hole=hole, seed=train['seed'], size=data['size'], steps=train['steps'],
                         train={k: v for k, v in train.items() if k in RUN_SETTINGS}, data=followup_data(data),
                         splits=splits, **split))
    return runs


def followup_data(data):
    """The follow-up's data settings of a run that differ from their defaults ({} for the seed paper's runs)."""
    return {k: data[k] for k, v in DATA_DEFAULTS.items() if k in data and data[k] != v}


SCALARS = ('acc', 'acc_x', 'acc_y', 'oracle_acc', 'oracle_acc_x', 'oracle_acc_y', 'n_none', 'n_one', 'n_many', 'n_fill',
           'r2', 'r2_x', 'r2_y', 'umap_r2_sd', 'probe_r2', 'probe_r2_x', 'probe_r2_y', 'trust', 'id_dim', 'pca_dim',
           'trust_dm', 'knn_r2_dm', 'trust_ref', 'knn_r2_ref', 'trust_blank', 'knn_r2_blank', 'acc_core', 'oracle_core',
           'probe_ood_mae', 'probe_blank_mae', 'centre_mae', 'pacc', 'pacc_x', 'pacc_y', 'oracle_pacc')
BITS = ('ok_x', 'ok_y', 'oracle_ok_x', 'oracle_ok_y', 'single', 'core', 'pok_x', 'pok_y')  # per-sample booleans, hex of np.packbits
# in the CSV; a run scored before analyze.py had a column (the position-only pacc, pok_x/_y) gets nan, or all False for bits
SETTINGS = ('name', 'dx', 'dy', 'sigma', 'hole', 'seed', 'size', 'steps', 'train', 'data')  # data: the follow-up's kind etc.


def write_metrics_csv(path, runs):
    """The committed results table: one row per run x checkpoint x split with the run's settings, every scalar
    metric and the per-sample correctness (what the claims need once the run folders are gone)."""
    rows = []
    for r in runs:
        for split in r.get('splits', ('id', 'ood')):
            m = r.get(split)
            for i in range(len(m['step']) if m is not None else 0):
                row = {k: (json.dumps(r.get(k, {}), sort_keys=True) if k in ('hole', 'train', 'data') else r[k]) for k in SETTINGS}
                row.update(split=split, step=int(m['step'][i]), n_samples=len(m['ok_x'][i]))
                row.update({k: float(m[k][i]) if k in m else np.nan for k in SCALARS})
                row.update({k: np.packbits(m[k][i]).tobytes().hex() if k in m else '' for k in BITS})
                rows.append(row)
    write_rows(path, rows)


def read_metrics_csv(path):
    """Runs (as load_runs gives them, without embeddings and example images) from a metrics.csv."""
    if not os.path.exists(path):
        return []
    runs = {}
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            r = runs.setdefault(row['name'], dict(name=row['name'], dx=float(row['dx']), dy=float(row['dy']),
                                                  sigma=float(row['sigma']), hole=json.loads(row['hole']), seed=int(row['seed']),
                                                  size=int(row['size']), steps=int(row['steps']), train=json.loads(row['train']),
                                                  data=json.loads(row.get('data') or '{}'), splits=[]))
            if row['split'] not in r['splits']:
                r['splits'].append(row['split'])
            m = r.setdefault(row['split'], {k: [] for k in ('step',) + SCALARS + BITS})
            m['step'].append(int(row['step']))
            for k in SCALARS:
                m[k].append(float(row.get(k) or 'nan'))
            for k in BITS:
                m[k].append(np.unpackbits(np.frombuffer(bytes.fromhex(row.get(k) or ''), np.uint8), count=int(row['n_samples'])).astype(bool)
                            if row.get(k) else np.zeros(int(row['n_samples']), bool))
    for r in runs.values():
        r['hole'] = tuple(r['hole']) if r['hole'] else None
        for split in r['splits']:
            r[split] = {k: np.array(v) for k, v in r[split].items()}
    return list(runs.values())


def runs_and_kept(sweep_dir, table):
    """The runs of a sweep folder (metrics.npz) and those kept in `table` only (runs whose folders are gone), the
    folder's copy winning; says what it merged."""
    runs = load_runs(sweep_dir)
    names = {r['name'] for r in runs}
    kept = [r for r in read_metrics_csv(table) if r['name'] not in names]
    if kept:
        print(f"{len(kept)} run(s) from {table} beside the {len(runs)} in {sweep_dir}: {', '.join(r['name'] for r in kept)}")
        other = {json.dumps(r['train'], sort_keys=True) for r in runs + kept}
        if len(other) > 1:
            print(f"note: the runs were trained with {len(other)} different settings (the train column of {table})")
    return runs + kept


# --- one-step probes: probes_*.npz per run, probes.csv per preset -----------------------------------------------------
def load_probes(run_dir):
    """{step, ts, <scalar> (checkpoints, ts)} of a run folder, or None (the per-sample hits stay in the npz files)."""
    files = sorted(glob.glob(os.path.join(run_dir, 'probes_*.npz')))
    if not files:
        return None
    ps = [load_npz(f, 'probe.py', keys=('acc_q', 'probe_ts', 'step')) for f in files]
    out = dict(step=np.array([int(p['step']) for p in ps]), ts=ps[0]['probe_ts'])
    for k in PROBE_SCALARS:  # a key a file lacks (written before probe.py saved it) is nan
        out[k] = np.array([np.broadcast_to(p.get(k, np.nan), out['ts'].shape) for p in ps], float)
    for k in CEILINGS:
        out[k] = out[k][:, 0]
    return out


def write_probes_csv(path, runs):
    rows = []
    for r in runs:
        p = r['probe']
        for i, step in enumerate(p['step']):
            for j, t in enumerate(p['ts']):
                row = dict(name=r['name'], seed=r['seed'], dx=r['dx'], dy=r['dy'], sigma=r['sigma'], step=int(step), t=int(t))
                row.update({k: round(float(p[k][i] if k in CEILINGS else p[k][i, j]), 5) for k in PROBE_SCALARS})
                rows.append(row)
    write_rows(path, rows)


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
        for k in PROBE_SCALARS:
            p[k] = np.full((len(steps), len(ts)), np.nan)
        for r in rs:
            i, j = steps.index(int(r['step'])), ts.index(int(r['t']))
            for k in PROBE_SCALARS:
                p[k][i, j] = float(r.get(k) or 'nan')
        for k in CEILINGS:
            p[k] = p[k][:, 0]
        out[name] = p
    return out


# --- the elicitation ladder: ladder_*.npz per run, ladder.csv per preset ---------------------------------------------
LADDER_KEYS = ('acc', 'oracle_acc', 'pacc', 'oracle_pacc', 'n', 'n_none', 'n_many', 'n_fill', 'n_misplaced')


def load_ladder(run_dir):
    """{variant (and 'ddim100_sub', 'chain'): {step: array, key: array}} of a run folder's ladder_*.npz, or None."""
    files = sorted(f for f in glob.glob(os.path.join(run_dir, 'ladder_*.npz')) if '.tmp' not in f)
    if not files:
        return None
    ls = [load_npz(f, 'elicit.py', keys=('step',)) for f in files]
    names = sorted({k[:-len('_acc')] for k in ls[0] if k.endswith('_acc') and not k.endswith('oracle_acc') and not k.endswith('_pacc')})
    out = {v: dict(step=np.array([int(x['step']) for x in ls]), **{k: np.array([float(x.get(f'{v}_{k}', np.nan)) for x in ls])
                                                                   for k in LADDER_KEYS}) for v in names}
    if 'chain_pacc' in ls[0]:
        out['chain'] = dict(step=np.array([int(x['step']) for x in ls]), pacc=np.array([float(x['chain_pacc']) for x in ls]),
                            oracle_pacc=np.array([float(x['chain_oracle_pacc']) for x in ls]))
    return out


def write_ladder_csv(path, runs):
    """One row per run x variant x window checkpoint (the chain's self-probe as variant 'chain')."""
    rows = []
    for r in runs:
        for v, d in sorted(r['ladder'].items()):
            for i, step in enumerate(d['step']):
                rows.append(dict(name=r['name'], seed=r['seed'], variant=v, step=int(step),
                                 **{k: round(float(d[k][i]), 5) if k in d else '' for k in LADDER_KEYS}))
    write_rows(path, rows)


def read_ladder_csv(path):
    """{run name: ladder as load_ladder gives it} from a ladder.csv."""
    out = {}
    for row in read_rows(path):
        d = out.setdefault(row['name'], {}).setdefault(row['variant'], {k: [] for k in ('step',) + LADDER_KEYS})
        d['step'].append(int(row['step']))
        for k in LADDER_KEYS:
            d[k].append(float(row[k]) if row[k] != '' else np.nan)
    return {n: {v: {k: np.array(x) for k, x in d.items()} for v, d in lad.items()} for n, lad in out.items()}


def v3_runs(runs, sweep_dir, results):
    """prereg3's run dicts (base, probe with acc_a's own ceiling, ladder, chain) of the d = 1 runs with probes and a
    ladder (in their folder, or kept in results/ladder.csv)."""
    kept = read_ladder_csv(os.path.join(results, 'ladder.csv'))
    out = []
    for r in runs:
        lad = load_ladder(os.path.join(sweep_dir, r['name'])) or kept.get(r['name'])
        if not lad or not (r['dx'] == r['dy'] == 1.0 and r['sigma'] == 1.0 and not r['hole']):
            continue
        r['ladder'] = lad
        m, p = r['id'], dict(r['probe'])
        # acc_a's ceiling: the locator on clean renders of its labels p (probe.py's oracle_a); probes written before
        # probe.py saved it use oracle_q, the same label distribution (1.0 on the d = 1 grid)
        p['oracle_a'] = np.where(np.isfinite(p['oracle_a']), p['oracle_a'], p['oracle_q'])
        base = dict(step=m['step'], acc=m['acc'], oracle_acc=m['oracle_acc'], pacc=m['pacc'], oracle_pacc=m['oracle_pacc'])
        out.append(dict(name=r['name'], seed=r['seed'], base=base, probe=p, ladder={k: v for k, v in lad.items() if k != 'chain'},
                        chain=lad.get('chain', dict(step=[], pacc=[], oracle_pacc=[]))))
    return out


def attach_probes(runs, sweep_dir, results):
    """The runs that have one-step probes (in their folder, or kept in results/probes.csv), each with r['probe']."""
    kept = read_probes_csv(os.path.join(results, 'probes.csv'))
    for r in runs:
        r['probe'] = load_probes(os.path.join(sweep_dir, r['name'])) or kept.get(r['name'])
    missing = [r['name'] for r in runs if r['probe'] is None]
    if missing:
        print(f"note: no probes for {', '.join(missing)} (run probe.py there): left out")
    return [r for r in runs if r['probe'] is not None]


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
