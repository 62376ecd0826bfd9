"""
The config block of every script (nanoGPT's idea, imported instead of exec'd).

Each script keeps its settings as plain assignments between two `# ----` lines at its top, each with an inline
comment saying what it means, then calls
    config = configure(globals())
which overrides them from `--key=value` arguments, prints every override, and returns the settings as a dict
(what the artifacts embed). `--help` prints the script's usage lines and the block as a table, read from the
source itself so it can never drift.

Bad settings and unreadable artifacts raise SettingError (library code raises, so a notebook calling
`artifacts.load_npz` or `model.pick_device` gets an exception it can catch); a script that called configure() prints
one raised by anything it calls as one line on stderr, exit status 2, no traceback:
    python train.py --steps=100 --lr=1e-3
"""
import ast
import io
import os
import re
import sys
import tokenize
from ast import literal_eval

class SettingError(ValueError):
    """A bad setting, or an artifact that is missing, damaged or not ours: the message says what to change or rerun."""


def fail(msg):
    raise SettingError(msg)


def one_line_errors(kind, err, tb):
    """sys.excepthook of a script: a SettingError is one line 'error: ...' and exit status 2; the rest as usual."""
    if not isinstance(err, SettingError):
        return sys.__excepthook__(kind, err, tb)
    print(f"error: {err}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(2)  # the hook cannot choose the exit status otherwise; every write we do is atomic (tmp + rename)


def check(ok, key, value, allowed):
    """Range check for one setting: `check(steps > 0, 'steps', steps, 'a positive integer')`."""
    if not ok:
        fail(f"bad setting {key}={value!r}: allowed is {allowed}")


def literal(node):
    """The value of a setting's right-hand side: literals, and arithmetic on them as a hand edit writes it
    (`steps = 10 * 1000`, `lr = 3e-4 / 2`, `-1`); anything else (a name, a call) raises ValueError."""
    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b, ast.Pow: lambda a, b: a ** b}
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        return ops[type(node.op)](literal(node.left), literal(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return -literal(node.operand) if isinstance(node.op, ast.USub) else literal(node.operand)
    return literal_eval(node)


def config_block(path):
    """[(name, default, comment)] of the settings between the first two `# ----` lines of a script. A line that is
    not a readable setting stops with one line naming it (a hand edit gone wrong), not a traceback."""
    lines = open(path).read().splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith('# ----')]
    rows = []
    for no in range(marks[0] + 1, marks[1]):
        line = lines[no]
        if not re.match(r'^\w+\s*=', line):  # section comments and blank lines are not settings
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
            comment = next((t.string.lstrip('#').strip() for t in tokens if t.type == tokenize.COMMENT), '')
            node = ast.parse(line).body[0]
            rows.append((node.targets[0].id, literal(node.value), comment))
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError, tokenize.TokenError, AttributeError, IndexError):
            fail(f"{os.path.basename(path)} line {no + 1}: cannot read the setting {line.strip()!r}: allowed are literals "
                 f"(numbers, 'strings', True/False/None) and arithmetic on them, e.g. steps = 10 * 1000")
    return rows


def print_help(g, also=()):
    """The docstring's usage lines, then every setting with its default and meaning."""
    doc = (g.get('__doc__') or '').strip().splitlines()
    print(doc[0] if doc else '')
    usage = [line for line in doc if line.strip().startswith(('python ', 'bash ', 'GPU_CHECK'))]
    if usage:
        print('\nusage:\n' + '\n'.join(usage))
    rows = [row for path in (g['__file__'], *also) for row in config_block(path)]
    print('\nsettings (--key=value; default, meaning):')
    w = max(len(name) for name, _, _ in rows)
    for name, default, comment in rows:
        print(f"  --{name:<{w}} {default!r:<14} {comment}")


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


def configure(g, argv=None, also=()):
    """Apply --key=value overrides to the config globals `g`; return {key: value} of all settings. `also`: scripts
    whose settings this one shares (their defaults join `g`; train_pack.py takes train.py's). From here on a
    SettingError anywhere in the script ends it with one line (one_line_errors)."""
    sys.excepthook = one_line_errors
    for path in also:
        for name, value, _ in config_block(path):
            g.setdefault(name, value)
    keys = [name for path in (g['__file__'], *also) for name, _, _ in config_block(path)]
    argv = sys.argv[1:] if argv is None else argv
    if '--help' in argv or '-h' in argv:
        try:
            print_help(g, also)
            sys.stdout.flush()
        except BrokenPipeError:  # `--help | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    for arg in argv:
        if not arg.startswith('--') or '=' not in arg:
            fail(f"bad argument {arg!r}: expected --key=value with key one of {', '.join(keys)} (or --help)")
        key, text = arg[2:].split('=', 1)
        if key not in keys:
            import difflib
            near = difflib.get_close_matches(key, keys, n=1)
            fail(f"unknown setting {key!r}" + (f" (did you mean {near[0]!r}?)" if near else '') +
                 f": allowed are {', '.join(keys)} (or --help)")
        g[key] = _parse(key, text, g[key])
        print(f"override {key} = {g[key]!r}")
    return {k: g[k] for k in keys}


def parse_overrides(args, defaults):
    """{key: value} of a list like ['--width=8', '--lr=2e-3'] typed like `defaults` (a preset's override list)."""
    out = {}
    for arg in args:
        key, text = arg[2:].split('=', 1)
        out[key] = _parse(key, text, defaults[key])
    return out
