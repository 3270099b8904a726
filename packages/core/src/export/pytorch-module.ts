import type { PyTorchArchitecture } from './pytorch-state-dict';

/*
 * The Python source of a PyTorch module matching an exported state dict. The file holds the pieces the
 * encoder's family needs and its resolved architecture as JSON, so `load_state_dict(strict=True)` accepts
 * the exported weights and eval mode gives @ssl's features. What differs from a stock PyTorch layer is said
 * where it is (TensorFlow's 'same' padding), since a user continuing training there will read this file.
 */

/** The imports; `math` only where 'same' padding is computed (the ResNet family). */
function header(family: PyTorchArchitecture['family']): string {
  const standard = ['json', ...(family === 'resnet' ? ['math'] : []), 'os', 'sys'].map((name) => `import ${name}`);
  return `${standard.join('\n')}\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn`;
}

const READER = `
def read_safetensors(path):
    """The tensors of a safetensors file as a dict; uses the \`safetensors\` package when it is installed."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(path)
    if sys.byteorder != "little":
        raise RuntimeError("this reader assumes a little-endian machine; install the safetensors package")
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    with open(path, "rb") as file:
        data = file.read()
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    start = 8 + header_length
    state = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        values = torch.frombuffer(bytearray(data[start + begin : start + end]), dtype=dtypes[entry["dtype"]])
        state[name] = values.reshape(entry["shape"])
    return state`;

const PREPROCESS = `


def preprocess(images):
    """Images as @ssl feeds its encoders: [N, H, W, C] uint8 pixels (0..255) become float32 [N, C, H, W]
    scaled to 0..1, with no mean/std normalisation. Float input is taken as already scaled to 0..1."""
    x = torch.as_tensor(images)
    x = x.float() / 255.0 if not torch.is_floating_point(x) else x.float()
    return x.permute(0, 3, 1, 2).contiguous()`;

const SAME_PADDING = `

def pad_same(x, kernel, stride, value=0.0):
    """TensorFlow's 'same' padding, which @ssl's tfjs convs and pools use: total = max((ceil(n / s) - 1) * s
    + k - n, 0), the smaller half before. For a stride-2 3x3 conv on an even size that is 0 before and 1
    after, where PyTorch's padding=1 pads both sides and samples other pixels."""
    height, width = x.shape[-2:]
    pad_h = max((math.ceil(height / stride) - 1) * stride + kernel - height, 0)
    pad_w = max((math.ceil(width / stride) - 1) * stride + kernel - width, 0)
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d (same parameters and state-dict names) with TensorFlow's 'same' padding."""

    def forward(self, x):
        return F.conv2d(pad_same(x, self.kernel_size[0], self.stride[0]), self.weight, self.bias, self.stride)


def conv(in_channels, out_channels, kernel, stride):
    # At stride 1 (odd kernel) or for a 1x1 kernel, TensorFlow's 'same' is PyTorch's symmetric padding.
    if stride == 1 or kernel == 1:
        return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
    return Conv2dSame(in_channels, out_channels, kernel, stride, bias=False)`;

const CNN = `

class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, batch_norm, eps, momentum):
        super().__init__()
        # No conv bias before batch norm (its beta makes it redundant), as in @ssl.
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum) if batch_norm else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


class CnnEncoder(nn.Module):
    """@ssl's small CNN: per stage conv3x3 (+BN) + ReLU, 2x2 max-pool before every stage but the first,
    dropout after each stage when set, global average pooling. Input [N, C, H, W], output [N, channels[-1]]."""

    def __init__(self, a):
        super().__init__()
        self.stages = nn.ModuleList()
        in_channels = a["in_channels"]
        for width in a["channels"]:
            blocks = []
            for _ in range(a["convs_per_stage"]):
                blocks.append(ConvBlock(in_channels, width, a["batch_norm"], a["eps"], a["momentum"]))
                in_channels = width
            self.stages.append(nn.ModuleList(blocks))
        self.dropout = nn.Dropout(a["dropout"])
        self.feature_dim = in_channels

    def forward(self, x):
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = F.max_pool2d(x, 2, 2)
            for block in stage:
                x = block(x)
            x = self.dropout(x)
        return x.mean(dim=(2, 3))`;

const RESNET = `

def drop_path(x, rate, training):
    """Stochastic depth: drops a sample's residual branch with probability \`rate\`, scaling kept ones by 1/(1 - rate)."""
    if rate == 0 or not training:
        return x
    keep = 1.0 - rate
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, width, stride, a, drop_path_rate):
        super().__init__()
        bn = lambda channels: nn.BatchNorm2d(channels, eps=a["eps"], momentum=a["momentum"])
        self.conv1 = conv(in_channels, width, 3, stride)
        self.bn1 = bn(width)
        self.conv2 = conv(width, width, 3, 1)
        self.bn2 = bn(width)
        self.downsample = None
        if stride != 1 or in_channels != width:
            self.downsample = nn.Sequential(conv(in_channels, width, 1, stride), bn(width))
        self.dropout = nn.Dropout(a["dropout"])
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        out = self.dropout(F.relu(self.bn1(self.conv1(x))))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(drop_path(out, self.drop_path_rate, self.training) + skip)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, width, stride, a, drop_path_rate):
        super().__init__()
        bn = lambda channels: nn.BatchNorm2d(channels, eps=a["eps"], momentum=a["momentum"])
        out_channels = width * self.expansion
        self.conv1 = conv(in_channels, width, 1, 1)
        self.bn1 = bn(width)
        self.conv2 = conv(width, width, 3, stride)  # ResNet v1.5: the stride on the 3x3 conv
        self.bn2 = bn(width)
        self.conv3 = conv(width, out_channels, 1, 1)
        self.bn3 = bn(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(conv(in_channels, out_channels, 1, stride), bn(out_channels))
        self.dropout = nn.Dropout(a["dropout"])
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.dropout(F.relu(self.bn2(self.conv2(out))))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(drop_path(out, self.drop_path_rate, self.training) + skip)


class ResNetEncoder(nn.Module):
    """ResNet v1.5 with torchvision's parameter names (conv1, bn1, layer1..layer4, downsample) and no fc.
    'cifar' stem: conv3x3/1 + BN + ReLU; 'imagenet' stem: conv7x7/2 + BN + ReLU + max-pool 3x3/2, with
    TensorFlow's 'same' padding (see pad_same). Input [N, C, H, W], output [N, feature_dim]."""

    def __init__(self, a):
        super().__init__()
        self.stem = a["stem"]
        block = Bottleneck if a["bottleneck"] else BasicBlock
        self.conv1 = conv(a["in_channels"], a["stem_width"], 3 if self.stem == "cifar" else 7, 1 if self.stem == "cifar" else 2)
        self.bn1 = nn.BatchNorm2d(a["stem_width"], eps=a["eps"], momentum=a["momentum"])
        in_channels = a["stem_width"]
        rates = iter(a["drop_path"])
        for stage, (count, width) in enumerate(zip(a["blocks"], a["widths"])):
            blocks = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block(in_channels, width, stride, a, next(rates)))
                in_channels = width * block.expansion
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        self.stages = len(a["blocks"])
        self.feature_dim = in_channels

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem == "imagenet":
            x = F.max_pool2d(pad_same(x, 3, 2, value=float("-inf")), 3, 2)
        for stage in range(self.stages):
            x = getattr(self, "layer%d" % (stage + 1))(x)
        return x.mean(dim=(2, 3))`;

const MLP = `

class MlpLayer(nn.Module):
    def __init__(self, in_features, out_features, batch_norm, eps, momentum):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=not batch_norm)
        self.bn = nn.BatchNorm1d(out_features, eps=eps, momentum=momentum) if batch_norm else None

    def forward(self, x):
        x = self.linear(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


class MlpEncoder(nn.Module):
    """@ssl's MLP encoder: per hidden width, linear (+BN) + ReLU. Input [N, in_features]."""

    def __init__(self, a):
        super().__init__()
        sizes = [a["in_features"]] + list(a["hidden"])
        self.layers = nn.ModuleList(
            MlpLayer(sizes[i], sizes[i + 1], a["batch_norm"], a["eps"], a["momentum"]) for i in range(len(a["hidden"]))
        )
        self.feature_dim = sizes[-1]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x`;

const FAMILY_SOURCE: Record<PyTorchArchitecture['family'], { sections: string[]; className: string }> = {
  cnn: { sections: [CNN], className: 'CnnEncoder' },
  resnet: { sections: [SAME_PADDING, RESNET], className: 'ResNetEncoder' },
  mlp: { sections: [MLP], className: 'MlpEncoder' },
};

/** The architecture as JSON with one field per line (lists kept on their line). */
function architectureJson(architecture: PyTorchArchitecture): string {
  const fields = Object.entries(architecture).map(([key, value]) => `    ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  return `{\n${fields.join(',\n')}\n}`;
}

/**
 * A self-contained Python module (torch only; `safetensors` used when installed) defining the encoder,
 * `build_encoder()`, `load_encoder(path)` (strict load, eval mode) and `preprocess(images)`.
 */
export function pytorchModuleSource(options: {
  architecture: PyTorchArchitecture;
  weightsFile: string;
  /** What produced the export, for the docstring (e.g. "ssl export runs/simclr, @ssl/core 0.1.0"). */
  generatedBy: string;
}): string {
  const { sections, className } = FAMILY_SOURCE[options.architecture.family];
  const image = options.architecture.family !== 'mlp';
  const usage = image
    ? 'features = encoder(ssl_encoder.preprocess(images))  # images: uint8 [N, H, W, C], as @ssl reads them'
    : 'features = encoder(vectors)  # float32 [N, in_features]';
  const docstring = `"""PyTorch definition of an @ssl encoder (${options.architecture.family}), generated by ${options.generatedBy}.

    import ssl_encoder
    encoder = ssl_encoder.load_encoder()  # ${options.weightsFile} next to this file, eval mode
    ${usage}

Eval mode normalises with the batch norms' running statistics, as @ssl's inference does. Training it further
(DDP / FSDP) works as for any nn.Module; note that PyTorch's running_var uses the unbiased batch variance
where tfjs used the biased one (the difference is n/(n-1), negligible at usual batch sizes).
"""
${header(options.architecture.family)}`;
  // JSON inside a raw triple-quoted string: no escape is interpreted, and the spec holds no triple quotes.
  const architecture = `ARCHITECTURE = json.loads(
    r"""
${architectureJson(options.architecture)}
"""
)`;
  const footer = `def build_encoder(architecture=ARCHITECTURE):
    """A freshly initialised encoder of this architecture (random weights)."""
    return ${className}(architecture)


def load_encoder(path=None):
    """The exported encoder with its weights (strict: every name and shape must match), in eval mode."""
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), ${JSON.stringify(options.weightsFile)})
    encoder = build_encoder()
    encoder.load_state_dict(read_safetensors(path), strict=True)
    return encoder.eval()`;
  // PEP 8: two blank lines between top-level definitions.
  return `${[docstring, architecture, READER, ...(image ? [PREPROCESS] : []), ...sections, footer].map((part) => part.trim()).join('\n\n\n')}\n`;
}
