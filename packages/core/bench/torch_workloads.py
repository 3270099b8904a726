"""PyTorch twins of the @ssl benchmark workloads (bench/workloads/*.ts): same architecture, batch,
loss and optimizer, random pre-made views. Prints one JSON object: per-step milliseconds and peak RSS.

    /usr/bin/python3 bench/torch_workloads.py <simclr-cnn28|resnet18-cifar32|mae-vit28|dino-multicrop28|dino-vit28-multicrop|fixmatch-cnn28-b16|features-cnn28|features-vit28> <steps> <warmup> [threads]

The features-* workloads are inference: one step is a batch of FEATURE_BATCH images through the encoder in
eval mode under torch.no_grad() (batch norm with its running statistics, as @ssl's folded inference path).
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def nt_xent(z1, z2, temperature):
    # SimCLR eq. 1 over 2N embeddings: positive is the other view, self excluded from the denominator.
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    logits = logits - 1e9 * torch.eye(2 * n)
    positives = (z[:n] * z[n:]).sum(1) / temperature
    return torch.logsumexp(logits, 1).mean() - positives.mean()


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.projection = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        return self.projection(x.mean((2, 3)))


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = None
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18Cifar(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        blocks, channels = [], 64
        for stage, width in enumerate([64, 128, 256, 512]):
            blocks += [BasicBlock(channels, width, 1 if stage == 0 else 2), BasicBlock(width, width, 1)]
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.projection = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128))

    def forward(self, x):
        return self.projection(self.blocks(self.stem(x)).mean((2, 3)))


class Block(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), x + MLP(LN(x))."""

    def __init__(self, width, heads, mlp_ratio, gelu="tanh"):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.projection = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(approximate=gelu), nn.Linear(mlp_ratio * width, width))

    def forward(self, x):
        b, t, w = x.shape
        head_width = w // self.heads
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, head_width).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-2, -1) / math.sqrt(head_width)).softmax(-1)
        mixed = (attention @ v).transpose(1, 2).reshape(b, t, w)
        x = x + self.projection(mixed)
        return x + self.mlp(self.norm2(x))


class MaeVit28(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(16, 128)
        self.positions = nn.Parameter(torch.randn(1, 49, 128) * 0.2)
        self.encoder = nn.Sequential(*[Block(128, 4, 4) for _ in range(4)])
        self.encoder_norm = nn.LayerNorm(128)
        self.decoder_embed = nn.Linear(128, 64)
        self.mask_token = nn.Parameter(torch.randn(1, 1, 64) * 0.2)
        self.decoder_positions = nn.Parameter(torch.randn(1, 49, 64) * 0.2)
        self.decoder = nn.Sequential(*[Block(64, 4, 4) for _ in range(2)])
        self.decoder_norm = nn.LayerNorm(64)
        self.pixel_head = nn.Linear(64, 16)

    def loss(self, images):
        b = images.shape[0]
        target = images.reshape(b, 1, 7, 4, 7, 4).permute(0, 2, 4, 3, 5, 1).reshape(b, 49, 16)
        shuffle = torch.rand(b, 49).argsort(1)  # MAE random masking, per sample
        restore = shuffle.argsort(1)
        keep = shuffle[:, :12]
        tokens = self.patch_embed(target) + self.positions
        tokens = torch.gather(tokens, 1, keep.unsqueeze(-1).expand(-1, -1, 128))
        tokens = self.encoder_norm(self.encoder(tokens))
        visible = self.decoder_embed(tokens)
        decoded = torch.cat([visible, self.mask_token.expand(b, 37, -1)], 1)
        decoded = torch.gather(decoded, 1, restore.unsqueeze(-1).expand(-1, -1, 64)) + self.decoder_positions
        predicted = self.pixel_head(self.decoder_norm(self.decoder(decoded)))
        hidden = torch.cat([torch.zeros(b, 12), torch.ones(b, 37)], 1).gather(1, restore)
        per_patch = ((predicted - target) ** 2).mean(-1)
        return (per_patch * hidden).sum() / hidden.sum()


class DinoCnn(nn.Module):
    """SmallCnn's trunk and DINO's head: MLP with GELU to a 64-d bottleneck, L2 norm, weight-normalized last layer (g = 1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.mlp = nn.Sequential(nn.Linear(128, 256), nn.GELU(approximate="tanh"), nn.Linear(256, 256), nn.GELU(approximate="tanh"), nn.Linear(256, 64))
        self.last_layer = nn.Parameter(torch.randn(1024, 64) * math.sqrt(2 / 64))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        z = F.normalize(self.mlp(x.mean((2, 3))), dim=1)
        return z @ F.normalize(self.last_layer, dim=1).t()


FEATURE_BATCH = 512


class SslCnn(nn.Module):
    """@ssl's default encoder (`ssl pretrain`'s cnn): conv3x3 without bias + BN + ReLU per stage, max-pool between stages, global average pool."""

    def __init__(self, channels=(32, 64, 128)):
        super().__init__()
        layers, inputs = [], 1
        for stage, width in enumerate(channels):
            if stage > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(inputs, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            inputs = width
        self.trunk = nn.Sequential(*layers)

    def forward(self, x):
        return self.trunk(x).mean((2, 3))


class Vit28(nn.Module):
    """@ssl's vit28 preset: 4x4 patches, class token, learned positions, 4 pre-norm blocks of width 128 with 4 heads, final LayerNorm, class-token feature.
    patch, width and gelu override the preset as vitPreset's overrides do (the DINO recipe: 7, 64, "tanh")."""

    def __init__(self, patch=4, width=128, gelu="none"):
        super().__init__()
        self.patch, self.grid = patch, 28 // patch
        self.patch_embed = nn.Linear(patch * patch, width)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        self.positions = nn.Parameter(torch.randn(1, 1 + self.grid**2, width) * 0.02)
        # The preset's GELU is the exact (erf) form.
        self.blocks = nn.Sequential(*[Block(width, 4, 4, gelu=gelu) for _ in range(4)])
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, images):
        b, p, g = images.shape[0], self.patch, self.grid
        patches = images.reshape(b, 1, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, p * p)
        tokens = torch.cat([self.class_token.expand(b, -1, -1), self.patch_embed(patches)], 1) + self.positions
        return self.norm(self.blocks(tokens))[:, 0]


class DinoVit28(nn.Module):
    """Vit28 (by default the noncontrastive dino-vit28 recipe's: 7x7 patches, width 64, tanh GELU) on crops of any multiple of the
    patch size (the position table resized bilinearly, as @ssl's interpolatePositionEmbedding), then DINO's head with batch norm
    (the recipe's): Linear-BN-GELU twice to 512, Linear to a 128-d bottleneck, L2 norm, weight-normalized last layer (g = 1) to 128
    outputs."""

    def __init__(self, patch=7, width=64, gelu="tanh"):
        super().__init__()
        self.vit = Vit28(patch, width, gelu)
        self.mlp = nn.Sequential(
            nn.Linear(width, 512), nn.BatchNorm1d(512), nn.GELU(), nn.Linear(512, 512), nn.BatchNorm1d(512), nn.GELU(), nn.Linear(512, 128)
        )
        self.last_layer = nn.Parameter(torch.randn(128, 128) * math.sqrt(2 / 128))

    def features(self, images):
        vit, (b, _, h, w) = self.vit, images.shape
        p, grid, width = vit.patch, vit.grid, vit.positions.shape[-1]
        grid_h, grid_w = h // p, w // p
        patches = images.reshape(b, 1, grid_h, p, grid_w, p).permute(0, 2, 4, 3, 5, 1).reshape(b, grid_h * grid_w, p * p)
        positions = vit.positions[:, 1:]
        if (grid_h, grid_w) != (grid, grid):
            table = positions.reshape(1, grid, grid, width).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=(grid_h, grid_w), mode="bilinear", align_corners=False)
            positions = table.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, width)
        class_token = vit.class_token + vit.positions[:, :1]
        tokens = torch.cat([class_token.expand(b, -1, -1), vit.patch_embed(patches) + positions], 1)
        return vit.norm(vit.blocks(tokens))[:, 0]

    def forward(self, images):
        z = F.normalize(self.mlp(self.features(images)), dim=1)
        return z @ F.normalize(self.last_layer, dim=1).t()


def build(name):
    torch.manual_seed(0)
    if name == "simclr-cnn28":
        model, batch = SmallCnn(), 256
        views = torch.rand(2 * batch, 1, 28, 28)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def loss():
            z = model(views)
            return nt_xent(z[:batch], z[batch:], 0.5)

    elif name == "resnet18-cifar32":
        model, batch = ResNet18Cifar(), 128
        views = torch.rand(2 * batch, 3, 32, 32)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def loss():
            z = model(views)
            return nt_xent(z[:batch], z[batch:], 0.5)

    elif name == "mae-vit28":
        model = MaeVit28()
        images = torch.rand(256, 1, 28, 28)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05)

        def loss():
            return model.loss(images)

    elif name == "dino-multicrop28":
        # DINO's MultiCropWrapper: the crops of one resolution go through the encoder as one batch.
        student, batch = DinoCnn(), 64
        teacher = DinoCnn()
        teacher.load_state_dict(student.state_dict())
        for p in teacher.parameters():
            p.requires_grad = False
        global_crops = torch.rand(2 * batch, 1, 28, 28)
        local_crops = torch.rand(6 * batch, 1, 12, 12)
        center = torch.zeros(1, 1024)
        optimizer = torch.optim.AdamW(student.parameters(), lr=5e-4, weight_decay=0.04)
        model = student

        def loss():
            student_out = torch.cat([student(global_crops), student(local_crops)]).div(0.1).log_softmax(1).chunk(8)
            with torch.no_grad():
                teacher_out = teacher(global_crops)
            targets = F.softmax((teacher_out - center) / 0.04, dim=1).chunk(2)
            terms = [-(q * student_out[v]).sum(1).mean() for t, q in enumerate(targets) for v in range(8) if v != t]
            loss.teacher_out = teacher_out
            return sum(terms) / len(terms)

        def after_update():
            with torch.no_grad():
                for t, s in zip(teacher.parameters(), student.parameters()):
                    t.mul_(0.996).add_(s.detach(), alpha=0.004)
                center.mul_(0.9).add_(loss.teacher_out.mean(0, keepdim=True), alpha=0.1)

    elif name == "dino-vit28-multicrop":
        # The crops of one size as one batch (MultiCropWrapper; the recipe's cropBatches 'per-size'); the head per size as @ssl's.
        student, batch = DinoVit28(), 64
        teacher = DinoVit28()
        teacher.load_state_dict(student.state_dict())
        for p in teacher.parameters():
            p.requires_grad = False
        # 2 global 28x28 crops and 6 local 14x14 ones (issue 28; the recipe trains with 4 local).
        global_crops = torch.rand(2 * batch, 1, 28, 28)
        local_crops = torch.rand(6 * batch, 1, 14, 14)
        center = torch.zeros(1, 128)
        optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3, weight_decay=0.04)
        model = student

        def loss():
            student_out = torch.cat([student(global_crops), student(local_crops)]).div(0.1).log_softmax(1).chunk(8)
            with torch.no_grad():
                teacher_out = teacher(global_crops)
            targets = F.softmax((teacher_out - center) / 0.04, dim=1).chunk(2)
            terms = [-(q * student_out[v]).sum(1).mean() for t, q in enumerate(targets) for v in range(8) if v != t]
            loss.teacher_out = teacher_out
            return sum(terms) / len(terms)

        def after_update():
            with torch.no_grad():
                for t, s in zip(teacher.state_dict().values(), student.state_dict().values()):
                    if t.dtype.is_floating_point:
                        t.mul_(0.996).add_(s.detach(), alpha=0.004)
                center.mul_(0.9).add_(loss.teacher_out.mean(0, keepdim=True), alpha=0.1)

    elif name == "fixmatch-cnn28-b16":
        # FixMatch at issue 32's benchmark shape: 16 labeled weak views + 48 weak + 48 strong unlabeled views, pre-made
        # (augmentation is not timed on either side), one forward of all 112 through @ssl's CNN 16-32-64 + a linear
        # classifier; labeled CE + confidence-masked CE of the strong views on the weak argmax (tau 0.95, mean over
        # all 48); SGD Nesterov 0.9, lr 0.03, weight decay 5e-4 on >= 2-D weights as @ssl's optimizer; then the EMA
        # copy (0.999) of every float entry of the state dict, batch-norm statistics included, as @ssl's emaUpdate.
        labeled_batch, unlabeled = 16, 48
        encoder = SslCnn(channels=(16, 32, 64))
        classifier = nn.Linear(64, 10)
        model = nn.Sequential(encoder, classifier)
        ema = nn.Sequential(SslCnn(channels=(16, 32, 64)), nn.Linear(64, 10))
        ema.load_state_dict(model.state_dict())
        for p in ema.parameters():
            p.requires_grad = False
        images = torch.rand(labeled_batch + 2 * unlabeled, 1, 28, 28)
        labels = torch.randint(0, 10, (labeled_batch,))
        decayed = [p for p in model.parameters() if p.dim() > 1]
        others = [p for p in model.parameters() if p.dim() <= 1]
        optimizer = torch.optim.SGD(
            [{"params": decayed, "weight_decay": 5e-4}, {"params": others, "weight_decay": 0}], lr=0.03, momentum=0.9, nesterov=True
        )

        def loss():
            logits = model(images)
            labeled, weak, strong = logits[:labeled_batch], logits[labeled_batch : labeled_batch + unlabeled], logits[labeled_batch + unlabeled :]
            confidence, pseudo_labels = weak.detach().softmax(1).max(1)
            mask = (confidence >= 0.95).float()
            unlabeled_loss = (F.cross_entropy(strong, pseudo_labels, reduction="none") * mask).mean()
            loss.mask_rate = mask.mean()
            return F.cross_entropy(labeled, labels) + unlabeled_loss

        def after_update():
            loss.mask_rate.item()
            with torch.no_grad():
                for t, s in zip(ema.state_dict().values(), model.state_dict().values()):
                    if t.dtype.is_floating_point:
                        t.mul_(0.999).add_(s.detach(), alpha=0.001)

    elif name in ("features-cnn28", "features-vit28"):
        model = (SslCnn() if name == "features-cnn28" else Vit28()).eval()
        images = torch.rand(FEATURE_BATCH, 1, 28, 28)

        def infer():
            with torch.no_grad():
                return model(images)[0, 0].item()

        return infer

    else:
        raise SystemExit(f"unknown workload {name}")

    def step():
        optimizer.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        if name == "dino-vit28-multicrop":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        optimizer.step()
        if name in ("dino-multicrop28", "dino-vit28-multicrop", "fixmatch-cnn28-b16"):
            after_update()
        return value.item()

    return step


def main():
    name, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
    step = build(name)
    for _ in range(warmup):
        step()
    milliseconds = []
    cpu_milliseconds = []  # process CPU time, all threads (OpenMP's included), as the @ssl side measures
    for _ in range(steps):
        cpu_start = time.process_time()
        start = time.perf_counter()
        step()
        milliseconds.append((time.perf_counter() - start) * 1000)
        cpu_milliseconds.append((time.process_time() - cpu_start) * 1000)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"ms": milliseconds, "cpu_ms": cpu_milliseconds, "rss_mb": peak_rss_mb, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
