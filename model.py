"""
The conditional UNet of the paper's Fig. 6 and the DDPM maths (Ho et al. 2020), written once.
No file I/O, no CLI, no side effects at import; train.py, sample.py and bench.py import it.

Timestep convention (used everywhere): 0-based t in [0, T). t = 0 is the last reverse step,
the one whose network call produces the final image and the "layer 4" representation.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from configurator import check


def sinusoidal(p, dim):
    """PE(p, 2i) = sin(p / 10000^(2i/dim)), PE(p, 2i+1) = cos(...) (paper Fig. 6). p: (B,) float -> (B, dim)."""
    i = torch.arange(0, dim, 2, device=p.device, dtype=torch.float32)
    angle = p.float()[:, None] / (10000 ** (i / dim))[None, :]                   # (B, dim/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)            # interleaved sin, cos


class DoubleConv(nn.Module):
    """conv3x3 - GroupNorm(1) - GELU - conv3x3 - GroupNorm(1); the residual variant returns gelu(x + f(x))."""

    def __init__(self, cin, cout, mid=None, residual=False):
        super().__init__()
        mid = mid or cout
        self.residual = residual
        self.f = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.GroupNorm(1, mid), nn.GELU(),
            nn.Conv2d(mid, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x):
        return F.gelu(x + self.f(x)) if self.residual else self.f(x)


class SelfAttention(nn.Module):
    """4-head self-attention over the h*w tokens, pre-LayerNorm, then a LN-Linear-GELU-Linear feed-forward; both residual.
    fused=True uses scaled_dot_product_attention, fused=False the plain softmax(QK^T/sqrt(d))V math (same weights)."""

    def __init__(self, channels, heads=4):
        super().__init__()
        assert channels % heads == 0, f"attention over {channels} channels needs a multiple of {heads}"
        self.heads = heads
        self.ln = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.ff = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels))
        self.fused = True

    def forward(self, x):
        B, C, H, W = x.shape
        h = x.flatten(2).transpose(1, 2)                                             # (B, HW, C)
        q, k, v = self.qkv(self.ln(h)).view(B, H * W, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # (B, nh, HW, hd)
        if self.fused:
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(C // self.heads), dim=-1) @ v
        h = h + self.proj(a.transpose(1, 2).reshape(B, H * W, C))
        h = h + self.ff(h)
        return h.transpose(1, 2).reshape(B, C, H, W)


class Down(nn.Module):
    """maxpool 2, DoubleConv(in, in, residual), DoubleConv(in, out), plus Linear(SiLU(emb)) broadcast over space."""

    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cin, residual=True), DoubleConv(cin, cout))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, emb):
        return self.conv(x) + self.emb(emb)[:, :, None, None]


class Up(nn.Module):
    """bilinear x2, concatenate the skip, DoubleConv(in, in, residual), DoubleConv(in, out, mid=in/2), plus the embedding."""

    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
        self.conv = nn.Sequential(DoubleConv(cin, cin, residual=True), DoubleConv(cin, cout, mid=cin // 2))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, skip, emb):
        x = torch.cat([skip, self.up(x)], dim=1)
        return self.conv(x) + self.emb(emb)[:, :, None, None]


class UNet(nn.Module):
    """Fig. 6 with base width w (paper: 64): inc(1,w); Down w->2w->4w->4w; bottleneck 4w->8w->8w->4w;
    Up 8w->2w (layer 3), 4w->w (layer 4), 2w->w (layer 5); 1x1 conv to one channel.
    attn_res: the resolutions (e.g. '32,16,8,4') whose Down/Up outputs get self-attention."""

    def __init__(self, width=64, attn_res='32,16,8,4', pe_dim=128, size=32):
        super().__init__()
        w, e = width, 3 * pe_dim
        self.pe_dim = pe_dim
        res = {int(r) for r in str(attn_res).split(',') if r.strip()}
        attn = lambda c, r: SelfAttention(c) if r in res else nn.Identity()
        self.inc = DoubleConv(1, w)
        self.down = nn.ModuleList([Down(w, 2 * w, e), Down(2 * w, 4 * w, e), Down(4 * w, 4 * w, e)])   # layers 0, 1, 2
        self.down_sa = nn.ModuleList([attn(2 * w, size // 2), attn(4 * w, size // 4), attn(4 * w, size // 8)])
        self.bot = nn.Sequential(DoubleConv(4 * w, 8 * w), DoubleConv(8 * w, 8 * w), DoubleConv(8 * w, 4 * w))
        self.up = nn.ModuleList([Up(8 * w, 2 * w, e), Up(4 * w, w, e), Up(2 * w, w, e)])              # layers 3, 4, 5
        self.up_sa = nn.ModuleList([attn(2 * w, size // 4), attn(w, size // 2), attn(w, size)])
        self.outc = nn.Conv2d(w, 1, 1)

    def embed(self, t, mu):
        """emb = PE(t) ++ PE(mu_x) ++ PE(mu_y), mu in pixel units; no trainable label embedding (paper A.1)."""
        return torch.cat([sinusoidal(t, self.pe_dim), sinusoidal(mu[:, 0], self.pe_dim), sinusoidal(mu[:, 1], self.pe_dim)], 1)

    def forward(self, x, t, mu, return_features=False):
        """x: (B,1,H,W) noisy image, t: (B,) timesteps, mu: (B,2) centres -> predicted noise (B,1,H,W),
        and with return_features also {'layer4': output of Up 4 and its attention, (B, w, H/2, W/2)}."""
        emb = self.embed(t, mu)
        skips = [self.inc(x)]
        for down, sa in zip(self.down, self.down_sa):
            skips.append(sa(down(skips[-1], emb)))
        h = self.bot(skips.pop())
        feats = {}
        for i, (up, sa) in enumerate(zip(self.up, self.up_sa)):
            h = sa(up(h, skips.pop(), emb))
            if i == 1:
                feats['layer4'] = h
        eps = self.outc(h)
        return (eps, feats) if return_features else eps


class Packed:
    """K UNets of one architecture as stacked weights {name: (K, ...)} and one vmapped forward pass over them
    (train_pack.py, bench.py): each model initialised exactly as train.py initialises a run with that seed."""

    def __init__(self, model_args, seeds, device):
        self.base = UNet(**model_args).to(device)  # holds the structure only; its own weights are never used
        for m in self.base.modules():
            if isinstance(m, SelfAttention):
                m.fused = False  # the fused kernel has no vmap rule on CUDA (bench.py saw it fail); same weights, same maths
        self.names = [n for n, _ in self.base.named_parameters()]
        inits = []
        for s in seeds:  # each run's init exactly as train.py draws it: manual_seed, then the UNet
            torch.manual_seed(s)
            inits.append(UNet(**model_args).state_dict())
        self.params = {n: torch.stack([sd[n] for sd in inits]).to(device).requires_grad_() for n in self.names}
        self.K = len(seeds)

    def __call__(self, x, t, mu):
        """x (K, B, 1, H, W), t (K, B), mu (K, B, 2) -> eps (K, B, 1, H, W)."""
        return torch.func.vmap(lambda p, x, t, mu: torch.func.functional_call(self.base, p, (x, t, mu)))(self.params, x, t, mu)

    def state(self, k, tensors=None):
        """Run k's weights as a solo state_dict (copies: a view would save the whole stack)."""
        return {n: (tensors or self.params)[n][k].detach().clone() for n in self.names}


# ----------------------------------------------------------------------------- DDPM maths

class Diffusion(nn.Module):
    """Linear beta schedule (computed and kept in float64 buffers; the images stay float32) and the DDPM equations."""

    def __init__(self, T=1000, beta_start=1e-4, beta_end=0.02):
        super().__init__()
        self.T = T
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0)
        # kept in float64: the strided sampler's jump beta 1 - abar_t/abar_s loses ~1e-3 relative in float32 at small t;
        # 0-dim float64 scalars do not promote float32 tensors, so the images stay float32
        self.register_buffer('betas', betas)
        self.register_buffer('abar', abar)  # alpha-bar_t = prod_{s<=t} (1 - beta_s)

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (Ho et al. Eq. 4)."""
        a = self.abar[t].to(x0.dtype)[:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def loss(self, model, x0, mu, generator=None, per_sample=False):
        """Eq. 2: MSE between the true noise and the predicted noise, t uniform over all T steps. per_sample: return
        each sample's MSE and its t instead of their mean (train.py logs the loss per quarter of t)."""
        B = x0.shape[0]
        t = torch.randint(0, self.T, (B,), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        err = (model(self.q_sample(x0, t, noise), t, mu).float() - noise).pow(2).mean((1, 2, 3))
        return (err, t) if per_sample else err.mean()

    def predict_x0(self, x, eps, t):
        """The one-step prediction of the clean image, x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (Ho et al.
        Eq. 4 solved for x0); t an int (one timestep for the batch) or a (B,) tensor. The sampler and the probes use it."""
        a = self.abar[t]
        if a.ndim:
            a = a.to(x.dtype)[:, None, None, None]
        return (x - (1 - a).sqrt() * eps) / a.sqrt()

    def timesteps(self, n):
        """The n network-call timesteps of a (possibly strided) reverse process, descending, always ending at 0."""
        return torch.linspace(self.T - 1, 0, n).round().long().unique_consecutive().tolist()

    def step(self, x, eps, t, s, *, sampler='ddpm', eta=1.0, clip_x0=False, generator=None):
        """One reverse jump from timestep t to s < t (s = -1: the clean image), given the predicted noise eps.
        The only place the reverse maths is written. With x0 = (x - sqrt(1 - abar_t) eps) / sqrt(abar_t) and the
        jump's beta = 1 - abar_t / abar_s (= beta_t when s = t - 1):
        ddpm: the posterior mean of q(x_s | x_t, x0) (Ho et al. Eq. 7) plus noise of variance beta (Alg. 2's
              sigma_t^2 = beta_t; with s = t - 1 this is exactly Alg. 2);
        ddim: Song et al. Eq. 12 with variance eta^2 (1 - abar_s) / (1 - abar_t) beta (eta = 1: the posterior's)."""
        if eps.shape != x.shape or not -1 <= s < t:
            raise ValueError(f"step: eps {tuple(eps.shape)} must match x {tuple(x.shape)} and -1 <= s < t (s={s}, t={t})")
        a_t = self.abar[t]
        x0 = self.predict_x0(x, eps, t)
        if clip_x0:
            x0 = x0.clamp(-1, 1)
        if s < 0:
            return x0
        a_s = self.abar[s]
        beta = 1 - a_t / a_s
        if sampler == 'ddpm':
            mean = (a_s.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - a_s) * x) / (1 - a_t)
            var = beta  # sigma_t^2 = beta_t, Alg. 2's choice
        else:
            var = eta ** 2 * (1 - a_s) / (1 - a_t) * beta
            mean = a_s.sqrt() * x0 + (1 - a_s - var).clamp(min=0).sqrt() * (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        return mean + var.sqrt() * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)

    @torch.no_grad()
    def sample(self, model, mu, *, steps=None, sampler='ddpm', eta=1.0, rep_step=0, generator=None, clip_x0=False, size=32,
               on_call=None, eps_scale=None, exit_at=None, renoise=False):
        """Reverse process from x_T ~ N(0, I) for labels mu (B, 2) over `steps` network calls (default T: Alg. 2),
        one `step` per call (on_call() after each, for a progress bar). Returns images in [-1, 1] (B,1,size,size) and
        the layer-4 output (float32) of the call with t == rep_step (None when the chain never calls at rep_step).
        The elicitation ladder's options (prereg3.py), all off by default:
          eps_scale=(b, k): the predicted noise divided by lambda_t = b + k t (epsilon scaling, Ning et al. 2023);
          exit_at=t_e: the chain's timesteps above t_e, then t_e itself; the output is x0_hat at t_e (not clamped:
          the one-step prediction on the sampler's own x_t_e, the self-chain probe);
          renoise=True (with exit_at): x0_hat at t_e noised afresh to t_e, then the chain's timesteps below t_e."""
        if mu.ndim != 2 or mu.shape[1] != 2:
            raise ValueError(f"sample: mu must be (B, 2) label pairs, got {tuple(mu.shape)}")
        ts = self.timesteps(steps or self.T)
        if exit_at is not None:
            ts = [t for t in ts if t > exit_at] + [exit_at] + ([exit_at] + [t for t in ts if t < exit_at] if renoise else [])
        if rep_step not in ts and exit_at is None:
            raise ValueError(f"sample: rep_step={rep_step} is not among the sampler's timesteps")
        B, dev = mu.shape[0], mu.device
        x = torch.randn((B, 1, size, size), device=dev, generator=generator)
        rep, exited = None, False
        for j, t in enumerate(ts):
            tt = torch.full((B,), t, device=dev, dtype=torch.long)
            if t == rep_step:
                eps, feats = model(x, tt, mu, return_features=True)
                rep = feats['layer4'].float()
            else:
                eps = model(x, tt, mu)
            eps = eps.float() / (eps_scale[0] + eps_scale[1] * t) if eps_scale else eps.float()
            if t == exit_at and not exited:  # the first call at t_e: exit, or renoise and call at t_e again
                exited, x0 = True, self.predict_x0(x, eps, t)
                if not renoise:
                    return x0, rep
                x = self.q_sample(x0, tt, torch.randn(x.shape, device=dev, generator=generator))
                continue
            s = ts[j + 1] if j + 1 < len(ts) else -1
            x = self.step(x, eps, t, s, sampler=sampler, eta=eta, clip_x0=clip_x0, generator=generator)
            if on_call:
                on_call()
        return x.clamp(-1, 1), rep


def from_checkpoint(ck, device, use_ema=True):
    """The network of a checkpoint dict (train.py's): rebuilt from its model_args, its EMA weights when it has them
    and use_ema, channels-last, in eval mode. The one place a checkpoint becomes a network."""
    model = UNet(**ck['model_args']).to(device)
    model.load_state_dict(ck['ema'] if use_ema and 'ema' in ck else ck['model'])
    return model.to(memory_format=torch.channels_last).eval()


def generate(model, diffusion, labels, *, size, device, seed, batch, dtype='float32', on_call=None, **sampler):
    """Images (n, size, size) uint8 in the data's 0..255 convention and layer-4 outputs (n, C*H*W) float16 for
    labels (n, 2) float32, `batch` at a time, all drawn from one generator seeded with `seed`; `sampler`: the
    keywords of Diffusion.sample (steps, sampler, eta, rep_step, clip_x0); on_call(batch images) after every call."""
    gen = torch.Generator(device).manual_seed(seed)
    images, reps = [], []
    for i in range(0, len(labels), batch):
        mu = torch.from_numpy(labels[i:i + batch]).to(device)
        with autocast(device, dtype):
            x, rep = diffusion.sample(model, mu, generator=gen, size=size, on_call=on_call and (lambda: on_call(len(mu))),
                                      **sampler)
        images.append(((x.float()[:, 0] + 1) * 127.5).round().clamp(0, 255).byte().cpu().numpy())  # back to 0..255
        reps.append(rep.flatten(1).half().cpu().numpy())
    return np.concatenate(images), np.concatenate(reps)


@torch.no_grad()
def blank_layer4(model, labels, size, t, device, batch=500):
    """Layer 4 (n, C*H*W) float16 when the network sees a blank white canvas at timestep t with the true labels: the
    conditioning alone, as it reaches layer 4 through every block (not only the broadcast term that demeaning
    removes). The per-checkpoint floor of the order measures (analyze.py)."""
    reps = []
    for i in range(0, len(labels), batch):
        mu = torch.from_numpy(labels[i:i + batch]).to(device)
        x = torch.ones(len(mu), 1, size, size, device=device)
        _, feats = model(x, torch.full((len(mu),), t, device=device, dtype=torch.long), mu, return_features=True)
        reps.append(feats['layer4'].float().flatten(1).half().cpu().numpy())
    return np.concatenate(reps)


# ----------------------------------------------------------------------------- device

def autocast(device, dtype):
    """bf16 autocast when dtype == 'bfloat16', a no-op context otherwise."""
    return torch.autocast(device.split(':')[0], dtype=torch.bfloat16, enabled=dtype == 'bfloat16')


def set_tf32(on):
    """CUDA matmuls and convolutions in TF32 (faster on Ampere and later, ~1e-3 relative error); no effect on a CPU."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(on)


def pick_device(device):
    """'auto' -> cuda when present, else cpu; an explicit 'cuda' without CUDA is a setting error."""
    check(device in ('auto', 'cpu', 'cuda') or device.startswith('cuda:'), 'device', device, "'auto', 'cpu' or 'cuda'")
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    check(device == 'cpu' or torch.cuda.is_available(), 'device', device, "'auto' or 'cpu' (CUDA is not available here)")
    print(f"device: {device}")
    return device
