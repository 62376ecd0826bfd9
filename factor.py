"""
Measures of factorization (the follow-up, arXiv 2408.13256, Figs. 2-3; ../shared/FOLLOWUP.md E1), computed the same
way on a model's representation and on ideal references whose answer is known, so that a number is read against
them, never alone. Pure numpy/scikit-learn; ripser (persistent homology) is imported only where it is used.

  effective_dim   participation ratio of the PCA spectrum, PCs to 95% of the variance, top-4 explained variance
  chord_tests     orthogonality and parallelism of x- and y-chords on a label grid (FOLLOWUP's operationalisation [I])
  persistence     H0-H2 bars (ripser), and the bars clearly longer than the rest
  torus_3d, clifford_torus, hyper_torus   the references: coupled, factorized, factorized with unaligned values
"""
import numpy as np


def effective_dim(X):
    """(participation ratio, PCs to 95% of the variance, explained-variance ratio of the top 4 PCs) of rows X."""
    X = np.asarray(X, np.float64)
    X = X - X.mean(0)
    lam = np.linalg.svd(X, compute_uv=False) ** 2
    lam = lam / lam.sum()
    return float(1.0 / np.sum(lam ** 2)), int(np.searchsorted(np.cumsum(lam), 0.95) + 1), float(lam[:4].sum())


def torus_3d(theta, phi, R=2.0, r=1.0):
    """The standard torus in R^3: theta and phi share coordinates (a coupled representation)."""
    return np.stack([(R + r * np.cos(phi)) * np.cos(theta), (R + r * np.cos(phi)) * np.sin(theta), r * np.sin(phi)], 1)


def clifford_torus(theta, phi):
    """The Clifford torus in R^4: (cos theta, sin theta, cos phi, sin phi), one plane per angle (factorized)."""
    return np.stack([np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)], 1)


def hyper_torus(theta, phi, k=64, seed=0):
    """Factorized, and not aligned across values of one angle: k random-Fourier rings per angle, concatenated."""
    rng = np.random.default_rng(seed)
    def rings(a):
        f = rng.integers(1, 6, k)
        ph = rng.uniform(0, 2 * np.pi, k)
        return np.concatenate([np.cos(f[None] * a[:, None] + ph), np.sin(f[None] * a[:, None] + ph)], 1) / np.sqrt(k)
    return np.concatenate([rings(theta), rings(phi)], 1)


def _cos(a, b):
    return np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def chord_tests(R, n=20000, seed=0):
    """Chord statistics of a representation on a full label grid R (nx, ny, D), every index drawn at random (so a
    model and a reference are measured alike):
      orth_xy  mean |cos| of an x-chord r(x2,y)-r(x1,y) and a y-chord r(x',y2)-r(x',y1): 0 when factorized
      orth_xx, orth_yy  mean |cos| of two independent x-chords (y-chords): below the Clifford torus's when the values
               of one feature are not aligned
      par_xx, par_yy    mean cos of the same x-chord (x1 -> x2) at two different y (same y-chord at two x): 1 when a
               feature's change does not depend on the other feature
      orth_rand  mean |cos| of two chords between random grid points: the null of this representation (random
               high-dimensional vectors are nearly orthogonal, so a small orth_xy means little unless orth_rand is larger)
    Returns {name: (mean, values)}."""
    R = np.asarray(R, np.float64)
    nx, ny, D = R.shape
    if D > nx * ny:  # every chord lies in the span of the centred points: rotating into that span (at most nx * ny
        X = R.reshape(-1, D)  # dimensions instead of D) keeps every inner product, so every cosine, and is faster
        X = X - X.mean(0)
        _, s, Vt = np.linalg.svd(X, full_matrices=False)
        R = (X @ Vt[s > s[0] * 1e-12].T).reshape(nx, ny, -1)
    rng = np.random.default_rng(seed)
    i = lambda m: rng.integers(0, m, n)
    def pair(m):  # two different indices
        a = i(m)
        return a, (a + rng.integers(1, m, n)) % m
    x1, x2 = pair(nx)
    y1, y2 = pair(ny)
    xa, ya = i(nx), i(ny)
    xc = R[x2, ya] - R[x1, ya]                               # x-chords at y = ya
    yc = R[xa, y2] - R[xa, y1]                               # y-chords at x = xa
    x3, x4 = pair(nx)
    yb = i(ny)
    xc2 = R[x4, yb] - R[x3, yb]                              # an independent x-chord
    y3, y4 = pair(ny)
    xb = i(nx)
    yc2 = R[xb, y4] - R[xb, y3]                              # an independent y-chord
    yo = (ya + rng.integers(1, ny, n)) % ny                  # another y for the same x-chord
    xo = (xa + rng.integers(1, nx, n)) % nx                  # another x for the same y-chord
    rc = lambda: R[i(nx), i(ny)] - R[i(nx), i(ny)]            # a chord between two random grid points
    vals = dict(orth_xy=np.abs(_cos(xc, yc)), orth_xx=np.abs(_cos(xc, xc2)), orth_yy=np.abs(_cos(yc, yc2)),
                par_xx=_cos(xc, R[x2, yo] - R[x1, yo]), par_yy=_cos(yc, R[xo, y2] - R[xo, y1]), orth_rand=np.abs(_cos(rc(), rc())))
    return {k: (float(v.mean()), v) for k, v in vals.items()}


def persistence(X, maxdim=2, n_perm=300, n_pca=20, seed=0):
    """Persistent homology of rows X (ripser, greedy subsampling to n_perm points after PCA to n_pca dimensions):
    [H0, H1, H2] arrays of (birth, death), and per dimension the number of bars clearly longer than the rest (a bar
    counts when it is at least 3x the longest bar below it; infinite bars excluded)."""
    from ripser import ripser
    from sklearn.decomposition import PCA
    X = np.asarray(X, np.float64)
    if X.shape[1] > n_pca:
        X = PCA(n_pca, random_state=seed).fit_transform(X)
    dgms = ripser(X, maxdim=maxdim, n_perm=min(n_perm, len(X)))['dgms']
    return dgms, [long_bars(d) for d in dgms]


def long_bars(dgm, ratio=2.0, top=6):
    """How many finite bars stand out: the k (at most `top`) at the largest gap between the k-th and (k+1)-th longest
    lifetimes, when that gap is a factor >= `ratio`; else 0. ratio 2, not FOLLOWUP's proposed 3: the ideal 3D torus
    sampled on a 24 x 24 angle grid (300 greedy points) has its two H1 bars only 2.9x the third."""
    life = np.sort([d - b for b, d in dgm if np.isfinite(d)])[::-1][:top + 1]
    life = np.append(life, 0.0)
    if len(life) < 2 or life[0] <= 0:
        return 0
    gaps = [life[k - 1] / max(life[k], 1e-12) for k in range(1, min(top, len(life) - 1) + 1)]
    k = int(np.argmax(gaps)) + 1
    return k if gaps[k - 1] >= ratio else 0


def on_grid(labels, feats):
    """Rows of feats (n, D) arranged on their labels' full grid: (nx, ny, D), x the first axis; None when the labels
    do not fill a grid exactly once."""
    xs, ys = np.unique(labels[:, 0]), np.unique(labels[:, 1])
    if len(labels) != len(xs) * len(ys) or len(np.unique(labels, axis=0)) != len(labels):
        return None
    R = np.zeros((len(xs), len(ys), feats.shape[1]))
    R[np.searchsorted(xs, labels[:, 0]), np.searchsorted(ys, labels[:, 1])] = feats
    return R


def measures(R, seed=0, n_perm=200):
    """Every E1 measure of a grid representation (nx, ny, D): chord means, participation ratio, PCs to 95%, top-4
    variance, long H1 and H2 bars; and the per-chord values and the diagrams for the figures."""
    chords = chord_tests(R, seed=seed)
    X = R.reshape(-1, R.shape[-1])
    pr, pcs, top4 = effective_dim(X)
    dgms, long_ = persistence(X, n_perm=n_perm, seed=seed)
    row = {k: v[0] for k, v in chords.items()}
    row.update(pr=pr, pcs95=pcs, top4=top4, h1=long_[1], h2=long_[2])
    return row, {k: v[1] for k, v in chords.items()}, dgms


def references(n=16):
    """The ideal tori on an n x n angle grid, as grid representations: {'3D torus', 'Clifford torus'}."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    T, P = np.meshgrid(a, a, indexing='ij')
    return {'3D torus': torus_3d(T.ravel(), P.ravel()).reshape(n, n, -1),
            'Clifford torus': clifford_torus(T.ravel(), P.ravel()).reshape(n, n, -1)}
