"""
Tiny configurator shared by every stage (nanoGPT's idea, imported instead of exec'd).

Each script keeps its settings as plain assignments at the top, then calls
    config = configure(globals())
which overrides them from `--key=value` arguments, prints every override, and
returns the settings as a dict (what the artifacts embed). Errors are one line
on stderr and exit status 2, before any work starts:
    python train.py --steps=100 --lr=1e-3
"""
import json
import os
import sys
import zipfile
from ast import literal_eval

import numpy as np

SETTING_TYPES = (bool, int, float, str, type(None))


def fail(msg):
    """Stop with a one-line error and no traceback (nothing has been written yet)."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def check(ok, key, value, allowed):
    """Range check for one setting: `check(steps > 0, 'steps', steps, 'a positive integer')`."""
    if not ok:
        fail(f"bad setting {key}={value!r}: allowed is {allowed}")


def _parse(key, text, default):
    try:
        value = literal_eval(text)
    except (ValueError, SyntaxError):
        value = text  # a bare word is a string: --device=cpu
    if type(default) is str and not isinstance(value, str):
        value = text  # --attn_res=8,4 stays the string '8,4'
    if default is None or value is None:
        return value  # optional settings (None = unset) take any scalar; scripts range-check them
    if type(default) is float and type(value) is int:
        return float(value)  # --lr=1 means 1.0
    if type(value) is not type(default):
        fail(f"bad setting {key}={text!r}: expected {type(default).__name__} like {default!r}")
    return value


def configure(g, argv=None):
    """Apply --key=value overrides to the config globals `g`; return {key: value} of all settings."""
    keys = [k for k, v in g.items() if not k.startswith('_')
            and isinstance(v, SETTING_TYPES) and k not in ('config',)]
    for arg in (sys.argv[1:] if argv is None else argv):
        if not arg.startswith('--') or '=' not in arg:
            fail(f"bad argument {arg!r}: expected --key=value with key one of {', '.join(keys)}")
        key, text = arg[2:].split('=', 1)
        if key not in keys:
            fail(f"unknown setting {key!r}: allowed are {', '.join(keys)}")
        g[key] = _parse(key, text, g[key])
        print(f"override {key} = {g[key]!r}")
    return {k: g[k] for k in keys}


# ----------------------------------------------------------------------------- artifacts
# Every stage writes through these, so a kill at any moment leaves either the old file or the
# complete new one under the final name, never a truncated one; and every read of a damaged or
# foreign file ends in one line naming the stage to rerun instead of a traceback from numpy/torch.

def save_npz(path, **arrays):
    """Atomic, compressed .npz write (temporary name, then rename)."""
    tmp = path + '.tmp.npz'
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def same_data(a, b):
    """Whether two data configs describe the same dataset (the folder it sits in may have moved)."""
    return {k: v for k, v in a.items() if k != 'out_dir'} == {k: v for k, v in b.items() if k != 'out_dir'}


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


def pick_device(device):
    """'auto' -> cuda when present, else cpu; an explicit 'cuda' without CUDA is a setting error."""
    import torch
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    check(device in ('cpu', 'cuda') or device.startswith('cuda:'), 'device', device, "'auto', 'cpu' or 'cuda'")
    check(device == 'cpu' or torch.cuda.is_available(), 'device', device, "'auto' or 'cpu' (CUDA is not available here)")
    print(f"device: {device}")
    return device
