"""The contract of a model family: everything the config, the plan, training, tuning, evaluation
and the codecs ask of one, in one place.

A family is one module under `aecompress.models` with a `FAMILY` object (a `LatentFamily` or a
`CompressiveFamily`) and one line in the registry (`aecompress.models.FAMILY_MODULES`); the
config schema's family enum and per-family `params` come from it. The declarations (params
schema, checks, operating points, shapes) import no TensorFlow, because the config and the plan
read them while Snakemake builds the DAG: importing TensorFlow there costs about 4.5 s and
0.5 GB per parse, i.e. per dry run and per SLURM job. The methods that build, train or run a
model import their Keras code when called.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from textwrap import dedent
from typing import Any, ClassVar, NamedTuple

import numpy as np
import yaml

Params = dict[str, Any]
Shape = tuple[int, ...]


def ceil_div(value: int, factor: int) -> int:
    return -(-value // factor)


def params_from_yaml(*parts: str) -> dict[str, Any]:
    """A family's `params` JSON schema from the YAML of its properties, in parts (each with a
    default and a description; the experiment's `grid` schema is derived from it)."""
    properties = {key: value for part in parts for key, value in yaml.safe_load(dedent(part)).items()}
    return {"type": "object", "additionalProperties": False, "properties": properties}


# The params of an indexed Gaussian entropy model (the hyperprior families; compressive.GaussianScales).
GAUSSIAN_SCALES = """
    num_scales:
      type: integer
      minimum: 2
      default: 64
      description: Scale levels of the indexed Gaussian entropy model.
    scale_min: {type: number, exclusiveMinimum: 0, default: 0.11, description: Smallest Gaussian scale.}
    scale_max: {type: number, exclusiveMinimum: 0, default: 256.0, description: Largest Gaussian scale.}
"""


# The variable-rate option of the compressive families that declare a `variable_rate_method_id`.
VARIABLE_RATE = """
    lambda_range:
      type: [array, "null"]
      items: {type: number, exclusiveMinimum: 0}
      minItems: 2
      maxItems: 2
      default: null
      description: >
        Variable rate: [smallest, largest] lambda. One model is trained with lambda drawn per batch,
        log-uniformly from this range, and codes at any lambda in it (each file stores its lambda);
        `lmbda` is then unused. null: one model for `lmbda`.
    rate_points:
      type: integer
      minimum: 1
      maximum: 32
      default: 4
      description: >
        With lambda_range: the lambdas the model is evaluated at, log-spaced over the range with
        both ends (the points of its one curve).
    rate_anchors:
      type: integer
      minimum: 2
      maximum: 64
      default: 4
      description: >
        With lambda_range: the lambdas (log-spaced over the range) at which a quantization step per
        latent channel is learned; between them the log-steps are interpolated linearly in log-lambda.
"""
# The candidates of a `--target-*` search over a variable-rate model's lambda: log-spaced, so
# adjacent lambdas are 1.5% apart over a 40x range (a fraction of a percent in bpp), and
# bisection needs at most 9 encodes.
LAMBDA_SEARCH_POINTS = 256


def check_patches(preprocessing: dict[str, Any], source) -> list[str]:
    """Images of different sizes only batch as patches."""
    if source.fixed_size is False and not preprocessing.get("patches"):
        return [
            f"preprocessing.patches: source '{source.name}' has images of different sizes; "
            "train on patches (e.g. {size: 64})"
        ]
    return []


class Family(ABC):
    """A model family. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line for the config schema and the docs
    params_schema: ClassVar[dict[str, Any]]  # JSON schema of an experiment's `params`, with defaults
    compressive: ClassVar[bool] = False  # True: trained with its own entropy model and range coder

    # Declarations (no TensorFlow)

    def with_defaults(self, params: Params) -> Params:
        """`params` with the schema's default for every key it leaves out (the config fills them
        in already; this serves callers that build a model from a hand-written dict)."""
        properties = self.params_schema["properties"]
        defaults = {key: value["default"] for key, value in properties.items() if "default" in value}
        return {**defaults, **params}

    def check(self, params: Params, preprocessing: dict[str, Any], source) -> list[str]:
        """Config-time problems of a variant, each as `key: what was expected`."""
        return []

    def operating_points(self, params: Params) -> list[dict[str, Any]]:
        """The rate points one trained model is evaluated at (SlimCAE: one per width)."""
        return [{}]

    def downsampling_factor(self, params: Params) -> int | None:
        """What image sides are padded to a multiple of (None: the family does not downsample)."""
        return None

    @abstractmethod
    def latent_shape(self, params: Params, image_shape: Shape) -> Shape:
        """The latent of one image of `image_shape` (per block for block-wise families)."""

    def nominal_ratio(self, params: Params, image_shape: Shape) -> float:
        """Input values / latent values: the papers' 'compression ratio' (one float = one value).
        A label only: methods are compared by the bits they really write."""
        return float(np.prod(image_shape)) / float(np.prod(self.latent_shape(params, image_shape)))

    # The Keras half (imports TensorFlow)

    @abstractmethod
    def build_model(self, params: Params, image_shape: Shape, normalization, preprocessing=None):
        """A new, untrained Keras model for images of `image_shape` (None sides: any size)."""

    def compile_model(self, model, optimizer, loss, metrics) -> None:
        """Compile for training. `loss` and `metrics` come from the training settings (the
        reconstruction loss); compressive families ignore them and minimise rate + distortion."""
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    def prepare_for_coding(self, model) -> None:  # noqa: B027  (a hook: most families need nothing)
        """After training, before saving: fix whatever the codec needs (range-coding tables)."""

    def training_pixels(self, images, params: Params) -> np.ndarray:
        """uint8 (N, h, w, c) training inputs of a split that is not cut into patches."""
        from aecompress.models.layers import whole_images

        return whole_images(images)

    @abstractmethod
    def reconstruct(self, model, images, params: Params, normalization) -> list[np.ndarray]:
        """Every image decoded to uint8 at its own size (the float latent, or the bitstream)."""


class LatentFamily(Family):
    """Trained without a rate: its latent is quantized and coded with a prior fitted after
    training (codecs.latent). The default latent interface is the padded conv families'."""

    def check(self, params: Params, preprocessing: dict[str, Any], source) -> list[str]:
        return check_patches(preprocessing, source)

    def reconstruct(self, model, images, params: Params, normalization) -> list[np.ndarray]:
        from aecompress.models.layers import reconstruct_images

        return reconstruct_images(model, images, params, normalization)

    def encode_latents(self, model, images: np.ndarray, params: Params, normalization) -> np.ndarray:
        """uint8 (N, H, W, C) of one size -> float latents (N, ...)."""
        from aecompress.models.layers import encode_latents

        return encode_latents(model, images, params, normalization)

    def decode_latents(self, model, latents: np.ndarray, image_shape: Shape, params: Params, normalization):
        """Float latents (N, ...) -> uint8 images (N, H, W, C) of `image_shape`."""
        from aecompress.models.layers import decode_latents

        return decode_latents(model, latents, image_shape, params, normalization)

    def coded_shape(self, model, params: Params, image_shape: Shape) -> Shape:
        """The latent shape the coder writes for one image (refuses sizes the model cannot code)."""
        from aecompress.models.layers import coded_shape

        return coded_shape(model, params, image_shape)


class Payload(NamedTuple):
    """One range-coded string of a compressive model's file and what its decoder needs."""

    entropy_model: Any  # tfc entropy model that coded it (its `_cdf` tables)
    positions: int  # spatial positions of the latent it codes
    channels: (
        int | None
    )  # elements per position for indexed (per-element) tables; None: one table per channel


TILE_FUNCTIONS = ("analysis_tile", "compress_latent", "decompress_latent", "synthesis_tile")


class CompressiveFamily(Family):
    """A compressive autoencoder with a learned entropy model and tfc's range coder.

    Its saved model exports `compress(image) -> (*strings, *shapes)` and
    `decompress(*strings, *shapes) -> image` (named `compress_<w>` ... per SlimCAE width), with
    the shapes x, y (and z for hyperpriors); the callers see one signature, `compress` ->
    (strings, shapes) and `decompress(strings, shapes)`, and the shapes follow from the image
    size (`coded_shapes`), so a file stores none of them.
    """

    compressive = True
    method_id: ClassVar[int]  # its id in the file format (codecs.container): never renumber
    point_name: ClassVar[str | None] = None  # the container's name of an operating point's value
    point_type: ClassVar[str | None] = None  # and its encoding ("varint")
    # The file format's id of its variable-rate models (whose files carry a float32 lambda); None:
    # the family has no variable-rate option. Its params then include VARIABLE_RATE.
    variable_rate_method_id: ClassVar[int | None] = None
    downsampling: ClassVar[int] = 16  # the analysis transform's total stride
    hyper_downsampling: ClassVar[int | None] = None  # the hyper-analysis's stride (None: no side information)
    # Pixels of context around a tile (tiled coding): a multiple of the downsampling, wider than
    # the transforms' receptive fields (bls2017's analysis sees +-28 px, bmshj2018's and ms2020's
    # +-30 px; their syntheses +-2.3 latents), so a tile's interior sees what the whole image does.
    tile_halo: ClassVar[int] = 64
    # Whether its convolutions pad as TF's "SAME" does: by an amount that depends on the input's
    # size modulo the stride, so a tile's analysis window must keep the image's size modulo the
    # downsampling (tiled_analysis). tfc's layers pad the same whatever the size.
    same_padding: ClassVar[bool] = False

    def check(self, params: Params, preprocessing: dict[str, Any], source) -> list[str]:
        problems = check_patches(preprocessing, source)
        lambda_range = params.get("lambda_range")
        if lambda_range is not None and not lambda_range[0] < lambda_range[1]:
            problems.append(f"params.lambda_range: expected [smallest, largest] lambda, got {lambda_range}")
        if preprocessing.get("normalization") != "unit":
            problems.append(
                "preprocessing.normalization: compressive autoencoders code [0, 1] pixels; use unit"
            )
        if preprocessing.get("padding") is not None:
            problems.append(
                "preprocessing.padding: compressive autoencoders pad with zeros inside their transforms and "
                "crop back; leave it null"
            )
        return problems

    def downsampling_factor(self, params: Params) -> int:
        return self.downsampling

    def coding_width(self, params: Params, point: dict[str, Any]) -> int:
        """The channels of the transforms' widest layers at this operating point: what a tile's
        activations grow with (codecs.learned.automatic_tile)."""
        return params["num_filters"]

    # Variable rate (models.compressive.LatentSteps): one model, any lambda of a range

    def variable_rate(self, params: Params) -> bool:
        return self.variable_rate_method_id is not None and params.get("lambda_range") is not None

    def kind(self, params: Params) -> str:
        """The container's method of the model's files: a variable-rate model's files carry a lambda."""
        return f"{self.name}-vr" if self.variable_rate(params) else self.name

    def rate_lambdas(self, params: Params, count: int) -> list[float]:
        """`count` lambdas log-spaced over the range, ends included (4 significant digits)."""
        low, high = params["lambda_range"]
        if count == 1:
            return [float(f"{np.sqrt(low * high):.4g}")]
        return [float(f"{value:.4g}") for value in np.geomspace(low, high, count)]

    def operating_points(self, params: Params) -> list[dict[str, Any]]:
        if self.variable_rate(params):
            return [
                {"lambda": value}
                for value in self.rate_lambdas(params, self.with_defaults(params)["rate_points"])
            ]
        return super().operating_points(params)

    def search_points(self, params: Params) -> list[dict[str, Any]]:
        """The candidates of a `--target-*` search, from the lowest rate up (a variable-rate
        model's lambda grid; otherwise its operating points, whose order the caller finds)."""
        if self.variable_rate(params):
            low, high = params["lambda_range"]
            grid = np.geomspace(low, high, LAMBDA_SEARCH_POINTS)
            return [{"lambda": min(high, max(low, float(f"{value:.4g}")))} for value in grid]
        return self.operating_points(params)

    def check_point(self, params: Params, point: dict[str, Any]) -> str | None:
        """Why the model cannot code at `point` (None: it can)."""
        if self.variable_rate(params):
            low, high = params["lambda_range"]
            value = point.get("lambda")
            # float32 as the file stores it: the range's own ends pass after a round trip
            if set(point) != {"lambda"} or not np.float32(low) <= np.float32(value) <= np.float32(high):
                return f"expected {{'lambda': L}} with L in [{low:g}, {high:g}] (the model's lambda_range)"
            return None
        points = self.operating_points(params)
        return None if point in points else f"{point} is not one of the model's operating points {points}"

    def set_point(self, model, point: dict[str, Any]) -> None:
        """Before coding at `point`: a variable-rate model codes at the lambda in its variable."""
        if "lambda" in point:
            if not hasattr(model, "rate_lambda"):
                raise ValueError(f"{self.name}: {point} needs a variable-rate model (params.lambda_range)")
            model.rate_lambda.assign(float(point["lambda"]))

    @abstractmethod
    def latent_channels(self, params: Params) -> int:
        """Channels of y (at the widest width)."""

    def latent_shape(self, params: Params, image_shape: Shape) -> Shape:
        factor = self.downsampling
        return (
            ceil_div(image_shape[0], factor),
            ceil_div(image_shape[1], factor),
            self.latent_channels(params),
        )

    def compile_model(self, model, optimizer, loss=None, metrics=None) -> None:
        model.compile(optimizer=optimizer)  # the model's train_step owns its rate-distortion loss

    def prepare_for_coding(self, model) -> None:
        model.prepare_for_compression()

    def reconstruct(self, model, images, params: Params, normalization) -> list[np.ndarray]:
        """Every image through the range coder and back, at the first operating point (the
        evaluation codes every point through codecs.learned, the one coding path)."""
        from aecompress.codecs.learned import CompressiveCodec

        codec = CompressiveCodec.from_model(model, self.name, params, self.operating_points(params)[0])
        return [codec.decode(codec.encode(image)) for image in images.images]

    # Coding

    def point_suffix(self, point: dict[str, Any]) -> str:
        """What tells this point's exported functions and method name apart ('' for one point)."""
        return ""

    def function(self, model, name: str, point: dict[str, Any]):
        """The exported function `name` at `point` (every coding call goes through here)."""
        self.set_point(model, point)
        return getattr(model, name + self.point_suffix(point))

    def coded_shapes(self, params: Params, height: int, width: int) -> list[tuple[int, int]]:
        """The shapes `decompress` takes after the strings: x, y and, with side information, z."""
        y = (ceil_div(height, self.downsampling), ceil_div(width, self.downsampling))
        shapes = [(height, width), y]
        if self.hyper_downsampling:
            shapes.append((ceil_div(y[0], self.hyper_downsampling), ceil_div(y[1], self.hyper_downsampling)))
        return shapes

    @abstractmethod
    def payloads(
        self, model, params: Params, point: dict[str, Any], height: int, width: int
    ) -> list[Payload]:
        """Per string of a file, in `compress`'s order: the entropy model that coded it and the
        latent it holds (for the bound on a string's length before a latent is allocated)."""

    def can_tile(self, model, point: dict[str, Any]) -> bool:
        """Whether the model exports the tile functions (models saved before they existed do not)."""
        return all(hasattr(model, name + self.point_suffix(point)) for name in TILE_FUNCTIONS)

    def _tiled(self, model, point, tile: int | None, height: int, width: int) -> bool:
        if tile is None or max(height, width) <= tile:
            return False
        if tile % self.downsampling:
            raise ValueError(
                f"tile size {tile}: expected a multiple of {self.downsampling} pixels (the model's stride)"
            )
        return self.can_tile(model, point)

    def compress(
        self, model, image: np.ndarray, point: dict[str, Any], tile: int | None = None
    ) -> tuple[list[bytes], list[np.ndarray]]:
        """The strings and the shapes x, y(, z). With `tile` (pixels) and a larger image, the
        analysis runs tile by tile and its rows of latents stream into the entropy coder
        (analysis_bands, compress_latent)."""
        import tensorflow as tf

        height, width = image.shape[:2]
        if self._tiled(model, point, tile, height, width):
            bands = self.analysis_bands(model, image, point, tile)
            strings, shapes = self.compress_latent(
                model, bands, ceil_div(height, self.downsampling), point, tile
            )
            return strings, [np.array([height, width], np.int32), *shapes]
        outputs = self.function(model, "compress", point)(tf.constant(image))
        strings = [o.numpy()[0] for o in outputs if o.dtype == tf.string]
        return strings, [o.numpy() for o in outputs if o.dtype != tf.string]

    def decompress(
        self, model, strings: list[bytes], shapes: list, point: dict[str, Any], tile: int | None = None
    ) -> np.ndarray:
        import tensorflow as tf

        strings = [tf.constant([s]) for s in strings]
        shapes = [tf.constant(np.asarray(s, np.int32)) for s in shapes]
        height, width = (int(v) for v in shapes[0].numpy())
        if self._tiled(model, point, tile, height, width):
            stripes = self.latent_stripes(model, strings, shapes[1:], point, tile)
            return self.tiled_synthesis(model, stripes, (height, width), point, tile)
        return self.function(model, "decompress", point)(*strings, *shapes).numpy()

    # The latent of a tiled coder, in stripes of rows around one range coder

    # What a model exports for it (CompressiveAutoencoder.export_channel_stripes); models saved
    # before these existed code the whole latent at once.
    stripe_functions: ClassVar[tuple[str, ...]] = ("stripe_symbols", "stripe_values", "range_coding_table")

    def can_stripe(self, model, point: dict[str, Any]) -> bool:
        return all(hasattr(model, name + self.point_suffix(point)) for name in self.stripe_functions)

    def stripes(self, tile: int, rows: int) -> list[tuple[int, int]]:
        """(first, end) latent rows of each stripe: tile / downsampling rows (a multiple of the
        hyper-analysis's stride, where there is one)."""
        multiple = self.hyper_downsampling or 1
        height = max(multiple, tile // self.downsampling // multiple * multiple)
        return [(first, min(rows, first + height)) for first in range(0, rows, height)]

    def compress_latent(
        self, model, bands, rows: int, point: dict[str, Any], tile: int
    ) -> tuple[list[bytes], list[np.ndarray]]:
        """The strings and the shapes y(, z) of a latent of `rows` rows that arrives in `bands`
        ((1, rows, w, C) arrays, top to bottom), equal to the exported compress_latent's on the
        whole latent. Each band is coded as it arrives on one range encoder (which takes the
        elements in the same order as on the whole latent), so neither the latent nor the
        entropy coder's copies of it (offset, rounded, as symbols) are ever whole in memory."""
        import tensorflow as tf

        if not self.can_stripe(model, point):
            outputs = self.function(model, "compress_latent", point)(
                tf.constant(np.concatenate(list(bands), 1))
            )
            strings = [o.numpy()[0] for o in outputs if o.dtype == tf.string]
            return strings, [o.numpy() for o in outputs if o.dtype != tf.string]
        import tensorflow_compression as tfc

        symbols_of = self.function(model, "stripe_symbols", point)
        handle = tfc.create_range_encoder([1], self.function(model, "range_coding_table", point)()[0])
        for band in bands:
            handle = tfc.entropy_encode_channel(handle, symbols_of(tf.constant(band)))
            width = band.shape[2]
        return [tfc.entropy_encode_finalize(handle).numpy()[0]], [np.array([rows, width], np.int32)]

    def latent_stripes(self, model, strings: list, shapes: list, point: dict[str, Any], tile: int):
        """y_hat from the strings (tf.string tensors) and the shapes y(, z), yielded a stripe of
        rows at a time, top to bottom: (first row, (1, rows, w, C) array)."""
        if not self.can_stripe(model, point):
            yield 0, self.function(model, "decompress_latent", point)(*strings, *shapes).numpy()
            return
        import tensorflow_compression as tfc

        cdf, cdf_offset = self.function(model, "range_coding_table", point)()
        values_of = self.function(model, "stripe_values", point)
        handle = tfc.create_range_decoder(strings[0], cdf)
        rows, width = (int(v) for v in np.asarray(shapes[0]))
        for first, end in self.stripes(tile, rows):
            handle, symbols = tfc.entropy_decode_channel(
                handle, [end - first, width, cdf_offset.shape[0]], "int32"
            )
            yield first, values_of(symbols).numpy()
        self.check_decoded(tfc.entropy_decode_finalize(handle), rows, width)

    def check_decoded(self, sanity, rows: int, width: int) -> None:
        """The range decoder's own check, failed where tfc's decompress fails its assertion."""
        if not bool(np.all(sanity.numpy())):
            raise ValueError(
                f"{self.name}: the latent's string does not decode to a {rows}x{width} latent "
                "(corrupt, or from another model)"
            )

    # The transforms of a tiled coder

    def analysis_bands(self, model, image: np.ndarray, point: dict[str, Any], tile: int):
        """y of the whole image made tile x tile pixels at a time, yielded a row of tiles at a
        time ((1, tile / d, w, C) arrays, top to bottom): each tile is analysed with `tile_halo`
        pixels of the image around it (zeros beyond the image's edges, as for the whole image)
        and only its own latents are kept, so the memory follows the tile, not the image.

        With `same_padding`, each window's extent is congruent to the image's modulo the
        downsampling (it reaches up to d - 1 pixels further down and right): only then does every
        layer pad a window as it pads the whole image, so that the latents line up. Other families
        keep the plain windows, whose sizes (multiples of the stride inside the image) give
        byte-identical latents in the test, where longer windows differ in the last bit."""
        import tensorflow as tf

        analysis, d, halo = self.function(model, "analysis_tile", point), self.downsampling, self.tile_halo
        height, width = image.shape[:2]

        def window_end(start: int, size: int) -> int:
            end = min(size, start + tile + halo)
            return end + (size - end) % d if self.same_padding else end  # congruent to size mod d, <= size

        for top in range(0, height, tile):
            band = None
            for left in range(0, width, tile):
                r0, c0 = max(0, top - halo), max(0, left - halo)
                window = image[r0 : window_end(top, height), c0 : window_end(left, width)]
                part = analysis(tf.constant(window)).numpy()[0]
                rows, cols = ceil_div(min(tile, height - top), d), ceil_div(min(tile, width - left), d)
                if band is None:
                    band = np.empty((1, rows, ceil_div(width, d), part.shape[-1]), np.float32)
                a, b = (top - r0) // d, (left - c0) // d
                band[0, :, left // d : left // d + cols] = part[a : a + rows, b : b + cols]
            yield band

    def tiled_analysis(self, model, image: np.ndarray, point: dict[str, Any], tile: int) -> np.ndarray:
        """y of the whole image, (1, h, w, C), from analysis_bands."""
        return np.concatenate(list(self.analysis_bands(model, image, point, tile)), axis=1)

    def tiled_synthesis(self, model, stripes, x_shape, point: dict[str, Any], tile: int) -> np.ndarray:
        """The decoded image from y_hat's `stripes` (latent_stripes), tile x tile pixels at a
        time, each tile synthesised from its latents and `tile_halo` pixels' worth of latents
        around them; a row of tiles is made as soon as its latents have arrived, and the
        latents no later row needs are let go."""
        import tensorflow as tf

        synthesis, d = self.function(model, "synthesis_tile", point), self.downsampling
        step, halo = tile // d, self.tile_halo // d
        height, width = x_shape
        rows = ceil_div(height, d)
        held, first_held, out = None, 0, None  # y_hat's rows first_held.. that are still needed
        stripes = iter(stripes)
        for top in range(0, rows, step):
            r0, r1 = max(0, top - halo), min(rows, top + step + halo)
            while held is None or first_held + held.shape[1] < r1:
                first, stripe = next(stripes)
                held, first_held = (
                    (stripe, first) if held is None else (np.concatenate([held, stripe], 1), first_held)
                )
            window = held[:, r0 - first_held : r1 - first_held]
            for left in range(0, window.shape[2], step):
                c0 = max(0, left - halo)
                part = synthesis(tf.constant(window[:, :, c0 : left + step + halo])).numpy()
                if out is None:
                    out = np.empty((height, width, part.shape[-1]), np.uint8)
                rows_out, cols = min(tile, height - top * d), min(tile, width - left * d)
                a, b = (top - r0) * d, (left - c0) * d
                out[top * d : top * d + rows_out, left * d : left * d + cols] = part[
                    a : a + rows_out, b : b + cols
                ]
            keep = max(0, top + step - halo) - first_held  # the next row of tiles starts its window here
            held, first_held = held[:, keep:], first_held + keep
        for _ in stripes:  # the decoder's own check runs once the last stripe is out
            pass
        return out

    def estimate_bits(self, model, image: np.ndarray, point: dict[str, Any]) -> float:
        """The entropy model's estimate of the coded bits (latents rounded), for real/estimated."""
        import tensorflow as tf

        return float(self.function(model, "estimate_bits", point)(tf.constant(image)))

    def analyze(self, model, image: np.ndarray, point: dict[str, Any]) -> np.ndarray | None:
        """The analysis transform's float latent y of one image (drawn by the report)."""
        import tensorflow as tf

        x = tf.cast(tf.constant(image)[None], tf.float32) / 255.0
        return model.analysis_transform(x)[0].numpy()


def unit_normalization_required(normalization, family: str) -> None:
    if normalization.kind != "unit":
        raise ValueError(f"{family} codes [0, 1] pixels: set preprocessing.normalization: unit")
