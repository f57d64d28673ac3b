"""The paper's eleven models: architectures, published file layouts, normalisation, CLIP zero-shot."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from labutil.errors import UserError
from model_runs.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, ZOO, build, check_file, inner_network, load_zoo_weights
from reference_data import REFERENCE_DIR
from zoo_files import register_tiny_clip, write_published_file

REFERENCE = REFERENCE_DIR / "imagenet_val_sota11_per_image.csv"
PAPER_MODELS = ["CLIP", "CORnet_RT", "bagnet33", "hrnet_w44", "resnet152", "resnet50_l2_eps1", "resnet50_swsl",
                "resnet50_trained_on_SIN", "simclr_resnet50x1", "squeezenet1_1", "vit_base_patch16_224"]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One random-weight file per zoo model, in its published layout (full-size CLIP ViT-B/32)."""
    folder = tmp_path_factory.mktemp("weights")
    for name in ZOO:
        write_published_file(name, folder)
    return folder


def test_the_zoo_is_the_papers_eleven_models() -> None:
    assert [n.lower() for n in ZOO] == [n.lower() for n in PAPER_MODELS]
    assert len({m.file_name for m in ZOO.values()}) == 11


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_each_model_loads_its_published_file_and_classifies(name: str, published: Path) -> None:
    model = build(name, **({"templates": "photo"} if name == "clip" else {}))
    path = published / ZOO[name].file_name
    ok, report = check_file(path, name)
    assert ok, report
    assert "tensors loaded" in report[1] and not any(line.startswith(("  missing", "  unexpected")) for line in report)
    load_zoo_weights(model, path, name)
    file_state = torch.load(path, weights_only=True)
    flat = file_state.get("state_dict", file_state.get("model", file_state))
    loaded = inner_network(model).state_dict()
    for key, value in list(flat.items())[:: max(1, len(flat) // 20)]:  # every tensor lands where the file put it
        bare = key.removeprefix("module.model.").removeprefix("module.")
        if bare in loaded:
            assert torch.equal(loaded[bare], value), key
    if name == "clip":
        return  # classifying with the full text tower takes minutes on CPU: see the tiny-config tests below
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.slow
def test_a_file_in_another_layout_is_one_line_naming_what_is_missing(published: Path, tmp_path: Path) -> None:
    sin = published / ZOO["resnet50_trained_on_SIN"].file_name
    with pytest.raises(UserError, match=r"weights do not fit 'simclr_resnet50x1' \(\d+ missing: conv1\.weight, .*\d+ unexpected: module\.conv1\.weight"):
        load_zoo_weights(build("simclr_resnet50x1"), sin, "simclr_resnet50x1")
    swsl = published / ZOO["resnet50_swsl"].file_name
    with pytest.raises(UserError, match=r"not in the published layout of 'resnet50_l2_eps1' .*no 'model' entry \(top-level keys: conv1\.weight"):
        load_zoo_weights(build("resnet50_l2_eps1"), swsl, "resnet50_l2_eps1")
    with pytest.raises(UserError, match=r"no key starts with 'module\.'"):
        load_zoo_weights(build("resnet50_trained_on_SIN"), published / ZOO["simclr_resnet50x1"].file_name, "resnet50_trained_on_SIN")
    with pytest.raises(UserError, match=r"wrong shape: fc\.weight \(1000, 2048\) \(network: \(10, 2048\)\)"):
        load_zoo_weights(build("resnet50_swsl", num_classes=10), swsl, "resnet50_swsl")


def test_zoo_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from model_runs.cli import main

    path = write_published_file("cornet_rt", tmp_path)
    assert main(["zoo", "check", str(path), "--as", "cornet_rt"]) == 0
    out = capsys.readouterr().out
    assert "fits 'cornet_rt'" in out and "does not start with the 933c001c" in out  # random weights: not the published file
    with pytest.raises(UserError, match=r"does not fit 'bagnet33'"):
        main(["zoo", "check", str(path), "--as", "bagnet33"])
    assert "no tensors at the top level (keys: epoch, arch, state_dict)" in capsys.readouterr().out
    path = write_published_file("bagnet33", tmp_path)
    with pytest.raises(UserError, match=r"does not fit 'cornet_rt'"):
        main(["zoo", "check", str(path), "--as", "cornet_rt"])
    with pytest.raises(UserError, match=r"--as nonet: not a zoo model"):
        main(["zoo", "check", str(path), "--as", "nonet"])


def test_missing_published_file_names_the_file_and_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model_runs.models import create_model

    monkeypatch.setenv("TRIVIAL_OR_IMPOSSIBLE_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(UserError, match=rf"weights of 'bagnet33' not found: put bagnet32-2ddd53ed\.pth\.tar into {tmp_path}/w .*docs/zoo\.md"):
        create_model("zoo:bagnet33", 1000, weights="zoo")
    with pytest.raises(UserError, match=r"hf-hub:timm/nothing-here.*not in the local Hugging Face cache.*nothing is downloaded"):
        create_model("zoo:vit_base_patch16_224", 1000, weights="hf-hub:timm/nothing-here")


def test_each_model_sees_its_own_normalisation() -> None:
    x = torch.rand(2, 3, 32, 32)
    imagenet = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for name in ("simclr_resnet50x1", "vit_base_patch16_224", "resnet50_swsl"):
        wrapper = build(name)
        seen = []
        wrapper.net = _Recorder(seen)
        wrapper(imagenet)
        m, s = ZOO[name].mean, ZOO[name].std
        expected = (x - torch.tensor(m).view(1, 3, 1, 1)) / torch.tensor(s).view(1, 3, 1, 1)
        assert torch.allclose(seen[0], expected, atol=1e-5), name
    assert ZOO["simclr_resnet50x1"].mean == (0.0, 0.0, 0.0) and ZOO["simclr_resnet50x1"].std == (1.0, 1.0, 1.0)


class _Recorder(torch.nn.Module):
    def __init__(self, seen: list[torch.Tensor]) -> None:
        super().__init__()
        self.seen = seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return x


def test_robust_model_takes_the_normaliser_stored_in_its_file(tmp_path: Path) -> None:
    path = write_published_file("resnet50_l2_eps1", tmp_path)
    obj = torch.load(path, weights_only=True)
    obj["model"]["module.normalizer.new_mean"] = torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)
    obj["model"]["module.normalizer.new_std"] = torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1)
    torch.save(obj, path)
    wrapper = build("resnet50_l2_eps1")
    load_zoo_weights(wrapper, path, "resnet50_l2_eps1")
    x = torch.rand(1, 3, 8, 8)
    imagenet = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = (x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(imagenet * wrapper.scale + wrapper.shift, expected, atol=1e-5)
    del obj["model"]["module.normalizer.new_std"]
    torch.save(obj, path)
    with pytest.raises(UserError, match=r"1 missing: module\.normalizer\.new_std"):
        load_zoo_weights(build("resnet50_l2_eps1"), path, "resnet50_l2_eps1")


def test_cornet_rt_has_the_published_size_and_recurrence() -> None:
    from model_runs.zoo.architectures import CORnetRT

    net = CORnetRT().eval()
    # V1 3->64 7x7 (+bias), V2 64->128, V4 128->256, IT 256->512 3x3 (+bias); each a bias-free 3x3 recurrent conv,
    # two GroupNorms per area; decoder 512->1000
    convs = sum(ci * co * k * k + co + co * co * 9 for ci, co, k in ((3, 64, 7), (64, 128, 3), (128, 256, 3), (256, 512, 3)))
    norms = sum(4 * co for co in (64, 128, 256, 512))
    assert sum(p.numel() for p in net.parameters()) == convs + norms + 512 * 1000 + 1000
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        one, five = CORnetRT(times=1), net
        one.load_state_dict(five.state_dict())
        assert not torch.allclose(one(x), five(x))  # the recurrent steps change the output
        assert five(x).shape == (1, 1000)


def test_bagnet33_sees_33_pixel_patches() -> None:
    from model_runs.zoo.architectures import BagNet

    net = BagNet().eval()
    x = torch.randn(1, 3, 96, 96, requires_grad=True)
    features = net.layer4(net.layer3(net.layer2(net.layer1(net.relu(net.bn1(net.conv2(net.conv1(x))))))))
    features[0, :, 0, 0].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1)).flatten()
    cols = torch.nonzero(x.grad[0].abs().sum(0).sum(0)).flatten()
    assert (rows.min().item(), rows.max().item(), cols.max().item()) == (0, 32, 32)
    assert sum(p.numel() for p in net.parameters()) == 18_310_184  # the published BagNet-33 (torchvision-style count)


# ---------------------------------------------------------------------------------------------
# CLIP zero-shot


@pytest.fixture
def tiny_clip(tmp_path: Path) -> str:
    return register_tiny_clip(tmp_path)


def test_clip_logits_equal_a_direct_computation_with_open_clips_encoders(tiny_clip: str, tmp_path: Path) -> None:
    import open_clip
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, SIMPLE_IMAGENET_TEMPLATES

    torch.manual_seed(0)
    wrapper = build("clip", clip_config=tiny_clip, templates="openai7").eval()
    zs = wrapper.net
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        logits = zs(x)
        clip, tok = zs.clip, open_clip.get_tokenizer(tiny_clip)
        img = clip.encode_image(x, normalize=True)
        weights = []
        for name in IMAGENET_CLASSNAMES:
            emb = clip.encode_text(tok([t(name) for t in SIMPLE_IMAGENET_TEMPLATES]), normalize=True).mean(0)
            weights.append(emb / emb.norm())
        expected = clip.logit_scale.exp() * img @ torch.stack(weights).T
    assert logits.shape == (3, 1000)
    assert torch.allclose(logits, expected, atol=1e-4, rtol=1e-5)


def test_clip_uses_the_papers_80_templates_and_caches_the_text_embeddings(tiny_clip: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from model_runs.zoo.clip_zero_shot import templates

    assert len(templates("openai80")) == 80 and len(templates("openai7")) == 7 and templates("photo") == ["a photo of a {}."]
    assert "a bad photo of a {}." in templates("openai80") and "itap of a {}." in templates("openai7")
    assert len(build("clip", clip_config=tiny_clip).net.templates) == 80  # the default
    torch.manual_seed(0)
    first = build("clip", clip_config=tiny_clip, templates="openai7").eval()
    with torch.no_grad():
        w = first.net.class_embeddings()
    cached = list((tmp_path / "cache" / "clip_text").glob("*.pt"))
    assert len(cached) == 1 and w.shape == (32, 1000)
    second = build("clip", clip_config=tiny_clip, templates="openai7").eval()
    second.net.clip.load_state_dict(first.net.clip.state_dict())
    monkeypatch.setattr(second.net.clip, "encode_text", lambda *a, **k: pytest.fail("text encoded again"))
    with torch.no_grad():
        assert torch.equal(second.net.class_embeddings(), w)
    with pytest.raises(UserError, match="templates = 'ten' is not a template set"):
        build("clip", clip_config=tiny_clip, templates="ten")
    with pytest.raises(UserError, match="1,000 ImageNet classes"):
        build("clip", num_classes=10, clip_config=tiny_clip)


@pytest.mark.slow
def test_clip_vit_b16_builds_and_takes_an_open_clip_file(tmp_path: Path) -> None:
    wrapper = build("clip", clip_config="ViT-B-16")
    clip = inner_network(wrapper)
    assert clip.visual.conv1.kernel_size == (16, 16) and sum(p.numel() for p in clip.parameters()) > 149_000_000
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(clip.state_dict(), path)
    load_zoo_weights(build("clip", clip_config="ViT-B-16"), path, "clip")


def test_shipped_class_list_is_the_reference_order() -> None:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    from model_runs.datasets.folder import imagenet_classes

    classes = imagenet_classes()
    assert [name for _, name in classes] == list(IMAGENET_CLASSNAMES)
    if REFERENCE.is_file():
        with open(REFERENCE) as fh:
            ref = {int(r["class_index"]): r["wnid"] for r in csv.DictReader(fh)}
        assert [w for w, _ in classes] == [ref[i] for i in range(1000)]
    assert [w for w, _ in classes] == sorted(w for w, _ in classes)


def test_pretrained_zoo_study_lists_each_model_with_its_transform() -> None:
    from model_runs.study_files import load_study

    spec = load_study("pretrained_zoo")
    assert [m["model_id"] for m in spec.models] == list(ZOO)
    for m in spec.models:
        zoo = ZOO[m["model_id"]]
        assert m["arch"] == f"zoo:{zoo.name}" and m["weights"] == "zoo" and m["epochs"] == 0
        assert (m["eval_resize"] or 256, m["eval_interpolation"]) == (zoo.eval_resize, zoo.eval_interpolation)
    assert (ZOO["clip"].eval_resize, ZOO["clip"].eval_interpolation) == (224, "bicubic")
    assert np.allclose(ZOO["clip"].mean, (0.48145466, 0.4578275, 0.40821073))


def test_openai_torchscript_files_are_read_as_their_state_dict(tiny_clip: str, tmp_path: Path) -> None:
    from model_runs.zoo.registry import fit_file, read_weight_file

    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(2, 3)))
    scripted.save(str(tmp_path / "ViT-B-32.pt"))
    assert set(read_weight_file(tmp_path / "ViT-B-32.pt")) == {"0.weight", "0.bias"}
    clip = inner_network(build("clip", clip_config=tiny_clip))
    openai = {**clip.state_dict(), "input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
              "vocab_size": torch.tensor(49408)}  # what OpenAI's archives hold beside the weights
    assert fit_file(openai, ZOO["clip"], clip).ok
    (tmp_path / "junk.pt").write_bytes(b"not a weight file")
    with pytest.raises(UserError, match=r"junk\.pt: cannot load weights \(UnpicklingError"):
        read_weight_file(tmp_path / "junk.pt")


def test_timm_models_build_by_name_offline() -> None:
    import os

    from model_runs.models import create_model

    model = create_model("timm:resnet10t", 7).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_safetensors_files_from_the_hugging_face_hub_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = inner_network(build("squeezenet1_1"))
    save_file(source.state_dict(), str(tmp_path / "model.safetensors"))
    target = build("squeezenet1_1")
    load_zoo_weights(target, tmp_path / "model.safetensors", "squeezenet1_1")
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), inner_network(target).state_dict().values()))
