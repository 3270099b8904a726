"""A PyTorch SimCLR peer of @ssl's contrastive:simclr, for issue #31's comparison.

Trains the same small CNN as @ssl's `cnn` encoder (32-64-128, conv3x3 -> BN -> ReLU, 2x2 max-pool before
stages 2 and 3, global average pool) with SimCLR as a PyTorch user would write it: torchvision transforms per
image (RandomResizedCrop, flip, ColorJitter with p 0.8, GaussianBlur with p 0.5), a 2-layer projection head,
NT-Xent, Adam with linear warmup and cosine decay. It does not evaluate: it writes the pooled features of the
trained network and of the same network at its initialisation (eval mode, clean images) to --out, and
`score-peer-features.ts` scores them with @ssl's own protocol, so the read-out is identical by construction.

    nice -n 10 /usr/bin/python3 packages/contrastive/scripts/simclr_peer.py --out /tmp/peer \
        [--train-limit 10000] [--eval-train-limit 10000] [--epochs 3] [--init torch|ssl] [--temperature 0.2]

Each option below that has an @ssl counterpart defaults to @ssl's value, except where the PyTorch default is
the point of the comparison (--init, --blur-sigma); the option's help says which.
"""

import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--train-limit", type=int, default=10000)
    p.add_argument("--eval-train-limit", type=int, default=10000)
    p.add_argument("--test-limit", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-fraction", type=float, default=0.1)
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--projection-dim", type=int, default=64)
    p.add_argument("--output-bn", type=int, default=1, help="BN without affine on the head's output (as @ssl's default)")
    p.add_argument("--init", choices=["torch", "ssl"], default="torch",
                   help="torch: PyTorch's default (kaiming-uniform a=sqrt 5); ssl: He normal fan-out convs, Glorot uniform linears")
    p.add_argument("--crop-scale-min", type=float, default=0.2)
    p.add_argument("--jitter", type=float, default=0.4, help="brightness and contrast strength (@ssl: 0.8 s with s = 0.5)")
    p.add_argument("--jitter-p", type=float, default=0.8)
    p.add_argument("--blur-p", type=float, default=0.5)
    p.add_argument("--blur-sigma", type=float, default=1.0, help="upper end of the blur sigma (@ssl: 1, torchvision default: 2)")
    p.add_argument("--normalize", type=int, default=0, help="1: Normalize((0.286,), (0.353,)) after the augmentations")
    p.add_argument("--seed", type=int, default=0)
    # One thread: on this loaded 2-core machine a second OpenMP thread spun, ~3.5 against ~1.3 CPU s a step.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dump-views", help="write a PNG grid of 16 images' two views here and exit")
    p.add_argument("--view-stats", type=int, help="print simclr-view-stats.ts's statistics of this many images' views and exit")
    return p.parse_args()


def read_idx(name):
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(split, limit):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(f"{prefix}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(f"{prefix}-labels-idx1-ubyte.gz")[:limit]
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1), labels.astype(np.int32)


class Cnn(nn.Module):
    """@ssl's `cnn` encoder: per stage [max-pool 2x2 (stages 2+)] conv3x3 (no bias) -> BN -> ReLU; global average pool."""

    def __init__(self, channels=(32, 64, 128)):
        super().__init__()
        layers, previous = [], 1
        for stage, width in enumerate(channels):
            if stage > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            previous = width
        self.body = nn.Sequential(*layers)
        self.feature_dim = previous

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


def projection_head(in_dim, hidden_dim, out_dim, output_bn):
    layers = [nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
              nn.Linear(hidden_dim, out_dim, bias=not output_bn)]
    if output_bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


def ssl_init(module):
    """@ssl's initialisers: He normal (fan-out) for convs, Glorot uniform for linear layers."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def view_transform(args):
    ops = [
        T.RandomResizedCrop(28, scale=(args.crop_scale_min, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(brightness=args.jitter, contrast=args.jitter)], p=args.jitter_p),
        T.RandomApply([T.GaussianBlur(3, sigma=(0.1, args.blur_sigma))], p=args.blur_p),
    ]
    if args.normalize:
        ops.append(T.Normalize((0.286,), (0.353,)))
    return T.Compose(ops)


def nt_xent(z1, z2, temperature):
    """SimCLR eq. 1: each of the 2N projections picks its partner among the 2N - 1 others (cosine / tau)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def features(encoder, images, batch_size=500):
    encoder.eval()
    out = [encoder(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy().astype(np.float32)


def write_features(out_dir, tag, encoder, eval_train, test):
    features(encoder, eval_train).tofile(os.path.join(out_dir, f"train-{tag}.f32"))
    features(encoder, test).tofile(os.path.join(out_dir, f"test-{tag}.f32"))


def dump_views(path, images, transform):
    from PIL import Image
    rows = []
    for i in range(16):
        rows.append(torch.cat([images[i, 0], transform(images[i])[0], transform(images[i])[0]], dim=1))
    grid = (torch.cat(rows, dim=0).clamp(0, 1) * 255).byte().numpy()
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(path)


def view_stats(images, transform):
    """The statistics simclr-view-stats.ts prints for @ssl's views, of this pipeline's views."""
    original = images.flatten(1)
    view1 = torch.stack([transform(x) for x in images]).flatten(1)
    view2 = torch.stack([transform(x) for x in images]).flatten(1)
    views = torch.cat([view1, view2])
    return {
        "side": "torchvision", "count": len(images),
        "meanPixel": views.mean().item(),
        "meanImageStd": views.std(dim=1, unbiased=False).mean().item(),
        "meanAbsChange": torch.cat([view1 - original, view2 - original]).abs().mean().item(),
        "viewCosine": F.cosine_similarity(view1, view2, dim=1).mean().item(),
    }


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    train_images, _ = load_split("train", args.train_limit)
    eval_train, eval_train_labels = load_split("train", args.eval_train_limit)
    test, test_labels = load_split("test", args.test_limit)
    transform = view_transform(args)
    if args.dump_views:
        dump_views(args.dump_views, train_images, transform)
        return
    if args.view_stats:
        print(json.dumps(view_stats(train_images[: args.view_stats], transform)))
        return

    encoder = Cnn()
    head = projection_head(encoder.feature_dim, args.hidden_dim, args.projection_dim, args.output_bn)
    if args.init == "ssl":
        ssl_init(encoder)
        ssl_init(head)
    write_features(args.out, "init", encoder, eval_train, test)
    eval_train_labels.tofile(os.path.join(args.out, "train-labels.i32"))
    test_labels.tofile(os.path.join(args.out, "test-labels.i32"))

    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=args.lr)
    steps_per_epoch = len(train_images) // args.batch_size  # drop the last partial batch, as @ssl's trainer
    total = steps_per_epoch * args.epochs  # 0 epochs: "trained" is the initialisation (to compare controls)
    warmup = max(1, round(args.warmup_fraction * total))

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    started, cpu_started = time.time(), time.process_time()
    step, log = 0, []
    for epoch in range(args.epochs):
        encoder.train()
        head.train()
        order = torch.randperm(len(train_images))
        for b in range(steps_per_epoch):
            batch = train_images[order[b * args.batch_size:(b + 1) * args.batch_size]]
            view1 = torch.stack([transform(x) for x in batch])
            view2 = torch.stack([transform(x) for x in batch])
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            # One forward over both views, as @ssl's step: BN sees the 2N images together.
            z = head(encoder(torch.cat([view1, view2])))
            loss = nt_xent(z[: len(batch)], z[len(batch):], args.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 20 == 0 or step == total:
                log.append({"step": step, "loss": round(loss.item(), 4)})
                print(f"step {step}/{total} loss {loss.item():.4f} {time.time() - started:.0f}s", flush=True)
    train_seconds, cpu_seconds = time.time() - started, time.process_time() - cpu_started
    write_features(args.out, "trained", encoder, eval_train, test)
    meta = {"dim": encoder.feature_dim, "trainCount": len(eval_train), "testCount": len(test), "steps": total,
            "trainSeconds": round(train_seconds, 1), "cpuMsPerStep": round(1000 * cpu_seconds / max(1, total)),
            "args": vars(args), "loss": log}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main()
