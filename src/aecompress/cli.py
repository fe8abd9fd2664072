"""`aecompress compress | decompress | evaluate`: any trained model or classical codec on real files.

    aecompress compress photo.png photo.aec --model results/models/factorized-photos_lmbda-0.04/model
    aecompress compress photo.png photo.aec --codec jpeg --quality 75
    aecompress compress photo.png photo.aec --codec jpeg2000 --ratio 48
    aecompress compress photo.png photo.aec --codec pca --fitted results/baselines/pca-photos/pca.npz --step 8
    aecompress decompress photo.aec photo-decoded.png [--model ... | --fitted ...]   (JPEG/WebP need neither)
    aecompress evaluate kodim*.png --codec webp --quality 50 [--json results.json]
    aecompress compress photo.png photo.aec --codec jpeg --target-bpp 0.5
    aecompress compress photo.png photo.aec --model results/models/slim/model --target-ms-ssim 0.95
    aecompress compress photo.png photo.aec --model A/model --model B/model --target-psnr 32

Every codec of codecs.registry works by its name (its operating point under its own option name),
and any trained model: compressive AEs through their range coder, the other families through their
quantized latent (the latent coder the workflow's evaluation job fitted). A SlimCAE takes `--width`.
`--target-bpp B` picks the codec's best operating point within B bits per pixel, `--target-psnr P`
and `--target-ms-ssim S` its cheapest one that reaches the quality (codecs.targets: bisection over
its ordered points; several `--model`s, or a SlimCAE's widths, are the points of one set); it
prints what it reached. `--tile PIXELS` codes a compressive model's image tile by tile (bounded
memory, the same bits; automatic above 2048x2048 pixels, `--tile 0` never).
Errors name the file and exit with status 2.

Nothing a user owns is deleted or replaced silently: an existing output file needs `--force`, an
output path that is a folder is refused (even with `--force`), and a missing parent folder is not
created. Images and .aec files larger than `--max-pixels` are refused before they are decoded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def _codec(args, header=None):
    """The codec the options name; for decompress, what the file's header says fills in the rest
    (a classical codec and its operating point need no option at all)."""
    from aecompress.codecs.registry import REGISTRY, baseline_codec, registered

    kind, point = _header_method(header)
    if args.model:
        from aecompress.codecs.container import METHOD_IDS
        from aecompress.codecs.learned import learned_codec

        model = _one_model(args)
        _, point_name, point_type = METHOD_IDS.get(kind, (None, None, None))
        if getattr(args, "width", None):
            operating_point = {"width": args.width}
        elif getattr(args, "lmbda", None) is not None:
            operating_point = {"lambda": args.lmbda}
        elif point_name is not None and point is not None:  # the point the file was written at
            operating_point = {point_name: point if point_type == "float32" else int(point)}
        else:
            operating_point = None
        return learned_codec(
            model, operating_point, getattr(args, "coder", None), getattr(args, "tile", None)
        )
    name = getattr(args, "codec", None) or (kind if kind in REGISTRY else None)
    for option, given in (
        ("--width", getattr(args, "width", None)),
        ("--lambda", getattr(args, "lmbda", None)),
    ):
        if given is not None:
            raise ValueError(f"{option} is an operating point of a trained model (--model), not of a codec")
    if name is None:
        written_by = header.method if header is not None else "?"
        raise ValueError(f"file written by '{written_by}': pass --model with the model that wrote it")
    spec = baseline_codec(name)
    point = args.point if getattr(args, "point", None) is not None else point if kind == name else None
    point = spec.default_point if point is None else point
    if point is None:
        raise ValueError(f"--codec {name} needs --{registered(name).point} (its operating point)")
    fitted = getattr(args, "fitted", None)
    if spec.fitted_file and not fitted:
        raise ValueError(f"--codec {name} needs --fitted (its {spec.fitted_file}: results/baselines/<name>/)")
    return spec.build(point, fitted)


def _one_model(args) -> str:
    models = args.model if isinstance(args.model, list) else [args.model]
    if len(models) > 1:
        raise ValueError(
            f"{len(models)} --model options: several models are the points of a --target-* search"
        )
    return models[0]


def _target(args):
    from aecompress.codecs.targets import Target

    given = [(m, getattr(args, f"target_{m}", None)) for m in ("bpp", "psnr", "ms_ssim")]
    given = [(m, v) for m, v in given if v is not None]
    if not given:
        return None
    if any(getattr(args, name, None) is not None for name in ("point", "width", "lmbda")):
        raise ValueError(
            "give an operating point (--quality, --width, --lambda, ...) or a --target-*, not both"
        )
    return Target(*given[0])


def _target_candidates(args, image):
    """(label, codec factory) from the lowest rate up (codecs.targets)."""
    from aecompress.codecs.targets import codec_points, model_points

    if args.codec:
        return codec_points(args.codec, getattr(args, "fitted", None))
    return model_points(args.model, args.tile, getattr(args, "coder", None))(image)


def _header_method(header) -> tuple[str | None, float | None]:
    """The method and operating point a file names (version 1 files only by their label)."""
    from aecompress.codecs.container import METHOD_IDS

    if header is None:
        return None, None
    if header.kind is not None:
        return header.kind, header.point
    for kind, (_, point_name, _) in METHOD_IDS.items():
        match = (
            re.fullmatch(rf"{re.escape(kind)}_{point_name}-([0-9.e+-]+)", header.method)
            if point_name
            else None
        )
        if match:
            return kind, float(match.group(1))
    return header.method, None


def _check_output(path: Path, force: bool) -> None:
    """Refuse an output path before any work is done (atomic_path checks again when writing)."""
    from aecompress.runtime import refuse_existing

    try:
        refuse_existing(path, replace=force)
    except IsADirectoryError as err:
        raise IsADirectoryError(
            f"{path}: is a folder; give the output file's name (nothing was written)"
        ) from err
    except FileExistsError as err:
        raise FileExistsError(f"{path}: already exists; pass --force to replace it") from err
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder for {path.name} (it is not created)")


def _write_output(path: Path, force: bool, write) -> None:
    from aecompress.runtime import atomic_path

    with atomic_path(path, replace=force, make_parents=False) as tmp:
        write(tmp)


def _read_input(path: Path, limit: int) -> bytes:
    """A whole .aec file, refused when it is a folder or larger than any file we would write."""
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an .aec file")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: over {limit:,} bytes, more than any .aec file within --max-pixels")
    return data


def compress(args) -> None:
    from aecompress.codecs import bits_per_pixel
    from aecompress.images import decode_image

    _check_output(args.output, args.force)
    target = _target(args)
    image = decode_image(args.input, max_pixels=args.max_pixels)
    if target is None:
        data = _codec(args).encode(image)
    else:
        from aecompress.codecs.targets import search

        reached = search(_target_candidates(args, image), image, target)
        data = reached.chosen.data
        print(f"{args.input}: {reached.summary()}")
    _write_output(args.output, args.force, lambda tmp: tmp.write_bytes(data))
    rate = bits_per_pixel(data, image.shape)
    print(f"{args.output}: {len(data)} bytes, {rate:.4f} bpp ({image.shape[1]}x{image.shape[0]})")


def decompress(args) -> None:
    from PIL import Image

    from aecompress.codecs.container import max_file_bytes, unpack

    _check_output(args.output, args.force)
    data = _read_input(args.input, max_file_bytes(args.max_pixels))
    header, _ = unpack(data, str(args.input), max_pixels=args.max_pixels)
    codec = _codec(args, header)
    image = codec.decode(data, str(args.input), max_pixels=args.max_pixels)
    picture = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    _write_output(args.output, args.force, lambda tmp: picture.save(tmp, format="PNG"))
    print(f"{args.output}: {header.width}x{header.height}x{header.channels} decoded by {codec.method}")


def evaluate(args) -> None:
    import pandas as pd

    from aecompress.evaluation import code_images, per_image_metrics
    from aecompress.images import decode_image
    from aecompress.runtime import import_tensorflow

    if args.json:
        _check_output(args.json, args.force)
    images = [decode_image(path, max_pixels=args.max_pixels) for path in args.images]
    codec = _codec(args)
    reconstructions, rates = code_images(codec, images)
    table = per_image_metrics(import_tensorflow(args.threads), images, reconstructions)
    table.insert(0, "image", [str(p) for p in args.images])
    table = pd.concat([table, rates], axis=1)
    columns = ["image", "width", "height", "bpp", "psnr", "ssim", "ms_ssim"]
    print(f"{codec.method}:")
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    means = table[["bpp", "psnr", "ssim", "ms_ssim", "mse"]].mean()
    print("mean  " + "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
    if args.json:
        result = {"method": codec.method, "mean": means.to_dict(), "images": table.to_dict("records")}
        _write_output(args.json, args.force, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))


def _add_codec_options(parser: argparse.ArgumentParser, required: bool, several_models: bool = False) -> None:
    from aecompress.codecs.registry import REGISTRY

    group = parser.add_mutually_exclusive_group(required=required)
    if several_models:
        group.add_argument(
            "--model", action="append", help="a trained model: results/models/<variant>/model (repeat it: "
            "the models of a --target-* search)",
        )  # fmt: skip
    else:
        group.add_argument("--model", help="a trained model: results/models/<variant>/model")
    group.add_argument(
        "--codec", choices=list(REGISTRY), help="a classical or fitted codec (codecs.registry)"
    )
    _add_point_options(parser)
    parser.add_argument("--width", type=int, help="SlimCAE width (default: the widest)")
    parser.add_argument(
        "--lambda", dest="lmbda", type=float, help="a variable-rate model's lambda, any in its "
        "lambda_range (default: its first evaluation point)",
    )  # fmt: skip


def _add_point_options(parser: argparse.ArgumentParser) -> None:
    """The operating point under each registered codec's name for it (--quality, --step, ...),
    a fitted codec's file, and a latent model's coder."""
    from aecompress.codecs.registry import REGISTRY

    names = sorted({f"--{entry.point}" for entry in REGISTRY.values()})
    parser.add_argument(
        *names, dest="point", type=float, help="the codec's operating point (e.g. JPEG quality 0-100, "
        "PCA step, JPEG 2000 ratio; default: the codec's own, where it has one)",
    )  # fmt: skip
    parser.add_argument("--fitted", help="a fitted codec's file: results/baselines/<name>/pca.npz")
    parser.add_argument(
        "--coder", help="a latent model's coder (default: latent_coder.npz beside the model, else "
        "results/evaluation/<variant>/latent_coder.npz)",
    )  # fmt: skip


def _add_safety_options(parser: argparse.ArgumentParser) -> None:
    from aecompress.codecs.learned import AUTO_TILE, AUTO_TILE_PIXELS
    from aecompress.images import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--tile", type=int, help=f"compressive models: code the image in tiles of this many pixels "
        f"(a multiple of 16) to bound memory; 0 never tiles; default above {AUTO_TILE_PIXELS:,} "
        f"pixels: {AUTO_TILE}, smaller for models wider than 128 channels",
    )  # fmt: skip
    parser.add_argument(
        "-f", "--force", action="store_true", help="replace an existing output file (never a folder)"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images and .aec files of more pixels (default {DEFAULT_MAX_PIXELS:,}, Pillow's limit)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aecompress", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("compress", help="encode one image file to an .aec file")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    _add_codec_options(p, required=True, several_models=True)
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--target-bpp", type=float, help="the best point within this many bits per pixel")
    targets.add_argument("--target-psnr", type=float, help="the cheapest point with at least this PSNR (dB)")
    targets.add_argument("--target-ms-ssim", type=float, help="the cheapest point with at least this MS-SSIM")
    _add_safety_options(p)
    p.set_defaults(run=compress)
    p = commands.add_parser("decompress", help="decode an .aec file to PNG")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--model", help="the model that wrote the file (not needed for classical codecs)")
    p.add_argument("--fitted", help="the fitted codec's file that wrote the file (e.g. a pca.npz)")
    p.add_argument("--coder", help="a latent model's coder (see compress)")
    p.add_argument("--width", type=int, help="SlimCAE width (default: the one in the file)")
    _add_safety_options(p)
    p.set_defaults(run=decompress)
    p = commands.add_parser("evaluate", help="code images and print bpp, PSNR, SSIM and MS-SSIM")
    p.add_argument("images", type=Path, nargs="+")
    _add_codec_options(p, required=True)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--threads", type=int, default=2)
    _add_safety_options(p)
    p.set_defaults(run=evaluate)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError) as err:  # ContainerError, ImageDecodeError, bad options, missing files
        print(f"aecompress {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
