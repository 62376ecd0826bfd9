"""
The presets of run_all.sh in one place (nanoGPT keeps its configs as Python too): which runs a preset's figures
need, the settings each stage gets, and the resources a run is given. run_all.sh and bench.py read them from here;
to add a preset, add an entry to PRESETS (a dict of the keys in BASE) and run `bash run_all.sh NAME`.

    python presets.py cpu                 # print a preset: its runs and each stage's settings
run_all.sh's own calls (it keeps the shell work: xargs, flock, logs):
    python presets.py shell PRESET        # the preset's resources as shell assignments
    python presets.py jobs PRESET OUT     # write OUT/jobs.txt, one line per run
    python presets.py run PRESET DIR DX DY SIGMA HOLE SEED   # one run's stage flags as bash arrays (and whether
                                                             # it is done here, or in another preset's folder)
    python presets.py sbatch PRESET OUT   # write OUT/sweep.sbatch (settings from the environment: README)
"""
import glob
import os
import shlex
import subprocess
import sys

from configurator import SettingError, config_block, parse_overrides

HERE = os.path.dirname(os.path.abspath(__file__))

BASE = dict(
    size=32,            # image side (px)
    incs=(),            # Fig. 4: increments d (dx = dy) at sigma = 1
    sigmas=(),          # Fig. 8: sigmas ...
    sigma_incs=(),      # ... at these increments
    imbal=(),           # Fig. 5: (dx, dy) pairs at sigma = 1
    holes=(),           # Fig. 9: (lo, hi) holes of the data at d = hole_d, sigma = 1
    variants={},        # the follow-up's datasets: {name: make_data.py settings (kind, dx, sigma, band_lo, ...)}, one run each
    hole_d=1.0,
    seeds=(0,),         # every run above once per seed
    fig3_d=1.0,         # Fig. 3 and claim C1 use the d = fig3_d, sigma = 1 run ...
    fig3_train={},      # ... which gets these extra train.py settings (dense checkpoints)
    train={}, sample={}, analyze={},  # settings of train.py, sample.py, analyze.py (the rest: their defaults)
    probe=None,         # settings of probe.py (one-step probes of every checkpoint; None = no probe stage)
    study=False,        # draw the where-before-how study too (report.py: results/<results>/claims.md leads with prereg2)
    elicit=False,       # run the elicitation ladder after the probes (elicit.py; prereg3.py)
    followup=False,     # report and draw the follow-up's measures (prereg_followup.py)
    gpu=0,              # GPUs per run (a SLURM task's gres)
    cpus=1,             # CPUs per run (a SLURM task's cpus-per-task)
    run_threads=1,      # torch threads per run on a CPU (0 = all cores: a one-run preset)
    results=None,       # results/<results>/ gets claims.md and metrics.csv (None: the preset's name)
    expect='',          # the wall time a run of the preset took, measured (run_all.sh says it before it starts)
    formats='png,pdf',  # plot_figures.py's formats (study-tiny and followup-tiny draw PNGs only)
)
CPU_MODEL = dict(width=8, attn_res='8,4', lr=2e-3, warmup=100, lr_decay='cosine', batch_size=32)
DDIM_100 = dict(n_samples=500, sampler='ddim', eta=1.0, sample_steps=100)  # agrees with DDPM-1000 (results/NOTES.md)
# the default without a GPU (2 h 6 min on 2 cores, measured): one imbalanced pair and one hole; `cpu-more` adds the other two
CPU = dict(incs=(0.1, 0.5, 1.0), sigmas=(0.5, 1.0), sigma_incs=(1.0,), imbal=((0.1, 1.0),), hole_d=0.1, holes=((11, 21),),
           train=dict(CPU_MODEL, steps=16000, ckpt_every=4000, ckpt_at='2000'),
           fig3_train=dict(ckpt_at='500,1000,2000,3000,4000,5000,6000,7000'),  # a phase window of ~1,000 steps
           sample=DDIM_100)
# The where-before-how study (prereg2.py): the cpu model, probes every 500 steps, samples on a fixed grid.
# v2's confirmatory seeds are >= 3 (SEEDS=3,4 bash run_all.sh study); seeds 0-2 are its exploratory phase.
STUDY_SAMPLES = '0,500,1000,2000,3000,4000,5000,6000,7000,8000,12000,16000'
STUDY = dict(incs=(0.1, 1.0), sigmas=(0.5, 1.0), sigma_incs=(1.0,), imbal=(), holes=(), hole_d=0.1, fig3_d=1.0,
             train=dict(CPU_MODEL, steps=16000, ckpt_every=500), sample=dict(DDIM_100, ckpts=STUDY_SAMPLES),
             probe=dict(), study=True)
# the follow-up's runs (prereg_followup.py): the cpu model for 8,000 steps, 256 labels per evaluation set
FOLLOWUP = dict(incs=(), sigmas=(), sigma_incs=(), seeds=(0,), results='followup', expect='15-22 min per run, two at a time on 2 cores',
                train=dict(CPU_MODEL, steps=8000, ckpt_every=4000), sample=dict(DDIM_100, n_samples=256),
                analyze=dict(umap_seeds=1), followup=True)
PRESETS = {
    # smoke sweep (what the tests run): every figure and claim from toy runs, ~50 s on 2 cores (README, measured)
    'tiny': dict(expect='~50 s on 2 cores', incs=(2.0, 4.0), sigmas=(0.5, 1.0), sigma_incs=(4.0,), imbal=((2.0, 4.0),), hole_d=2.0,
                 holes=((11, 21),), fig3_d=4.0,
                 train=dict(width=8, attn_res='4', pe_dim=16, steps=30, ckpt_every=10, batch_size=16, log_every=5),
                 sample=dict(n_samples=40, sample_steps=5), analyze=dict(umap_seeds=1)),
    # the study's pipeline on toy runs (what the tests run): probes, the study's claims (no verdict: one seed) and figures
    'study-tiny': dict(expect='~30 s on 2 cores', incs=(1.0,), sigmas=(0.5, 1.0), sigma_incs=(1.0,), seeds=(3,), study=True,
                       train=dict(width=8, attn_res='4', pe_dim=16, steps=30, ckpt_every=10, batch_size=16, log_every=5),
                       sample=dict(n_samples=40, sample_steps=5), analyze=dict(umap_seeds=1),
                       probe=dict(n_probe=40, probe_ts='0,300', dec_ts='300'), formats='png'),
    # the follow-up's pipeline on toy runs (what the tests run): every kind of dataset, region and measure, nothing learned
    'followup-tiny': dict(incs=(), sigmas=(), sigma_incs=(), seeds=(0,), expect='~30 s on 2 cores', followup=True,
                          variants=dict(sos_band=dict(kind='sos', band_lo=13, band_hi=19, dx=2.0),
                                        periodic=dict(kind='periodic', dx=2.0)),  # d = 2: an 8 x 8 grid, 64 labels
                          train=dict(width=8, attn_res='4', pe_dim=16, steps=20, ckpt_every=20, batch_size=16, log_every=5),
                          sample=dict(n_samples=64, sample_steps=2), analyze=dict(umap_seeds=1), formats='png'),
    # one CPU run (d = 1) through phases A -> B -> C: Fig. 3 and claim C1; every core serves it
    'quick': dict(expect='23-25 min on 2 cores', incs=(1.0,), train=dict(CPU_MODEL, steps=12000, ckpt_every=2000, ckpt_at='500,1000,3000,5000,7000'),
                  sample=DDIM_100, cpus=2, run_threads=0),
    # the CPU sweep: 3 increments, 2 sigmas, 1 imbalanced pair, 1 hole
    'cpu': dict(CPU, expect='2 h 6 min on 2 cores'),
    # the rest of the CPU sweep: the second imbalanced pair (Fig. 5, C4) and the second hole (Fig. 9, C6); joins results/cpu
    'cpu-more': dict(CPU, expect='~45 min on 2 cores (estimated)', incs=(), sigmas=(), sigma_incs=(), imbal=((0.1, 0.5),), holes=((13, 19),), results='cpu'),
    # the confirmatory seeds 1 and 2 of the runs behind C1, C3 and C5 (one seed per command: SEEDS=1, SEEDS=2); join results/cpu
    'cpu-seeds': dict(CPU, expect='87 min per seed on 2 cores', imbal=(), holes=(), seeds=(1, 2), results='cpu'),
    # more of the paper's grid at CPU scale (Figs. 4 and 8), one seed: 11 runs, sigma = 1 shared between the figures;
    # the 4 it shares with `cpu` (d = 0.1, 0.5, 1 and sigma = 0.5 at d = 1) are linked from out/cpu when finished there
    'grid': dict(CPU, expect='~2 h 10 min on 2 cores after cpu (estimated)', incs=(0.1, 0.25, 0.5, 0.75, 1.0), sigmas=(0.3, 0.5, 0.7, 1.0), sigma_incs=(0.1, 1.0), imbal=(), holes=()),
    # the where-before-how study (prereg2.py): d = 1, d = 0.1 and sigma = 0.5 at d = 1, probes every 500 steps; one
    # command per seed or two (SEEDS=3,4 bash run_all.sh study); seeds >= 3 are confirmatory
    'study': dict(STUDY, expect='42-76 min per run, two at a time on 2 cores', seeds=(3,)),
    # the study's two smaller arms, the imbalanced pair (C4) and the hole (C6), on v1's statistics (seeds 3-5); join results/study
    'study-more': dict(STUDY, expect='45-60 min per run, two at a time on 2 cores', incs=(), sigmas=(), sigma_incs=(), imbal=((0.1, 1.0),), holes=((11, 21),), seeds=(3,), results='study'),
    # the study's exploratory phase: its d = 1 run on seeds 0-2 (seen before v2 was committed; never confirmatory)
    'study-explore': dict(STUDY, expect='42-76 min per run, two at a time on 2 cores', incs=(1.0,), sigmas=(), sigma_incs=(), seeds=(0, 1, 2)),
    # the study at width 16 (exploratory, not in v2): d = 1, the seeds of v2's first confirmatory runs, so each pairs
    # with its width-8 run in `study`; width 16 trains at ~110-140 img/s on one core
    'wide': dict(STUDY, expect='~2 h per run beside another on 2 cores', incs=(1.0,), sigmas=(), sigma_incs=(), seeds=(3, 4, 5), train=dict(STUDY['train'], width=16)),
    # why the samples lag (prereg3.py): d = 1 on v3's seeds 21-28, the study's model and schedule, samples and probes at
    # every checkpoint (500 steps), then the elicitation ladder (elicit.py) on each run's window; one or two seeds per
    # command (SEEDS=21,22 bash run_all.sh elicit)
    'elicit': dict(STUDY, expect='1 h 15 min to 2 h per pair of seeds on 2 cores', incs=(1.0,), sigmas=(), sigma_incs=(), seeds=(21,), sample=DDIM_100, analyze=dict(umap_seeds=1),
                   probe=dict(dec_ts='300'), study=False, elicit=True),
    # the follow-up (arXiv 2408.13256; prereg_followup.py): E2's three SOS datasets and E1's periodic bumps at CPU scale,
    # one command per seed (seeds 0-2 registered); `followup-more`: E3's lesion and exterior square, E5-train's pair
    'followup': dict(FOLLOWUP, variants=dict(sos_band=dict(kind='sos', band_lo=13, band_hi=19), stripes_rim1=dict(kind='stripes', rim=1),
                                             stripes_rim0=dict(kind='stripes', rim=0), periodic=dict(kind='periodic'))),
    'followup-more': dict(FOLLOWUP, variants=dict(lesion=dict(kind='bump', lesion_w=3.5), exterior=dict(kind='bump', corner=8.0),
                                                  mixed_10=dict(kind='mixed', subsample=0.1), bump_10=dict(kind='bump', subsample=0.1))),
    # Fig. 11b's other lesion widths (E3, descriptive): 2 and 8 px hold out 2 and 8 of the 32 columns (3.5 holds out 4)
    'followup-lesion': dict(FOLLOWUP, variants=dict(lesion_2=dict(kind='bump', lesion_w=2.0), lesion_8=dict(kind='bump', lesion_w=8.0))),
    # E5-train's registered seeds 1 and 2 (seed 0 is followup-more's)
    'followup-e5': dict(FOLLOWUP, seeds=(1, 2), variants=dict(mixed_10=dict(kind='mixed', subsample=0.1), bump_10=dict(kind='bump', subsample=0.1))),
    # the paper's model (train.py's defaults), schedule and sweep: 123 runs of 320,000 steps, for GPUs
    'paper': dict(expect='~84 min per run on one H200 (projected), ~170-200 h for the sweep', incs=tuple(round(0.1 * i, 1) for i in range(1, 11)), sigmas=tuple(round(0.1 * i, 1) for i in range(1, 11)),
                  sigma_incs=(0.1, 0.5, 1.0), imbal=((0.1, 1.0), (0.1, 0.5)), hole_d=0.1, holes=((13, 19), (11, 21)),
                  seeds=(0, 1, 2), gpu=1, cpus=4, run_threads=0),
}


def get(name, env=os.environ):
    """The preset `name` with every key of BASE filled in; SEEDS=1,2 in the environment replaces its seeds (more
    seeds of any preset, or one command per seed)."""
    if name not in PRESETS:
        raise SettingError(f"unknown preset {name!r}: allowed are {', '.join(PRESETS)}")
    p = dict(BASE, **PRESETS[name])
    if env.get('SEEDS', '').strip():
        p['seeds'] = parse_seeds(env['SEEDS'])
    return dict(p, name=name, results=p['results'] or name)


def parse_seeds(text):
    seeds = [v.strip() for v in text.split(',')]
    if not all(v.isdigit() for v in seeds):
        raise SettingError(f"bad SEEDS={text!r}: allowed is a comma-separated list of integers >= 0, e.g. SEEDS=1,2")
    return tuple(dict.fromkeys(int(v) for v in seeds))


def runs(p):
    """[(dx, dy, sigma, hole or None, seed, variant)] of a preset, each once (sigma = 1 runs are shared between
    figures); variant: '' for the seed paper's datasets, else a key of the preset's variants."""
    out = []
    for s in p['seeds']:
        out += [(d, d, 1.0, None, s, '') for d in p['incs']]
        out += [(d, d, sg, None, s, '') for d in p['sigma_incs'] for sg in p['sigmas']]
        out += [(dx, dy, 1.0, None, s, '') for dx, dy in p['imbal']]
        out += [(p['hole_d'], p['hole_d'], 1.0, h, s, '') for h in p['holes']]
        out += [(v.get('dx', 1.0), v.get('dx', 1.0), v.get('sigma', 1.0), None, s, k) for k, v in p['variants'].items()]
    return list(dict.fromkeys(out))


def run_name(dx, dy, sigma, hole, seed, variant=''):
    return (f"{variant}_" if variant else '') + f"dx{dx}_dy{dy}_sigma{sigma}" + (f"_hole{hole[0]}-{hole[1]}" if hole else '') + f"_seed{seed}"


def stage_settings(p, dx=None, dy=None, sigma=1.0, hole=None, variant=''):
    """{stage: {setting: value}} of one run (the overrides only; the scripts' defaults fill in the rest)."""
    train = dict(p['train'], **(p['fig3_train'] if dx == dy == p['fig3_d'] and sigma == 1.0 and hole is None and not variant else {}))
    data = dict(size=p['size'], dx=dx, dy=dy, sigma=sigma, **(dict(hole_lo=hole[0], hole_hi=hole[1]) if hole else {}),
                **{k: v for k, v in p['variants'].get(variant, {}).items() if k not in ('dx', 'sigma')})
    return dict(make_data=data, train=train, sample=dict(p['sample']), analyze=dict(p['analyze']),
                probe=None if p['probe'] is None else dict(p['probe']))


def full_settings(p):
    """(train, sample, analyze) of a preset as the scripts see them: their defaults with the preset's overrides."""
    st = stage_settings(p)
    return tuple({**defaults(s), **st[s]} for s in ('train', 'sample', 'analyze'))


def defaults(stage):
    return {name: value for name, value, _ in config_block(os.path.join(HERE, stage + '.py'))}


def flags(settings):
    return [f"--{k}={v}" for k, v in settings.items()]


NOT_RESULT = ('out_dir', 'device', 'threads', 'compile', 'time_limit', 'prune_ckpts', 'follow')  # where and how fast


def result_values(stage, overrides):
    """Every setting of a stage that defines its results: the script's defaults (as its config block reads now)
    with the overrides on top. A changed default in a script's block thus changes the runs that use it. (train.py's
    seed is the run's, in the signature's head; sample.py's and analyze.py's seeds count here.)"""
    drop = NOT_RESULT + (('seed',) if stage == 'train' else ())
    return {k: v for k, v in {**defaults(stage), **overrides}.items() if k not in drop}


def signature(p, dx, dy, sigma, hole, seed, variant=''):
    """What a finished run's DONE file holds: every setting that defines its results, one line."""
    st = stage_settings(p, dx, dy, sigma, hole, variant)
    h = f"{hole[0]},{hole[1]}" if hole else '-'
    v = ' data=' + ','.join(f"{k}:{x}" for k, x in sorted(p['variants'][variant].items())) if variant else ''
    return (f"size={p['size']} dx={dx} dy={dy} sigma={sigma} hole={h} seed={seed}{v} " +
            ' '.join(f"{s}: {' '.join(shlex.quote(f) for f in flags(result_values(s, st[s])))}"
                     for s in ('train', 'sample', 'analyze', 'probe') if st[s] is not None))


def parse_signature(text):
    """A DONE line as comparable values: flags typed by the scripts' defaults, a repeated flag's last value wins
    (so '--lr=2e-3' and '--lr=0.002' are the same setting), a setting it lacks (a DONE written before signatures
    held every setting, or before the setting existed) at its default."""
    head, rest = text.strip().split(' train: ', 1)
    train, rest = rest.split(' sample: ', 1)
    sample, analyze = (rest + ' ').split(' analyze: ', 1)
    analyze, probe = (analyze.split(' probe: ', 1) + [None])[:2]  # a run without a probe stage has no ' probe: '
    out = dict(head=head, probe=None if probe is None else result_values('probe', parse_overrides(shlex.split(probe), defaults('probe'))))
    for stage, text in (('train', train), ('sample', sample), ('analyze', analyze)):
        out[stage] = result_values(stage, parse_overrides(shlex.split(text), defaults(stage)))
    return out


def changed(run_dir, sig):
    """What differs between a run's DONE and the settings asked now, one line ('' if nothing or no DONE)."""
    path = os.path.join(run_dir, 'DONE')
    if not os.path.exists(path):
        return ''
    try:
        old, new = parse_signature(open(path).read()), parse_signature(sig)
    except (ValueError, KeyError, SettingError):
        return 'its DONE is unreadable or names a removed setting'
    if old['head'] != new['head']:
        return f"data or seed: {old['head']} -> {new['head']}"
    out = []
    for stage in ('train', 'sample', 'analyze', 'probe'):
        a, b = old.get(stage) or {}, new.get(stage) or {}
        if (old.get(stage) is None) != (new.get(stage) is None):
            out.append(f"{stage} stage {'added' if old.get(stage) is None else 'removed'}")
            continue
        out += [f"{stage} {k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ', '.join(out)


def is_done(run_dir, sig):
    """Whether run_dir finished with the same settings (a DONE file whose settings equal sig's)."""
    path = os.path.join(run_dir, 'DONE')
    if not os.path.exists(path):
        return False
    try:
        return parse_signature(open(path).read()) == parse_signature(sig)
    except (ValueError, KeyError, SettingError):  # a hand-written DONE, or one naming a setting that no longer exists
        return False  # rerun (the run resumes from its checkpoints)


def reusable(run_dir, sig):
    """A finished run with the same name and settings in another preset's folder (out/cpu's d = 1 run serves the
    grid preset too), as a path relative to run_dir's folder; '' if none, or if run_dir is a real folder (a link
    there that is not done with these settings is replaced: run_all.sh never works through a link)."""
    if os.path.lexists(run_dir) and not os.path.islink(run_dir):
        return ''
    name, sweep = os.path.basename(run_dir), os.path.realpath(os.path.dirname(os.path.abspath(run_dir)))
    for other in sorted(glob.glob(os.path.join(os.path.dirname(sweep), '*', name))):
        if os.path.realpath(os.path.dirname(other)) != sweep and not os.path.islink(other) and is_done(other, sig):
            return os.path.relpath(os.path.realpath(other), sweep)
    return ''


def parse_run(args):
    """PRESET DIR DX DY SIGMA HOLE SEED [VARIANT] (a line of jobs.txt) -> (preset, dir, dx, dy, sigma, hole, seed, variant)."""
    if len(args) not in (7, 8):
        raise SettingError(f"bad job {' '.join(args)!r}: allowed is PRESET DIR DX DY SIGMA HOLE SEED [VARIANT] (a line of jobs.txt)")
    name, d, dx, dy, sigma, hole, seed = args[:7]
    variant = args[7] if len(args) == 8 and args[7] != '-' else ''
    p = get(name)
    if variant and variant not in p['variants']:
        raise SettingError(f"bad job {' '.join(args)!r}: VARIANT {variant!r} is not one of preset {name}'s: {', '.join(p['variants']) or 'none'}")
    try:
        h = None if hole == '-' else tuple(int(v) for v in hole.split(','))
        return p, d, float(dx), float(dy), float(sigma), h, int(seed), variant
    except ValueError:
        raise SettingError(f"bad job {' '.join(args)!r}: DX DY SIGMA are numbers, HOLE is 'lo,hi' or -, SEED an integer")


def sbatch(p, out, n, env):
    """The SLURM array script of a sweep: one task per line of jobs.txt, each resuming its run when requeued."""
    cpt, gpt, most = env.get('CPUS_PER_TASK', str(p['cpus'])), env.get('GPUS_PER_TASK', str(p['gpu'])), env.get('MAX_RUNNING', '')
    for key, val, ok, allowed in (('CPUS_PER_TASK', cpt, cpt.isdigit() and int(cpt) > 0, 'a positive integer'),
                                  ('GPUS_PER_TASK', gpt, gpt.isdigit(), 'an integer >= 0'),
                                  ('MAX_RUNNING', most, most == '' or (most.isdigit() and int(most) > 0), 'a positive integer')):
        if not ok:
            raise SettingError(f"bad {key}={val!r}: allowed is {allowed}")
    out = os.path.abspath(out)
    lines = ['#!/usr/bin/env bash', f"#SBATCH --job-name=bumps-{p['name']}", f"#SBATCH --array=1-{n}" + (f"%{most}" if most else ''),
             f"#SBATCH --cpus-per-task={cpt}"]
    lines += [f"#SBATCH --gres=gpu:{gpt}"] if int(gpt) > 0 else []
    lines += [f"#SBATCH --{opt}={env[key]}" for key, opt in (('PARTITION', 'partition'), ('ACCOUNT', 'account'),
                                                              ('TIME_LIMIT', 'time')) if env.get(key)]
    lines += [f"#SBATCH {d.strip()}" for d in env.get('EXTRA_SBATCH', '').split(';') if d.strip()]
    lines += ['#SBATCH --requeue', '#SBATCH --open-mode=append', f"#SBATCH --output={out}/slurm_%A_%a.out",
              '# a task resumes its run from the last checkpoint when requeued or resubmitted; it uses the CPUs it was given',
              f'cd "{HERE}"', f"export THREADS=${{SLURM_CPUS_PER_TASK:-{cpt}}}  # SLURM sets CUDA_VISIBLE_DEVICES to the GPU it gave",
              'unset NGPU', f'bash run_all.sh job $(sed -n "${{SLURM_ARRAY_TASK_ID}}p" "{out}/jobs.txt")']
    return '\n'.join(lines) + '\n', cpt, gpt


def pack(p, out, k, threads):
    """PACK=k (run_all.sh): train the preset's unfinished runs k at a time as one network (train_pack.py), each after
    its make_data stage, logging into each run's log.txt as a solo run does; run_all.sh's jobs then find them trained
    and only evaluate. Runs are packed only with runs of the same training settings stopped at the same step."""
    from artifacts import checkpoints
    groups = {}
    for r in runs(p):
        d, sig = os.path.join(out, run_name(*r)), signature(p, *r)
        if os.path.islink(d) or is_done(d, sig) or reusable(d, sig):
            continue
        train = stage_settings(p, *r[:4], r[5])['train']
        last = max(checkpoints(d), default=0) if os.path.isdir(d) else 0
        if last < train.get('steps', defaults('train')['steps']):
            groups.setdefault((tuple(flags(train)), last), []).append((d, r))
    for (train, last), members in groups.items():
        for i in range(0, len(members), k):
            chunk = members[i:i + k]
            dirs = [d for d, _ in chunk]
            for d, r in chunk:
                os.makedirs(d, exist_ok=True)
                log(d, 'make_data', [os.path.join(HERE, 'make_data.py'), f'--out_dir={d}', *flags(stage_settings(p, *r[:4], r[5])['make_data'])])
            print(f"packed training of {len(dirs)} runs from step {last}: {', '.join(os.path.basename(d) for d in dirs)}", flush=True)
            cmd = [os.path.join(HERE, 'train_pack.py'), f"--out_dirs={','.join(dirs)}", f"--seeds={','.join(str(r[4]) for _, r in chunk)}",
                   *train, f'--threads={threads}']
            log(dirs, f"train (packed: {len(dirs)} runs in one network, train_pack.py)", cmd)


def log(dirs, stage, cmd):
    """Run `python cmd` with its output appended to the first run folder's log.txt under '== stage' (as run_all.sh's
    stages; the heartbeat shows its progress bar); the others' logs point there."""
    dirs = [dirs] if isinstance(dirs, str) else dirs
    for d in dirs[1:]:
        with open(os.path.join(d, 'log.txt'), 'a') as f:
            f.write(f"== {stage}: its output is in {os.path.join(dirs[0], 'log.txt')}\n")
    with open(os.path.join(dirs[0], 'log.txt'), 'a') as f:
        f.write(f"== {stage}\n")
        f.flush()
        rc = subprocess.run([sys.executable, *cmd], stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        with open(os.path.join(dirs[0], 'log.txt')) as f:
            last = [line for line in f.read().replace('\r', '\n').splitlines() if line.strip()][-1:] or ['?']
        raise SettingError(f"{stage} failed for {', '.join(dirs)}: {last[0]}")


def write(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def report_flags(p):
    """The preset's settings of report.py and plot_figures.py (both default to False for study, elicit, followup):
    run_all.sh's draw passes them, and `python presets.py NAME` prints them in its `tables:` line."""
    return ([f"--fig3_d={p['fig3_d']}", f"--sigma_incs={','.join(map(str, p['sigma_incs']))}"]
            + [f'--{k}=True' for k in ('study', 'elicit', 'followup') if p[k]])


def shell(p):
    """The preset's resources and figure settings as shell assignments (run_all.sh evals them)."""
    return (f"GPU={p['gpu']} CPUS={p['cpus']} RUN_THREADS={p['run_threads']} RESULTS={shlex.quote(p['results'])} "
            f"ELICIT={int(p['elicit'])} {bash_array('REPORT', report_flags(p))} "
            f"FORMATS={p['formats']} EXPECT={shlex.quote(p['expect'] or 'not measured')}")


def bash_array(name, items):
    return f"{name}=({' '.join(shlex.quote(i) for i in items)})"


def main(argv):
    cmd = argv[0] if argv else ''
    if cmd == 'shell':
        print(shell(get(argv[1])))
    elif cmd == 'jobs':
        p, out = get(argv[1]), argv[2]
        lines = [f"{p['name']} {out}/{run_name(*r)} {r[0]} {r[1]} {r[2]} {f'{r[3][0]},{r[3][1]}' if r[3] else '-'} {r[4]}"
                 + (f" {r[5]}" if r[5] else '') for r in runs(p)]
        write(os.path.join(out, 'jobs.txt'), '\n'.join(lines) + '\n')
        print(len(lines))
    elif cmd == 'run':  # one run: its stage flags as bash arrays, its signature, whether it is already done
        p, d, dx, dy, sigma, hole, seed, variant = parse_run(argv[1:])
        st, sig = stage_settings(p, dx, dy, sigma, hole, variant), signature(p, dx, dy, sigma, hole, seed, variant)
        for stage in ('make_data', 'train', 'sample', 'analyze', 'probe'):
            print(bash_array(stage.upper(), flags(st[stage] or {})))
        done = is_done(d, sig)
        if done and not os.path.islink(d) and open(os.path.join(d, 'DONE')).read().strip() != sig:
            write(os.path.join(d, 'DONE'), sig + '\n')  # an older DONE (the preset's settings only), now in full
        print(f"{shell(p)} SEED={seed} SIG={shlex.quote(sig)} DONE_SAME={int(done)} DO_PROBE={int(st['probe'] is not None)} "
              f"WHY={shlex.quote('' if done else changed(d, sig))} "
              f"REUSE={shlex.quote(reusable(d, sig))}")
    elif cmd == 'pack':  # PRESET OUT K THREADS: train the unfinished runs K at a time as one network (run_all.sh PACK=K)
        pack(get(argv[1]), argv[2], int(argv[3]), int(argv[4]))
    elif cmd == 'sbatch':
        p, out = get(argv[1]), argv[2]
        n = sum(1 for _ in open(os.path.join(out, 'jobs.txt')))
        text, cpt, gpt = sbatch(p, out, n, os.environ)
        write(os.path.join(out, 'sweep.sbatch'), text)
        print(f"wrote {out}/jobs.txt ({n} runs) and {out}/sweep.sbatch ({cpt} CPU(s), {gpt} GPU(s) per task); "
              f"submit with: sbatch {out}/sweep.sbatch")
    elif cmd in PRESETS:
        p = get(cmd)
        print(f"preset {cmd}: {len(runs(p))} runs; figures/{cmd}, results/{p['results']}")
        for r in runs(p):
            print('  ' + run_name(*r))
        for stage, s in stage_settings(p).items():
            if stage != 'make_data' and s is not None:
                print(f"{stage}: {' '.join(flags(s))}")
        # run_all.sh's draw, by hand: with the folder empty (mkdir) it rebuilds the claims from the committed tables
        print(f"tables: python report.py --sweep_dir=out/{cmd} --results=results/{p['results']} {' '.join(report_flags(p))}")
    else:
        raise SettingError(f"bad command {' '.join(argv)!r}: allowed are shell, jobs, run, pack, sbatch or a preset "
                           f"({', '.join(PRESETS)})")


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except SettingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
