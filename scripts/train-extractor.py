#!/usr/bin/python3
"""Train EnfPire's learned, viewpoint-robust feature model (issue #11) and export it as an int8 (QDQ) ONNX
model with its manifest, ready for `models/`.

    node scripts/fetch-backbone.mjs                        # ImageNet MobileNetV2 from the npm package nsfwjs
    /usr/bin/python3 scripts/train-extractor.py            # trains, writes models/enfpire-mnv2-int8-v1.{onnx,json}
    /usr/bin/python3 scripts/train-extractor.py --steps 0  # the untrained backbone, exported the same way
    node scripts/fit-centre.mjs --manifest models/enfpire-mnv2-int8-v1.json     # the feature centre
    node scripts/measure-model.mjs --manifest models/enfpire-mnv2-int8-v1.json  # figures and the view variation
    /usr/bin/python3 scripts/train-extractor.py --manifest-only                  # manifest with both

Needs Debian's python3-torch, python3-onnx, python3-numpy and python3-pil, and the training photographs, which the
script fetches itself with `apt-get download` (no installation) into ${XDG_CACHE_HOME:-~/.cache}/enfpire/train:
opencv-doc (the example photographs of OpenCV's samples), stellarium-data (landscape panoramas and the photo
textures of its 3D sceneries) and tuxpaint-stamps-default (photographs of objects, animals, food, houses). None of
them is a source of any benchmark (docs/benchmark.md): the benchmark photographs come from Debian's wallpaper
packages, palapeli-data and python3-skimage.

What is learned. The network is MobileNetV2 (Keras layout, rebuilt from the topology the fetch script wrote) up to
`--cut` (default block_13_expand_relu: 576 channels at 1/16 of the input), then GeM pooling (a learned power mean
over the map) and a learned linear projection (the whitening) to `--dim`, then L2 normalisation. Layers before
`--train-from` keep their ImageNet weights. The input is RGB in 0..1 (manifest mean 0, std 1), as nsfwjs feeds
it: measured on the validation views, the ImageNet layers match better that way than with Keras's -1..1. The loss is InfoNCE over pairs of views: each training example is a
window of a training photograph seen twice, once as an enrolment photographer would take it (mild) and once from
another camera position (a homography of up to --max-angle degrees, the window shifted 10-20 %, scale 0.75-1,
another light and colour cast, a partial occluder, blur and noise). The ranges are like the viewpoint benchmark's
(docs/benchmark.md) but drawn by code of its own and not the same: here the camera steps closer (the view is 0.75-1
of the window) where the benchmark's steps back, the camera turns (yaw up to --max-angle, pitch half that, roll
±5°) where the benchmark tilts the scene plane, and occluders are plain noisy rectangles, not patches of photos.
Windows of the same photograph in one batch are each other's hardest negatives, as the shops of one street are.

Export. Batch norms are folded into the convolutions; every convolution runs on int8 weights (per output channel,
symmetric) and uint8 activations calibrated on training views (QuantizeLinear -> DequantizeLinear around each),
the pattern ONNX Runtime fuses into QLinearConv; pooling, projection and normalisation stay in float.
"""

import argparse
import glob
import hashlib
import io
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'enfpire')
Image.MAX_IMAGE_PIXELS = None

# ---------------------------------------------------------------------------------------------------------------
# Training photographs

PACKAGES = ['opencv-doc', 'stellarium-data', 'tuxpaint-stamps-default']
# Folders (under the unpacked packages) whose pictures are photographs. Dropped by looking: OpenCV's greyscale
# calibration boards (left*/right*), synthetic test patterns, logos and masks; Stellarium's sky-culture drawings,
# nebula plates and fog/illumination layers; Tux Paint's outlined alphabets and cartoons.
PHOTO_GLOBS = [
    'usr/share/doc/opencv-doc/examples/data/*.jpg',
    'usr/share/doc/opencv-doc/examples/data/*.png',
    'usr/share/doc/opencv-doc/examples/text/scenetext0*.jpg',
    'usr/share/doc/opencv-doc/examples/alphamat/input_images/*.jpg',
    'usr/share/doc/opencv-doc/examples/ximgproc/stanford.png',
    'usr/share/doc/opencv-doc/examples/fuzzy/input.png',
    'usr/share/stellarium/landscapes/*/*.png',
    'usr/share/stellarium/landscapes/*/*.jpg',
    'usr/share/stellarium/scenery3d/Sterngarten/**/*.jpg',
    'usr/share/stellarium/scenery3d/Sterngarten/*.png',
    'usr/share/tuxpaint/stamps/**/*.png',
    'usr/share/tuxpaint/stamps/**/*.jpg',
]
DROP_WORDS = ['left0', 'left1', 'right0', 'right1', 'logo', 'mask', 'gradient', 'chessboard', 'digits', 'sudoku',
              'shape', 'ellipses', 'pic1', 'pic3', 'pic5', 'pic6', 'detect_blob', 'cards', 'ml.png', 'imageText',
              'GT', 'illum', 'fog', 'dontUse', 'bump', 'cartoon', 'alphabets', 'Ungeziffer', 'Metal_Brushed',
              'pca_test', 'text_', 'licenseplate', 'Blender', 'gl1', 'gl2', 'gl3', 'gl4']


def fetch_photos(cache):
    """Downloads and unpacks the packages once; returns the photograph paths, sorted."""
    debs, unpacked = os.path.join(cache, 'debs'), os.path.join(cache, 'unpacked')
    os.makedirs(debs, exist_ok=True)
    for package in PACKAGES:
        if not glob.glob(os.path.join(debs, f'{package}_*.deb')):
            r = subprocess.run(['apt-get', 'download', package], cwd=debs, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f'apt-get download {package} failed ({r.stderr.strip().splitlines()[-1:]}): run apt-get update, or check that Debian\'s archive can be reached')
        deb = sorted(glob.glob(os.path.join(debs, f'{package}_*.deb')))[-1]
        stamp = os.path.join(unpacked, '.' + os.path.basename(deb))
        if not os.path.exists(stamp):
            os.makedirs(unpacked, exist_ok=True)
            subprocess.run(['dpkg-deb', '-x', deb, unpacked], check=True)
            open(stamp, 'w').close()
    paths = set()
    for pattern in PHOTO_GLOBS:
        paths.update(glob.glob(os.path.join(unpacked, pattern), recursive=True))
    return sorted(p for p in paths if not any(w in p for w in DROP_WORDS))


def load_photo(path, max_side):
    """RGB float tensor [3, H, W] in 0..1, at most max_side; transparent parts (Tux Paint stamps) are filled with a
    random plain or noisy background later, so they are kept as an alpha mask. None when it is no photograph."""
    im = Image.open(path)
    if im.mode in ('1', 'L', 'P', 'LA', 'I', 'F') and im.mode != 'P':
        return None
    im = im.convert('RGBA')
    w, h = im.size
    if min(w, h) < 200:
        return None
    s = min(1.0, max_side / max(w, h))
    if s < 1:
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
    a = np.asarray(im, dtype=np.float32) / 255.0
    rgb, alpha = a[..., :3], a[..., 3:]
    # A colourless picture (greyscale stored as RGB) teaches nothing about colour casts.
    if np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean() < 0.01 or alpha.mean() < 0.2:
        return None
    t = torch.from_numpy(np.concatenate([rgb, alpha], axis=2)).permute(2, 0, 1).contiguous()
    return t


# ---------------------------------------------------------------------------------------------------------------
# The backbone, rebuilt from the Keras topology


def load_backbone(folder):
    layers = json.load(open(os.path.join(folder, 'layers.json')))
    index = json.load(open(os.path.join(folder, 'weights.json')))
    flat = np.fromfile(os.path.join(folder, 'weights.bin'), dtype='<f4')
    weights = {}
    for w in index:
        size = int(np.prod(w['shape']))
        weights[w['name']] = flat[w['offset']:w['offset'] + size].reshape(w['shape'])
    return layers, weights


class KerasNet(nn.Module):
    """The Keras graph up to `cut`, as torch modules; layers before `train_from` are frozen (eval-mode BN too)."""

    def __init__(self, layers, weights, cut, train_from):
        super().__init__()
        names = [l['name'] for l in layers]
        if cut not in names:
            sys.exit(f'--cut {cut} is no layer of the backbone (one of {names[1]} … {names[-1]})')
        self.layers = layers[:names.index(cut) + 1]
        self.frozen_until = names.index(train_from) if train_from in names else 0
        self.mods = nn.ModuleDict()
        channels = {self.layers[0]['name']: 3}
        for i, l in enumerate(self.layers[1:], start=1):
            c, n, cfg = l['class'], l['name'], l['config']
            cin = channels[l['inbound'][0]]
            if c == 'Conv2D':
                k = cfg['kernel_size'][0]
                m = nn.Conv2d(cin, cfg['filters'], k, stride=cfg['strides'][0], padding=(k // 2 if cfg['padding'] == 'same' else 0), bias=False)
                m.weight.data = torch.from_numpy(weights[f'{n}/kernel'].transpose(3, 2, 0, 1).copy())
                self.mods[n] = m
                channels[n] = cfg['filters']
            elif c == 'DepthwiseConv2D':
                k = cfg['kernel_size'][0]
                m = nn.Conv2d(cin, cin, k, stride=cfg['strides'][0], padding=(k // 2 if cfg['padding'] == 'same' else 0), groups=cin, bias=False)
                m.weight.data = torch.from_numpy(weights[f'{n}/depthwise_kernel'].transpose(2, 3, 0, 1).copy())
                self.mods[n] = m
                channels[n] = cin
            elif c == 'BatchNormalization':
                m = nn.BatchNorm2d(cin, eps=cfg['epsilon'], momentum=0.01)
                m.weight.data = torch.from_numpy(weights[f'{n}/gamma'].copy())
                m.bias.data = torch.from_numpy(weights[f'{n}/beta'].copy())
                m.running_mean.data = torch.from_numpy(weights[f'{n}/moving_mean'].copy())
                m.running_var.data = torch.from_numpy(weights[f'{n}/moving_variance'].copy())
                self.mods[n] = m
                channels[n] = cin
            elif c in ('ReLU', 'ZeroPadding2D', 'Add'):
                channels[n] = cin
            else:
                sys.exit(f'layer {n} ({c}) is not supported by the rebuild')
            if i <= self.frozen_until and n in self.mods:
                for p in self.mods[n].parameters():
                    p.requires_grad = False
        self.out_channels = channels[cut]

    def train(self, mode=True):
        super().train(mode)
        for i, l in enumerate(self.layers):
            if i <= self.frozen_until and l['class'] == 'BatchNormalization':
                self.mods[l['name']].eval()
        return self

    def outputs(self, x):
        """Every layer's output by name (the export calibrates its activation ranges on them)."""
        out = {self.layers[0]['name']: x}
        for l in self.layers[1:]:
            c, n = l['class'], l['name']
            a = out[l['inbound'][0]]
            if c == 'ZeroPadding2D':
                (t, b), (le, r) = l['config']['padding']
                y = F.pad(a, (le, r, t, b))
            elif c == 'ReLU':
                y = F.relu6(a) if l['config'].get('max_value') == 6 else F.relu(a)
            elif c == 'Add':
                y = out[l['inbound'][0]] + out[l['inbound'][1]]
            else:
                y = self.mods[n](a)
            out[n] = y
        return out

    def forward(self, x):
        return self.outputs(x)[self.layers[-1]['name']]


class Descriptor(nn.Module):
    """Backbone -> GeM -> projection (whitening) -> L2."""

    def __init__(self, backbone, dim, gem_p=3.0):
        super().__init__()
        self.backbone = backbone
        self.p = nn.Parameter(torch.tensor(gem_p))
        self.proj = nn.Linear(backbone.out_channels, dim)
        nn.init.orthogonal_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def pooled(self, x):
        f = self.backbone(x).clamp(min=1e-6)
        return f.pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)

    def forward(self, x):
        return F.normalize(self.proj(self.pooled(x)), dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Views: where a camera stands, rendered with a homography


def rotation_homography(yaw, pitch, roll, focal):
    """Homography of a camera turning by (yaw, pitch, roll) radians, in normalised coordinates (-1..1, focal in
    the same units): H = K R K^-1."""
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]], dtype=torch.float64)
    rz = torch.tensor([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]], dtype=torch.float64)
    k = torch.tensor([[focal, 0, 0], [0, focal, 0], [0, 0, 1]], dtype=torch.float64)
    return k @ (rz @ rx @ ry) @ torch.inverse(k)


def render_view(photo, window, homography, size, background):
    """Samples the photo through `window` (cx, cy, w, h in pixels) seen through `homography` (output normalised
    coordinates -> window normalised coordinates) at size x size (the extractor squashes frames to its input the
    same way). Outside the photo and where it is transparent: the background."""
    _, h, w = photo.shape
    lin = torch.linspace(-1, 1, size, dtype=torch.float64)
    gy, gx = torch.meshgrid(lin, lin, indexing='ij')
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1) @ homography.T
    u, v = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    cx, cy, ww, wh = window
    px, py = cx + u * ww / 2, cy + v * wh / 2
    grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], dim=-1).float()[None]
    s = F.grid_sample(photo[None], grid, mode='bilinear', padding_mode='zeros', align_corners=True)[0]
    inside = ((grid[0, ..., 0].abs() <= 1) & (grid[0, ..., 1].abs() <= 1)).float()[None]
    alpha = s[3:4] * inside
    return s[:3] * alpha + background * (1 - alpha)


def camera_effects(img, rng, strength):
    """Light, colour cast, blur, occluder and sensor noise; strength 0 = the enrolment photographer's mild take."""
    exposure = math.exp(rng.uniform(-0.5, 0.35) * strength + rng.uniform(-0.1, 0.1))
    gains = torch.tensor([math.exp(rng.uniform(-0.15, 0.15) * strength + rng.uniform(-0.03, 0.03)) for _ in range(3)])[:, None, None]
    gamma = math.exp(rng.uniform(-0.25, 0.25) * strength)
    img = (img.clamp(0, 1).pow(gamma) * exposure * gains).clamp(0, 1)
    sigma = rng.uniform(0, 1.6 * strength + 0.3)
    if sigma > 0.4:
        k = int(2 * math.ceil(2 * sigma) + 1)
        x = torch.arange(k, dtype=torch.float32) - k // 2
        g = torch.exp(-x * x / (2 * sigma * sigma))
        g = g / g.sum()
        img = F.conv2d(F.pad(img[None], (k // 2,) * 4, mode='replicate'), g.view(1, 1, 1, k).repeat(3, 1, 1, 1), groups=3)
        img = F.conv2d(img, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3)[0]
    if strength > 0 and rng.random() < 0.8:
        _, h, w = img.shape
        share = rng.uniform(0.05, 0.2)
        ow = int(w * math.sqrt(share) * rng.uniform(0.6, 1.6))
        oh = max(2, min(h - 1, int(share * w * h / max(ow, 1))))
        ow = max(2, min(w - 1, ow))
        x0, y0 = rng.randrange(0, w - ow), rng.randrange(0, h - oh)
        colour = torch.tensor([rng.random() for _ in range(3)])[:, None, None]
        img = img.clone()
        img[:, y0:y0 + oh, x0:x0 + ow] = colour + 0.08 * torch.randn(3, oh, ow)
    img = img + torch.randn_like(img) * rng.uniform(0.003, 0.02)
    return img.clamp(0, 1)


def background_for(rng, size):
    if rng.random() < 0.5:
        return torch.tensor([rng.random() for _ in range(3)])[:, None, None].expand(3, size, size)
    return (torch.rand(3, 1, 1) + 0.15 * torch.randn(3, size, size)).clamp(0, 1)


def draw_window(photo, rng, min_share=0.04, max_share=0.6, taken=(), max_iou=0.3):
    """A 4:3 window (centre and size in pixels) covering min..max_share of the photo (log-uniform), inside it, with
    IoU at most max_iou with every window in `taken` (the benchmark's rule: above it two windows are one scene
    under two names, and a batch would push apart what should match)."""
    _, h, w = photo.shape
    for _ in range(200):
        share = math.exp(rng.uniform(math.log(min_share), math.log(max_share)))
        ww = min(w, math.sqrt(share * w * h * 4 / 3))
        wh = min(h, ww * 3 / 4)
        ww = wh * 4 / 3 if ww > wh * 4 / 3 else ww
        window = (rng.uniform(ww / 2, w - ww / 2), rng.uniform(wh / 2, h - wh / 2), ww, wh)
        if all(iou(window, t) <= max_iou for t in taken):
            return window
    return None


def iou(a, b):
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def view_pair(photo, window, rng, size, max_angle):
    """(enrolment view, viewpoint query) of one window: what the benchmark's debian-viewpoint pairs look like."""
    cx, cy, ww, wh = window
    background = background_for(rng, size)
    mild = rotation_homography(*(math.radians(rng.uniform(-2, 2)) for _ in range(3)), focal=1.7)
    a = camera_effects(render_view(photo, (cx + rng.uniform(-0.03, 0.03) * ww, cy + rng.uniform(-0.03, 0.03) * wh, ww, wh), mild, size, background), rng, 0.0)
    direction = rng.uniform(0, 2 * math.pi)
    shift = rng.uniform(0.1, 0.2)
    scale = rng.uniform(0.75, 1.0)
    moved = (cx + math.cos(direction) * shift * ww, cy + math.sin(direction) * shift * wh, ww * scale, wh * scale)
    yaw = math.radians(rng.uniform(-max_angle, max_angle))
    pitch = math.radians(rng.uniform(-max_angle, max_angle) * 0.5)
    roll = math.radians(rng.uniform(-5, 5))
    b = camera_effects(render_view(photo, moved, rotation_homography(yaw, pitch, roll, focal=1.7), size, background), rng, 1.0)
    return a, b


# ---------------------------------------------------------------------------------------------------------------
# Training


def info_nce(za, zb, photo_ids, temperature):
    """Symmetric InfoNCE: each enrolment view must find its own query among every view of the batch."""
    logits = za @ zb.T / temperature
    target = torch.arange(len(za))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def windows_of(photos, rng, count, per_photo):
    """count (photo index, window) pairs: per_photo windows of each drawn photo, IoU <= 0.3 within a photo."""
    picks = []
    while len(picks) < count:
        i = rng.randrange(len(photos))
        taken = []
        for _ in range(per_photo):
            window = draw_window(photos[i], rng, taken=taken)
            if window is None:
                break
            taken.append(window)
            picks.append((i, window))
    return picks[:count]


def batch_of_pairs(photos, rng, batch, size, max_angle, per_photo=2):
    picks = windows_of(photos, rng, batch, per_photo)
    pairs = [view_pair(photos[i], window, rng, size, max_angle) for i, window in picks]
    a = torch.stack([p[0] for p in pairs])
    b = torch.stack([p[1] for p in pairs])
    return a, b, torch.tensor([i for i, _ in picks])


@torch.no_grad()
def retrieval_top1(model, pairs):
    """Top-1 of each query view among every enrolment view of the set (the validation photos' windows)."""
    model.eval()
    za = torch.cat([model(a) for a, _ in pairs])
    zb = torch.cat([model(b) for _, b in pairs])
    return (zb @ za.T).argmax(dim=1).eq(torch.arange(len(zb))).float().mean().item()


def validation_pairs(photos, size, max_angle, n, seed):
    rng = random.Random(seed)
    out = []
    for i, window in windows_of(photos, rng, n, per_photo=8):
        a, b = view_pair(photos[i], window, rng, size, max_angle)
        out.append((a[None], b[None]))
    return [(torch.cat([p[0] for p in out[i:i + 32]]), torch.cat([p[1] for p in out[i:i + 32]])) for i in range(0, len(out), 32)]


# ---------------------------------------------------------------------------------------------------------------
# Export: folded batch norms, int8 weights, calibrated uint8 activations


def round_sig(x, digits=6):
    return float(f'{float(x):.{digits}g}')


def export_onnx(model, calibration, path, size, dim, input_name='image', output_name='feature', quantise=True):
    bb = model.backbone
    model.eval()
    # Activation ranges on calibration views, at every tensor a QuantizeLinear will sit on.
    ranges = {}
    with torch.no_grad():
        for x in calibration:
            for n, y in bb.outputs(x).items():
                lo, hi = float(y.min()), float(y.max())
                old = ranges.get(n, (0.0, 0.0))
                ranges[n] = (min(old[0], lo), max(old[1], hi))
            ranges[bb.layers[0]['name']] = (0.0, 1.0)

    nodes, inits = [], []
    counter = [0]

    def name(base):
        counter[0] += 1
        return f'{base}_{counter[0]}'

    def const(base, arr):
        n = name(base)
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(kind, inputs, base=None, **attrs):
        out = name(base or kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def act_scale(layer):
        lo, hi = ranges[layer]
        if lo >= 0:
            return round_sig(max(hi, 1e-6) / 255), 0
        m = max(abs(lo), abs(hi), 1e-6)
        return round_sig(m / 127), 128

    def qdq(x, layer):
        s, z = act_scale(layer)
        if not quantise:
            return x, s
        sc, zp = const('s', np.float32(s)), const('zp', np.uint8(z))
        return op('DequantizeLinear', [op('QuantizeLinear', [x, sc, zp], 'q'), sc, zp], 'dq'), s

    consumers = {}
    for l in bb.layers:
        for src in l['inbound']:
            consumers.setdefault(src, []).append(l)

    tensors = {}
    scales = {}
    x, s = qdq(input_name, bb.layers[0]['name'])
    tensors[bb.layers[0]['name']], scales[bb.layers[0]['name']] = x, s
    pending_pad = {}
    for l in bb.layers[1:]:
        c, n, cfg = l['class'], l['name'], l['config']
        src = l['inbound'][0]
        if c == 'ZeroPadding2D':
            pending_pad[n] = (cfg['padding'], src)
            continue
        if c in ('Conv2D', 'DepthwiseConv2D'):
            pads = [0, 0, 0, 0]
            if src in pending_pad:
                (t, b), (le, r) = pending_pad[src][0]
                pads = [t, le, b, r]
                src = pending_pad[src][1]
            m = bb.mods[n]
            k = m.kernel_size[0]
            if cfg['padding'] == 'same':
                pads = [k // 2] * 4
            bn_layer = consumers[n][0]
            bn = bb.mods[bn_layer['name']]
            g = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().numpy()
            w = m.weight.detach().double().numpy() * g[:, None, None, None]
            bias = (bn.bias.detach().double().numpy() - bn.running_mean.detach().double().numpy() * g)
            x_scale = scales[src]
            # A channel whose weights all but vanish (a batch norm with gamma near 0) still needs its bias to fit
            # int32 at x_scale × w_scale.
            w_scale = np.array([round_sig(max(np.abs(ch).max() / 127, abs(b) / (x_scale * 2**30), 1e-12)) for ch, b in zip(w, bias)])
            wq = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
            b_scale = (x_scale * w_scale).astype(np.float32)
            bq = np.round(bias / b_scale.astype(np.float64)).astype(np.int32)
            if quantise:
                wdq = op('DequantizeLinear', [const('w', wq), const('ws', w_scale.astype(np.float32)), const('wz', np.zeros(len(w), np.int8))], 'wdq', axis=0)
                bdq = op('DequantizeLinear', [const('b', bq), const('bs', b_scale), const('bz', np.zeros(len(w), np.int32))], 'bdq', axis=0)
            else:
                wdq, bdq = const('w', w.astype(np.float32)), const('b', bias.astype(np.float32))
            y = op('Conv', [tensors[src], wdq, bdq], n, kernel_shape=[k, k], strides=[m.stride[0]] * 2, pads=pads, group=m.groups)
            # The batch norm's output is the conv's output now. Before a ReLU6 it stays float: quantising the wide
            # pre-activation range would leave the 0..6 that survives a handful of levels, and ONNX Runtime fuses
            # Conv -> Clip -> QuantizeLinear into one QLinearConv anyway.
            if consumers.get(bn_layer['name'], [{}])[0].get('class') == 'ReLU':
                tensors[bn_layer['name']] = y
            else:
                tensors[bn_layer['name']], scales[bn_layer['name']] = qdq(y, bn_layer['name'])
            continue
        if c == 'BatchNormalization':
            continue
        if c == 'ReLU':
            y = op('Clip', [tensors[src], const('lo', np.float32(0)), const('hi', np.float32(6))], 'relu6')
            tensors[n], scales[n] = qdq(y, n)
            continue
        if c == 'Add':
            y = op('Add', [tensors[l['inbound'][0]], tensors[l['inbound'][1]]], 'add')
            tensors[n], scales[n] = qdq(y, n)
            continue
        sys.exit(f'cannot export layer {n} ({c})')

    feat = tensors[bb.layers[-1]['name']]
    p = float(model.p.detach())
    f = op('Max', [feat, const('eps', np.float32(1e-6))], 'clamp')
    f = op('Pow', [f, const('p', np.float32(p))], 'pow')
    f = op('GlobalAveragePool', [f], 'gem')
    f = op('Pow', [f, const('invp', np.float32(1.0 / p))], 'root')
    f = op('Flatten', [f], 'flat', axis=1)
    wt = model.proj.weight.detach().numpy().T.astype(np.float32)
    f = op('Gemm', [f, const('proj_w', wt), const('proj_b', model.proj.bias.detach().numpy().astype(np.float32))], 'proj')
    ss = op('ReduceSumSquare', [f], 'sumsq', axes=[1], keepdims=1)
    norm = op('Sqrt', [op('Add', [ss, const('tiny', np.float32(1e-12))], 'ss_eps')], 'norm')
    nodes.append(helper.make_node('Div', [f, norm], [output_name], name='unit'))

    graph = helper.make_graph(
        nodes, 'enfpire-mnv2',
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, dim])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='enfpire-train-extractor')
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        h.update(f.read())
    return h.hexdigest()


def build_model_module():
    """scripts/build-model.py, for the centre and view-variation rules every shipped model shares."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('build_model', os.path.join(ROOT, 'scripts', 'build-model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_manifest(args):
    """models/<id>.json for the ONNX file in --out, with the fitted centre, background views and view variation when
    this exact build has them (scripts/fit-centre.mjs, fit-background.mjs and measure-model.mjs write them; then run
    with --manifest-only)."""
    onnx_path = os.path.join(args.out, f'{args.id}.onnx')
    digest = sha256(onnx_path)
    cfg = {'id': args.id, 'out': os.path.relpath(args.out, ROOT)}
    bm = build_model_module()
    manifest = {
        'id': args.id,
        'file': f'{args.id}.onnx',
        'sha256': digest,
        'input': {'name': 'image', 'shape': [1, 3, args.size, args.size], 'layout': 'NCHW', 'mean': [0, 0, 0], 'std': [1, 1, 1]},
        'output': {'name': 'feature', 'dimension': args.dim},
        'licence': 'Apache-2.0 (weights derived from Keras Applications MobileNetV2, Apache-2.0, as shipped in nsfwjs 4.4.0, MIT)',
        'card': f'{args.id}.md',
    }
    centre = bm.fitted_centre(cfg, digest)
    if centre:
        manifest['output']['centre'] = centre
    manifest['output']['threshold'] = args.threshold
    background = bm.fitted_background(cfg, digest)
    if background:
        manifest['output']['background'] = background
    variation = bm.view_variation(cfg, digest)
    if variation:
        manifest['viewVariation'] = variation
    with open(os.path.join(args.out, f'{args.id}.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(f'{os.path.relpath(onnx_path, ROOT)}: {os.path.getsize(onnx_path)} bytes, sha256 {digest}; '
          f'centre {"yes" if centre else "not fitted (node scripts/fit-centre.mjs)"}, view variation {"yes" if variation else "not measured (node scripts/measure-model.mjs)"}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--manifest-only', action='store_true', help='only (re)write the manifest of the model already in --out')
    ap.add_argument('--backbone', default=os.path.join(CACHE, 'backbone', 'nsfwjs-4.4.0'))
    ap.add_argument('--cache', default=os.path.join(CACHE, 'train'))
    ap.add_argument('--id', default='enfpire-mnv2-int8-v1')
    ap.add_argument('--out', default=os.path.join(ROOT, 'models'))
    ap.add_argument('--cut', default='block_13_expand_relu')
    ap.add_argument('--train-from', default='block_7_expand')
    ap.add_argument('--size', type=int, default=160)
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--steps', type=int, default=1500)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--temperature', type=float, default=0.05)
    ap.add_argument('--max-angle', type=float, default=25)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--val-every', type=int, default=250)
    ap.add_argument('--minutes', type=float, default=0, help='stop after this many minutes (0: run every step)')
    ap.add_argument('--threshold', type=float, default=0.45,
                    help='match cosine written to the manifest: keeps the share of right viewpoint matches GIST keeps at 0.5 (docs/decisions.md #29)')
    args = ap.parse_args()
    if args.manifest_only:
        write_manifest(args)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    if not os.path.exists(os.path.join(args.backbone, 'layers.json')):
        sys.exit(f'no backbone in {args.backbone}: run `node scripts/fetch-backbone.mjs` first')
    paths = fetch_photos(args.cache)
    photos, kept = [], []
    for p in paths:
        t = load_photo(p, 768)
        if t is not None:
            photos.append(t)
            kept.append(os.path.relpath(p, os.path.join(args.cache, 'unpacked')))
    # Every seventh photograph validates (chosen by name, so the split is the same on every machine).
    val_idx = [i for i, p in enumerate(kept) if int(hashlib.sha256(p.encode()).hexdigest(), 16) % 7 == 0]
    train = [photos[i] for i in range(len(photos)) if i not in set(val_idx)]
    val = [photos[i] for i in val_idx]
    print(f'{len(paths)} pictures, {len(photos)} photographs kept: {len(train)} train, {len(val)} validation', flush=True)

    layers, weights = load_backbone(args.backbone)
    model = Descriptor(KerasNet(layers, weights, args.cut, args.train_from), args.dim)
    val_pairs = validation_pairs(val, args.size, args.max_angle, 256, seed=12345)
    log = {'steps': [], 'val_top1': []}
    # GeM and projection start from the ImageNet features: a (shrunk) PCA-whitening of pooled training views.
    with torch.no_grad():
        model.eval()
        pooled = torch.cat([model.pooled(batch_of_pairs(train, rng, 32, args.size, args.max_angle)[0]) for _ in range(8)])
        mu = pooled.mean(0)
        u, sv, vt = torch.linalg.svd(pooled - mu, full_matrices=False)
        d = min(args.dim, vt.shape[0])
        model.proj.weight.zero_()
        # Shrunk whitening: each direction divided by sqrt(its variance + the mean variance). Full whitening lifts
        # the weakest directions, where int8 rounding lives, as high as the strongest (cos 0.1-0.9 between the int8
        # and float outputs of one picture, against 0.92-0.99 unwhitened).
        var = sv[:d] ** 2 / len(pooled)
        model.proj.weight[:d] = vt[:d] / torch.sqrt(var + var.mean())[:, None]
        model.proj.bias.copy_(-(model.proj.weight @ mu))
    top1 = retrieval_top1(model, val_pairs)
    print(f'step 0: validation top-1 {top1:.3f} (ImageNet layers + PCA whitening)', flush=True)
    log['steps'].append(0)
    log['val_top1'].append(top1)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(args.steps, 1), pct_start=0.1)
    start = time.time()
    for step in range(1, args.steps + 1):
        model.train()
        a, b, ids = batch_of_pairs(train, rng, args.batch, args.size, args.max_angle)
        loss = info_nce(model(a), model(b), ids, args.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 20 == 0:
            print(f'step {step}: loss {loss.item():.3f}, p {model.p.item():.2f}, {(time.time() - start) / step:.2f} s/step', flush=True)
        last = step == args.steps or (args.minutes and time.time() - start > args.minutes * 60)
        if step % args.val_every == 0 or last:
            top1 = retrieval_top1(model, val_pairs)
            log['steps'].append(step)
            log['val_top1'].append(top1)
            print(f'step {step}: validation top-1 {top1:.3f}', flush=True)
        if last:
            break

    os.makedirs(args.out, exist_ok=True)
    calib = [batch_of_pairs(train, random.Random(7), 16, args.size, args.max_angle)[i] for i in (0, 1) for _ in range(1)]
    torch.save(model.state_dict(), os.path.join(args.cache, f'{args.id}.pt'))
    onnx_path = os.path.join(args.out, f'{args.id}.onnx')
    export_onnx(model, calib, onnx_path, args.size, args.dim)
    info = {
        'id': args.id, 'settings': {k: v for k, v in vars(args).items() if k not in ('backbone', 'cache', 'out')},
        'photos': {'train': len(train), 'validation': len(val), 'packages': PACKAGES},
        'validation_top1': dict(zip(map(str, log['steps']), log['val_top1'])),
        'minutes': round((time.time() - start) / 60, 1), 'sha256': sha256(onnx_path), 'bytes': os.path.getsize(onnx_path),
        'gem_p': round(model.p.item(), 4),
    }
    json.dump(info, open(os.path.join(args.cache, f'{args.id}.training.json'), 'w'), indent=1)
    print(json.dumps(info, indent=1))
    write_manifest(args)


if __name__ == '__main__':
    main()
