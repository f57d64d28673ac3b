"""Torch data pipelines for training and evaluation (torch is imported here, never by datasets).

Randomness is a pure function of the recorded seeds and the epoch: the order of training images
comes from (data_seed, epoch), augmentation from (aug_seed, epoch[, sample]). A resumed run
therefore sees exactly the batches an uninterrupted run would have seen.

Small array datasets (digits, gaussian, CIFAR-100) live as uint8 tensors on the device and are
batched by index; file datasets (ImageNet, ImageFolder) go through a DataLoader with workers.
Pixels are normalised on the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labutil.errors import UserError
from model_runs.datasets import ArrayDataset, Dataset, FileDataset, load_rgb, resize_center_crop
from model_runs.recipes import train_crop_at

if TYPE_CHECKING:
    import torch
    from PIL import Image

# Keep array datasets on the device up to this size; larger ones are copied batch by batch.
MAX_DEVICE_BYTES = 2 * 1024**3


def seed_from(*parts: int) -> int:
    """A 63-bit seed derived from several integers (seed, epoch, ...), independent streams per tuple."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] & (2**63 - 1))


def training_subset(labels: np.ndarray, fraction: float, part: int, seed: int) -> np.ndarray:
    """Indices of one of round(1/fraction) disjoint, class-stratified parts of the training split."""
    if fraction >= 1.0:
        return np.arange(len(labels))
    parts = round(1.0 / fraction)
    rng = np.random.default_rng(seed_from(seed, 7919))
    chosen = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        chosen.append(np.array_split(idx, parts)[part])
    return np.sort(np.concatenate(chosen))


def epoch_order(indices: np.ndarray, data_seed: int, epoch: int) -> np.ndarray:
    """The order in which the training images are presented in an epoch."""
    return np.random.default_rng(seed_from(data_seed, epoch)).permutation(indices)


def unwrap_worker_error(exc: BaseException) -> UserError | None:
    """A UserError raised in a DataLoader worker comes back with a traceback in its text; keep one line."""
    text = str(exc)
    if isinstance(exc, UserError) or "UserError: " in text:
        last = [line for line in text.strip().splitlines() if line.strip()]
        msg = last[-1] if last else text
        return UserError(msg.split("UserError: ", 1)[-1])
    return None


class Normalizer:
    """uint8 NCHW batch on the device -> float, scaled to 0..1 and normalised per channel."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: "torch.device", channels_last: bool) -> None:
        import torch

        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0
        self.channels_last = channels_last

    def __call__(self, x: "torch.Tensor") -> "torch.Tensor":
        import torch

        out = (x.float() - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out


def random_resized_crop_boxes(n: int, h: int, w: int, generator: "torch.Generator", scale: tuple[float, float] = (0.08, 1.0),
                              ratio: tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10) -> "torch.Tensor":
    """(top, left, height, width) of n crops drawn as torchvision's RandomResizedCrop.get_params does:
    area share in `scale`, log-uniform aspect `ratio`, first of `attempts` that fits, else the centre
    crop of the whole image clamped to `ratio`."""
    import math

    import torch

    dev = generator.device  # drawn where the generator lives: on the GPU for device-resident batches
    area = h * w
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, attempts, generator=generator, dtype=torch.float64, device=dev))
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(n, attempts, generator=generator, dtype=torch.float64, device=dev)
    aspect = torch.exp(log_r)
    cw = torch.round(torch.sqrt(target * aspect)).long()
    ch = torch.round(torch.sqrt(target / aspect)).long()
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = torch.argmax(fits.int(), dim=1)
    rows = torch.arange(n, device=dev)
    ok = fits[rows, first]
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(h * ratio[1])), h
    else:
        fw, fh = w, h
    cw = torch.where(ok, cw[rows, first], torch.full((n,), fw, device=dev))
    ch = torch.where(ok, ch[rows, first], torch.full((n,), fh, device=dev))
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64, device=dev)
    top = torch.where(ok, torch.floor(u[:, 0] * (h - ch + 1)).long(), torch.full((n,), (h - fh) // 2, device=dev))
    left = torch.where(ok, torch.floor(u[:, 1] * (w - cw + 1)).long(), torch.full((n,), (w - fw) // 2, device=dev))
    return torch.stack([top, left, ch, cw], dim=1)


def _source_index(boxes_start: "torch.Tensor", boxes_len: "torch.Tensor", out: int, device: "torch.device") -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Bilinear (align_corners=False) source rows/cols of a crop resized to `out` pixels, per sample:
    (lower index, upper index, weight of the upper one), as torch.nn.functional.interpolate computes them."""
    import torch

    length = boxes_len.to(device).view(-1, 1).double()
    src = ((torch.arange(out, device=device, dtype=torch.float64) + 0.5) * length / out - 0.5).clamp(min=0)
    lo = torch.minimum(src.floor(), length - 1)
    hi = torch.minimum(lo + 1, length - 1)
    start = boxes_start.to(device).view(-1, 1)
    return lo.long() + start, hi.long() + start, (src - lo).float()


def resized_crop_batch(x: "torch.Tensor", boxes: "torch.Tensor") -> "torch.Tensor":
    """Crop each uint8 NCHW image to its (top, left, height, width) box and resize it back to H x W
    (bilinear, align_corners=False, like interpolate on the crop), vectorised."""
    import torch

    n, c, h, w = x.shape
    r0, r1, wr = _source_index(boxes[:, 0], boxes[:, 2], h, x.device)
    c0, c1, wc = _source_index(boxes[:, 1], boxes[:, 3], w, x.device)
    b = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    ch = torch.arange(c, device=x.device).view(1, c, 1, 1)
    xf = x.float()

    def at(r: "torch.Tensor", col: "torch.Tensor") -> "torch.Tensor":
        return xf[b, ch, r.view(n, 1, h, 1), col.view(n, 1, 1, w)]

    wr4, wc4 = wr.view(n, 1, h, 1), wc.view(n, 1, 1, w)
    top = at(r0, c0) * (1 - wc4) + at(r0, c1) * wc4
    bottom = at(r1, c0) * (1 - wc4) + at(r1, c1) * wc4
    return (top * (1 - wr4) + bottom * wr4).round_().clamp_(0, 255).to(torch.uint8)


def augment_batch(x: "torch.Tensor", kind: str, pad: int, generator: "torch.Generator") -> "torch.Tensor":
    """Random shifts (zero padding + crop), random resized crops and/or horizontal flips of a uint8
    NCHW batch, vectorised."""
    import torch

    n, _, h, w = x.shape
    if kind == "random_resized_crop_flip":
        x = resized_crop_batch(x, random_resized_crop_boxes(n, h, w, generator))
    if kind in ("shift", "shift_flip") and pad > 0:
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=generator.device).to(x.device)
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        rows = (offsets[:, 0:1] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (offsets[:, 1:2] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        chan = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        x = padded[batch, chan, rows, cols]
    if kind in ("flip", "shift_flip", "random_resized_crop_flip"):
        flip = (torch.rand(n, generator=generator, device=generator.device) < 0.5).to(x.device).view(n, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
    return x


class ArrayPipeline:
    """Index batching over uint8 tensors held on the device (or on the host for big arrays)."""

    def __init__(self, dataset: ArrayDataset, device: "torch.device", channels_last: bool = False, need_train: bool = True) -> None:
        import torch

        self.device = device
        self.normalize = Normalizer(dataset.mean, dataset.std, device, channels_last)
        empty = (torch.empty(0, 1, 1, 1, dtype=torch.uint8), torch.empty(0, dtype=torch.int64))
        self.tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
            "train": self._load(dataset, "train") if need_train else empty,
            "val": self._load(dataset, "val"),
        }

    def _load(self, dataset: ArrayDataset, split: str) -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        images, labels = dataset.arrays(split)  # type: ignore[arg-type]
        if not images.flags.writeable:  # a read-only memory map (gaussian cache): copy it, or index it lazily
            if images.nbytes <= MAX_DEVICE_BYTES:
                images = np.array(images)
            else:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    x = torch.from_numpy(images).permute(0, 3, 1, 2)
                return x, torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        on_device = x.numel() <= MAX_DEVICE_BYTES
        if on_device:
            x = x.contiguous().to(self.device)
        return x, y.to(self.device)

    def n(self, split: str) -> int:
        return len(self.tensors[split][1])

    def labels(self, split: str) -> np.ndarray:
        return self.tensors[split][1].cpu().numpy()

    def _take(self, split: str, idx: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        x, y = self.tensors[split]
        if x.device != self.device:
            return x[idx.cpu()].to(self.device, non_blocking=True), y[idx]
        return x[idx], y[idx]

    def train_batches(self, order: np.ndarray, batch_size: int, recipe: dict[str, Any], epoch: int) -> Iterator[tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]]:
        """(normalised images, labels, sample indices) of each batch of an epoch, on the device."""
        import torch

        # the augmentation stream lives on the device (no per-batch host draws and blocking copies); on the
        # CPU it is the stream of earlier versions, on CUDA it is the GPU's own (deterministic) generator
        gen = torch.Generator(device=self.device).manual_seed(seed_from(recipe["aug_seed"], epoch))
        order_t = torch.from_numpy(order).to(self.device)
        for start in range(0, len(order), batch_size):
            idx = order_t[start : start + batch_size]
            x, y = self._take("train", idx)
            if recipe["augment"] != "none":
                x = augment_batch(x, recipe["augment"], recipe["augment_pad"], gen)
            yield self.normalize(x), y, idx

    def eval_batches(self, batch_size: int) -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
        import torch

        n = self.n("val")
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(n, start + batch_size), device=self.device)
            x, y = self._take("val", idx)
            yield self.normalize(x), y

    def n_train_batches(self, n: int, batch_size: int) -> int:
        return -(-n // batch_size)


class _EpochSampler:
    """Yields batches of (epoch, sample index) so workers can seed each sample's augmentation."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.order: np.ndarray = np.zeros(0, dtype=np.int64)
        self.epoch = 0

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for start in range(0, len(self.order), self.batch_size):
            yield [(self.epoch, int(i)) for i in self.order[start : start + self.batch_size]]

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)


def shift_image(img: "Image.Image", dy: int, dx: int) -> "Image.Image":
    """The image moved by (dy, dx) pixels, zero-filled, same size: out[i, j] = img[i + dy, j + dx],
    the same shift as zero padding + crop in `augment_batch`."""
    from PIL import Image

    out = Image.new(img.mode, img.size)
    out.paste(img, (-dx, -dy))
    return out


DECODERS = ("auto", "pil", "tensor", "batched")


def decode_tensor(path: str) -> "torch.Tensor":
    """An image file as a uint8 RGB CHW tensor, decoded by torchvision.io (libjpeg-turbo, libpng,
    libwebp); other formats go through PIL. A missing or corrupt file is a one-line UserError."""
    import torch
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        data = read_file(str(path))
    except RuntimeError:
        return _pil_tensor(path)  # names the missing file
    try:
        img = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        return _pil_tensor(path)  # a format decode_image lacks, or a corrupt file (PIL says which)
    return img if img.dtype == torch.uint8 else img.to(torch.uint8)


def _pil_tensor(path: str) -> "torch.Tensor":
    import torchvision.transforms.functional as F

    return F.pil_to_tensor(load_rgb(path))


def resize_center_crop_tensor(img: "torch.Tensor", resize: int, crop: int, interpolation: str = "bilinear") -> "torch.Tensor":
    """`resize_center_crop` on a uint8 CHW tensor with torchvision's v2 kernels (same sizes and offsets)."""
    import torchvision.transforms.v2.functional as F
    from torchvision.transforms import InterpolationMode

    h, w = int(img.shape[-2]), int(img.shape[-1])
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        mode = InterpolationMode.BICUBIC if interpolation == "bicubic" else InterpolationMode.BILINEAR
        img = F.resize(img, [new_h, new_w], interpolation=mode, antialias=True)
    if crop > new_w or crop > new_h:
        raise UserError(f"crop {crop} larger than the resized image {new_w}x{new_h}")
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    return img[..., top : top + crop, left : left + crop]


def shift_tensor(img: "torch.Tensor", dy: int, dx: int) -> "torch.Tensor":
    """`shift_image` on a CHW tensor: out[i, j] = img[i + dy, j + dx], zero-filled."""
    import torch

    h, w = img.shape[-2:]
    p = max(abs(dy), abs(dx))
    padded = torch.nn.functional.pad(img, (p, p, p, p))
    return padded[..., p + dy : p + dy + h, p + dx : p + dx + w]


def _file_dataset_class() -> type:
    import torch
    import torch.utils.data

    class FileImages(torch.utils.data.Dataset):
        """Images from files: (uint8 CHW tensor, label, index); training crops are seeded per sample.

        `tensor` decodes with torchvision.io and transforms with v2 uint8 kernels instead of PIL (the
        same random draws, in the same order, so both see the same crops and flips); `cache` is a
        memory-mapped (n, S, S, 3) uint8 array of the images already resized (see ImageCache)."""

        def __init__(self, samples: list[tuple[str, int]], train: bool, resize: int, crop: int, aug_seed: int, augment: str, pad: int = 0,
                     interpolation: str = "bilinear", tensor: bool = False, cache: "ImageCache | None" = None, encoded: bool = False) -> None:
            self.samples = samples
            # training JPEGs leave the worker still encoded, with their crop and flip drawn: decoded in batches on the device
            self.encoded = encoded and train and augment == "random_resized_crop_flip" and cache is None
            self.interpolation = interpolation
            self.pad = pad
            self.train = train
            self.resize = resize
            self.crop = crop
            self.aug_seed = aug_seed
            self.augment = augment
            self.tensor = tensor or cache is not None
            self.cache = cache

        def __len__(self) -> int:
            return len(self.samples)

        def __getitem__(self, key: Any) -> tuple[Any, ...]:
            epoch, index = key if isinstance(key, tuple) else (0, key)
            path, label = self.samples[index]
            if self.encoded:
                return self._encoded(path, label, epoch, index)
            if self.cache is not None:
                img: Any = self.cache.image(index)
            else:
                img = decode_tensor(path) if self.tensor else load_rgb(path)
            if self.train and self.augment != "none":
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed_from(self.aug_seed, epoch, index))
                    img = self._augment(img)
            else:
                img = self._fit(img)
            if self.tensor:
                return img.contiguous(), label, index
            import torchvision.transforms.functional as F

            return F.pil_to_tensor(img), label, index

        def _encoded(self, path: str, label: int, epoch: int, index: int) -> tuple[Any, ...]:
            """(JPEG bytes, label, index, (top, left, height, width, flip), True), the draws of `_augment`
            made from the header's size; other formats are decoded and cropped here (flag False)."""
            from PIL import Image
            from torchvision.io import read_file
            from torchvision.transforms import RandomResizedCrop

            try:
                data = read_file(str(path))
                with Image.open(path) as im:
                    w, h = im.size
                is_jpeg = data.numel() > 2 and int(data[0]) == 0xFF and int(data[1]) == 0xD8
            except (RuntimeError, OSError, SyntaxError, ValueError):
                is_jpeg = False  # the full decode below names the problem
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed_from(self.aug_seed, epoch, index))
                if not is_jpeg:
                    return self._augment(decode_tensor(path)).contiguous(), label, index, torch.zeros(5, dtype=torch.int64), False
                top, left, ch, cw = RandomResizedCrop.get_params(torch.empty((3, h, w), dtype=torch.uint8), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
                flip = torch.rand(1).item() < 0.5
            return data, label, index, torch.tensor([top, left, ch, cw, int(flip)], dtype=torch.int64), True

        def _fit(self, img: Any) -> Any:
            if self.tensor:
                return resize_center_crop_tensor(img, self.resize, self.crop, self.interpolation)
            return resize_center_crop(img, self.resize, self.crop, self.interpolation)

        def _augment(self, img: Any) -> Any:
            """The training view: random draws in one fixed order for both image types."""
            import torchvision.transforms.functional as F
            import torchvision.transforms.v2.functional as F2
            from torchvision.transforms import RandomResizedCrop

            if self.augment == "random_resized_crop_flip":
                top, left, h, w = RandomResizedCrop.get_params(img, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
                if self.tensor:
                    img = F2.resized_crop(img, top, left, h, w, [self.crop, self.crop], antialias=True)
                else:
                    img = F.resized_crop(img, top, left, h, w, [self.crop, self.crop], antialias=True)
            else:
                img = self._fit(img)
            if self.augment in ("shift", "shift_flip") and self.pad > 0:
                dy, dx = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
                img = (shift_tensor if self.tensor else shift_image)(img, dy - self.pad, dx - self.pad)
            if self.augment != "shift" and torch.rand(1).item() < 0.5:
                img = img.flip(-1) if self.tensor else F.hflip(img)
            return img

    return FileImages


def collate_encoded(batch: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Batch of `FileImages._encoded` items: payloads stay a list (JPEG bytes differ in length)."""
    import torch

    return ([b[0] for b in batch], torch.tensor([b[1] for b in batch], dtype=torch.int64), torch.tensor([b[2] for b in batch], dtype=torch.int64),
            torch.stack([b[3] for b in batch]), [bool(b[4]) for b in batch])


def decode_crop_batch(payloads: list["torch.Tensor"], params: "torch.Tensor", jpeg: list[bool], crop: int, device: "torch.device",
                      paths: list[str]) -> "torch.Tensor":
    """Decode a batch's JPEGs in one call on `device` (nvJPEG on CUDA), crop, resize and flip them
    there as `FileImages._augment` would; items decoded by the worker are moved as they are."""
    import torch
    import torchvision.transforms.v2.functional as F2
    from torchvision.io import ImageReadMode, decode_jpeg

    out: list[Any] = [None] * len(payloads)
    pos = [i for i, j in enumerate(jpeg) if j]
    if pos:
        try:
            decoded = decode_jpeg([payloads[i] for i in pos], mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            for i in pos:  # find the file to name
                try:
                    decode_jpeg(payloads[i], mode=ImageReadMode.RGB)
                except RuntimeError as exc:
                    raise UserError(f"{paths[i]}: unreadable or corrupt image ({str(exc).splitlines()[0]})") from None
            raise
        for i, img in zip(pos, decoded if isinstance(decoded, list) else [decoded]):
            top, left, h, w, flip = (int(v) for v in params[i])
            img = F2.resized_crop(img, top, left, h, w, [crop, crop], antialias=True)
            out[i] = img.flip(-1) if flip else img
    for i, item in enumerate(out):
        if item is None:
            out[i] = payloads[i].to(device, non_blocking=True)
    return torch.stack(out)


class ImageCache:
    """A memory-mapped uint8 array (n, S, S, 3) of a split's images, each resized (shorter side S,
    antialiased, PIL) and centre-cropped to S x S: decoded once, read without decoding in every
    later epoch. With S the evaluation resize, evaluation from the cache gives exactly the pixels
    of `resize_center_crop`; training crops then come from that centre square (see docs)."""

    def __init__(self, path: Path, n: int, size: int) -> None:
        self.path, self.n, self.size = path, n, size
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:  # opened lazily, so each DataLoader worker maps the file itself
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.n, self.size, self.size, 3))
        return self._array

    def image(self, index: int) -> "torch.Tensor":
        import torch

        return torch.from_numpy(np.array(self.array[index])).permute(2, 0, 1)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "n": self.n, "size": self.size, "_array": None}


def image_cache(folder: Path, samples: list[tuple[str, int]], size: int, interpolation: str, workers: int, quiet: bool = True) -> ImageCache:
    """The cache of these files at this size, built (in `workers` processes, atomically) if missing.

    Its name hashes the paths, sizes and modification times of the files, the size and the
    interpolation, so a changed dataset gets a new cache instead of stale pixels."""
    import hashlib
    import os

    h = hashlib.sha256(f"{size} {interpolation}\n".encode())
    for path, _ in samples:
        st = os.stat(path)
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    folder = Path(folder)
    path = folder / f"images-{h.hexdigest()[:20]}-{len(samples)}x{size}.u8"
    if not path.is_file():
        _build_cache(path, samples, size, interpolation, workers, quiet)
    return ImageCache(path, len(samples), size)


def _build_cache(path: Path, samples: list[tuple[str, int]], size: int, interpolation: str, workers: int, quiet: bool) -> None:
    import os
    import secrets

    import torch.utils.data
    from labutil.progress import progress

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    data = _file_dataset_class()(samples, False, size, size, 0, "none", 0, interpolation)
    loader = torch.utils.data.DataLoader(data, batch_size=64, num_workers=workers, shuffle=False)
    try:
        out = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(max(1, len(samples)), size, size, 3))
        pos = 0
        for x, _, _ in progress(loader, desc=f"image cache {path.name}", unit="batch", disable=quiet, dynamic_ncols=True):
            out[pos : pos + len(x)] = x.permute(0, 2, 3, 1).numpy()
            pos += len(x)
        out.flush()
        del out
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        user = unwrap_worker_error(exc) if isinstance(exc, Exception) else None
        if user is not None:
            raise user from None
        raise


class FilePipeline:
    """DataLoader pipeline over image files; normalisation on the device."""

    def __init__(self, dataset: FileDataset, device: "torch.device", channels_last: bool = False, workers: int = 4, need_train: bool = True,
                 eval_resize: int = 0, eval_interpolation: str = "bilinear", decoder: str = "pil", cache_dir: str | None = None) -> None:
        if decoder not in DECODERS:
            raise UserError(f"--decoder {decoder}: choose {', '.join(DECODERS)}")
        self.dataset = dataset
        # auto: training views decoded and transformed as tensors; evaluation in PIL, the pixels stimuli render
        self.train_tensor = decoder != "pil"
        self.train_encoded = decoder == "batched"  # JPEGs decoded in batches on the device (nvJPEG on CUDA)
        self.eval_tensor = decoder == "tensor"
        self.cache_dir = cache_dir
        # the model's evaluation transform (as FileDataset.eval_pixels): resize (0 = dataset's), crop, interpolation
        self.eval_transform = (eval_resize or dataset.eval_sizes[0], dataset.eval_sizes[1], eval_interpolation)
        self.device = device
        self.workers = workers
        self.normalize = Normalizer(dataset.mean, dataset.std, device, channels_last)
        self.val_samples = dataset.samples("val")
        self.train_samples = dataset.samples("train") if need_train else []
        self._train_loader: Any = None
        self._sampler: _EpochSampler | None = None
        self._caches: dict[str, ImageCache] = {}

    def _cache(self, split: str) -> "ImageCache | None":
        """The split's memory-mapped image cache at the evaluation resize (built on first use), if asked for."""
        if self.cache_dir is None:
            return None
        if split not in self._caches:
            resize, _, interpolation = self.eval_transform
            samples = self.train_samples if split == "train" else self.val_samples
            self._caches[split] = image_cache(Path(self.cache_dir), samples, resize, interpolation, self.workers)
        return self._caches[split]

    def n(self, split: str) -> int:
        return len(self.train_samples if split == "train" else self.val_samples)

    def labels(self, split: str) -> np.ndarray:
        samples = self.train_samples if split == "train" else self.val_samples
        return np.array([label for _, label in samples], dtype=np.int64)

    def _loader(self, dataset: Any, batch_sampler: Any = None, batch_size: int | None = None) -> Any:
        import torch.utils.data

        kw: dict[str, Any] = {"num_workers": self.workers, "pin_memory": self.device.type == "cuda"}
        if getattr(dataset, "encoded", False):
            kw["collate_fn"] = collate_encoded
        if self.workers > 0:
            kw.update(persistent_workers=batch_sampler is not None, prefetch_factor=4)
        if batch_sampler is not None:
            return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, **kw)
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, **kw)

    def train_crop(self, recipe: dict[str, Any], epoch: int) -> int:
        """The side of the training crops at `epoch` (the evaluation crop, or the recipe's progressive resizing)."""
        return train_crop_at(recipe, epoch, self.eval_transform[1])

    def train_batches(self, order: np.ndarray, batch_size: int, recipe: dict[str, Any], epoch: int) -> Iterator[tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]]:
        crop = self.train_crop(recipe, epoch)
        if (self._train_loader is None or self._sampler is None or self._sampler.batch_size != batch_size
                or self._train_loader.dataset.crop != crop):  # a new crop size: new loader workers
            resize, _, interpolation = self.eval_transform
            data = _file_dataset_class()(self.train_samples, True, resize, crop, recipe["aug_seed"], recipe["augment"], recipe["augment_pad"], interpolation,
                                         tensor=self.train_tensor, cache=self._cache("train"), encoded=self.train_encoded)
            self._sampler = _EpochSampler(batch_size)
            self._train_loader = self._loader(data, batch_sampler=self._sampler)
        self._sampler.order = order
        self._sampler.epoch = epoch
        if getattr(self._train_loader.dataset, "encoded", False):
            yield from self._iterate_encoded(self._train_loader, crop)
        else:
            yield from self._iterate(self._train_loader, with_index=True)

    def _iterate_encoded(self, loader: Any, crop: int) -> Iterator[Any]:
        try:
            for payloads, y, idx, params, jpeg in loader:
                paths = [self.train_samples[int(i)][0] for i in idx]
                x = decode_crop_batch(payloads, params, jpeg, crop, self.device, paths)
                yield self.normalize(x), y.to(self.device, non_blocking=True), idx.to(self.device, non_blocking=True)
        except Exception as exc:  # noqa: BLE001 - a worker's UserError comes back wrapped
            user = unwrap_worker_error(exc)
            if user is not None:
                raise user from None
            raise

    def eval_batches(self, batch_size: int) -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
        resize, crop, interpolation = self.eval_transform
        data = _file_dataset_class()(self.val_samples, False, resize, crop, 0, "none", 0, interpolation, tensor=self.eval_tensor,
                                     cache=self._cache("val"))
        for x, y, _ in self._iterate(self._loader(data, batch_size=batch_size), with_index=True):
            yield x, y

    def _iterate(self, loader: Any, with_index: bool) -> Iterator[Any]:
        try:
            for x, y, idx in loader:
                x = x.to(self.device, non_blocking=True)
                yield self.normalize(x), y.to(self.device, non_blocking=True), idx.to(self.device, non_blocking=True)
        except Exception as exc:  # noqa: BLE001 - a worker's UserError comes back wrapped
            user = unwrap_worker_error(exc)
            if user is not None:
                raise user from None
            raise

    def n_train_batches(self, n: int, batch_size: int) -> int:
        return -(-n // batch_size)


def make_pipeline(dataset: Dataset, device: "torch.device", channels_last: bool = False, workers: int = 4, need_train: bool = True,
                  eval_resize: int = 0, eval_interpolation: str = "bilinear", decoder: str = "pil", cache_dir: str | None = None) -> ArrayPipeline | FilePipeline:
    """The pipeline that suits the dataset: in-memory index batching or a file DataLoader (with the
    model's evaluation resize and interpolation)."""
    if isinstance(dataset, ArrayDataset):
        return ArrayPipeline(dataset, device, channels_last, need_train)
    if isinstance(dataset, FileDataset):
        return FilePipeline(dataset, device, channels_last, workers, need_train, eval_resize, eval_interpolation, decoder, cache_dir)
    raise TypeError(f"no pipeline for {type(dataset).__name__}")
