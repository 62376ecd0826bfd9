"""
Reading and writing the artifacts the stages pass on disk (data.npz -> ckpt_*.pt -> samples_*.npz -> metrics.npz).

Every stage writes through these, so a kill at any moment leaves either the old file or the complete new one under
the final name, never a truncated one; and every read of a damaged or foreign file ends in one line naming the stage
to rerun instead of a traceback from numpy/torch. torch is imported only by the .pt helpers.
"""
import glob
import json
import os
import re
import sys
import zipfile

import numpy as np

from configurator import fail

# sample.py settings that do not change what a samples file holds (so changing them does not redo sampling)
NOT_RESULT = ('out_dir', 'ckpts', 'threads', 'device', 'prune_ckpts', 'compile')


def result_settings(sample_cfg):
    """The sample.py settings that define a samples file's content."""
    return {k: v for k, v in sample_cfg.items() if k not in NOT_RESULT}


# make_data.py's follow-up settings at their defaults: a data config written before they existed is the same dataset
DATA_DEFAULTS = dict(kind='bump', margin=6, rim=1, band_lo=None, band_hi=None, lesion_w=0.0, corner=0.0, subsample=1.0,
                     subsample_seed=0)


def same_data(a, b):
    """Whether two data configs describe the same dataset (the folder it sits in may have moved)."""
    norm = lambda c: {k: v for k, v in {**DATA_DEFAULTS, **c}.items() if k != 'out_dir'}
    return norm(a) == norm(b)


def checkpoints(out_dir):
    """{step: path} of the complete checkpoints in out_dir (temporary files are never matched)."""
    found = {}
    for p in glob.glob(os.path.join(out_dir, 'ckpt_*.pt')):
        m = re.search(r'ckpt_(\d+)\.pt$', p)
        if m:
            found[int(m.group(1))] = p
    return found


def sample_files(out_dir):
    """Complete samples_*.npz, ood_*.npz and region_*.npz files of a run, sorted."""
    files = [f for p in ('samples', 'ood', 'region') for f in glob.glob(os.path.join(out_dir, f'{p}_*.npz'))]
    return sorted(f for f in files if re.search(r'_(\d+)\.npz$', f))


def need_run_dir(out_dir):
    """A stage reading a run folder: a folder that does not exist is a typo or a missing first stage, said as such."""
    if not os.path.isdir(out_dir):
        fail(f"out_dir {out_dir!r} does not exist: a run folder starts with `python make_data.py --out_dir={out_dir}`")


def save_npz(path, **arrays):
    """Atomic, compressed .npz write (temporary name, then rename)."""
    tmp = path + '.tmp.npz'
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_npz(path, stage, keys=()):
    """Read a whole .npz (no pickle) into a dict, with its 'config' JSON decoded; fail naming `stage` if unusable."""
    if not os.path.exists(path):
        fail(f"{path} missing: run {stage} first")
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
        out['config'] = json.loads(out['config'].item())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        fail(f"{path} is damaged or not ours ({type(e).__name__}): delete it and rerun {stage}")
    missing = [k for k in keys if k not in out]
    if missing:
        fail(f"{path} lacks {', '.join(missing)}: delete it and rerun {stage}")
    return out


def save_pt(obj, path):
    """Atomic torch.save."""
    import torch
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_pt(path, stage):
    """torch.load with weights_only=True; a damaged file fails naming `stage`."""
    import torch
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated zip, not a checkpoint, pickle refusing a foreign object...
        fail(f"{path} is damaged or not a checkpoint ({type(e).__name__}): delete it and rerun {stage}")


def pending(out_dir, steps, prefix, stage, key, result, data_cfg, not_result):
    """[(step, path)] of the steps whose {prefix}_{step:07d}.npz is missing or was written with other settings (the
    config's `key` part without not_result, or another dataset): what a stage still has to do; the rest is kept."""
    todo = []
    for step in steps:
        path = os.path.join(out_dir, f'{prefix}_{step:07d}.npz')
        if os.path.exists(path):
            old = load_npz(path, stage)['config']
            if {k: v for k, v in old[key].items() if k not in not_result} == result and same_data(old['data'], data_cfg):
                continue
        todo.append((step, path))
    return todo


def network_at(path, data_cfg, out_dir, device):
    """(checkpoint dict, its network, its Diffusion) of a ckpt_*.pt, refusing one trained on another dataset."""
    from model import Diffusion, from_checkpoint
    ck = load_pt(path, 'train.py')
    if not same_data(ck['data_config'], data_cfg):
        fail(f"{path} was trained on another dataset than {out_dir}/data.npz: rerun train.py")
    return ck, from_checkpoint(ck, device), Diffusion(**ck['diffusion_args']).to(device)


def progress(total, desc, unit='it', initial=0):
    """A tqdm bar on stderr: redrawn twice a second on a terminal, every 30 s into a log file (no flood)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30)
