"""Dense autoencoder: x -> sigmoid(W_e x + b_e) -> act(W_d z + b_d), act from the normalization.

The MNIST paper's family (784 -> h -> 784). With `block_size` set, the same network codes
an image of any size block by block (like a learned block transform), so it also runs on
photos; with `block_size: null` the whole image is one vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aecompress.images import ImageSet, blocks_to_image, image_to_blocks
from aecompress.models.family import LatentFamily, params_from_yaml
from aecompress.preprocessing import Normalization


def vector_shape(params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Shape (h, w, c) of the pixels that form one input vector."""
    block = params.get("block_size")
    height, width, channels = image_shape
    return (height, width, channels) if block is None else (block, block, channels)


def _decode(model, pixels: np.ndarray, normalization: Normalization, batch_size: int):
    """uint8 inputs -> uint8 reconstructions of the same shape."""
    return normalization.inverse(
        model.predict(normalization.forward(pixels), batch_size=batch_size, verbose=0)
    )


class Dense(LatentFamily):
    name = "dense"
    description = "Dense autoencoder: inputs -> h sigmoid units -> inputs (the MNIST paper's family)."
    params_schema = params_from_yaml("""
        latent_units:
          type: integer
          minimum: 1
          default: 32
          description: Hidden units h; the nominal compression ratio is (inputs per vector) / h.
        use_bias:
          type: boolean
          default: true
          description: Trainable bias in the encoder and decoder layers (the MNIST paper's RQ2).
        initializer:
          enum: [glorot_uniform, he_uniform, he_normal, lecun_uniform]
          default: glorot_uniform
          description: >
            Initial weights of both layers (Keras initializer; glorot_uniform is Keras's default).
            With sigmoid units and the MSE, small latents under glorot_uniform can collapse to the
            mean image: its small decoder weights leave the latent no say over the output.
            he_uniform (larger decoder weights) avoids that on MNIST (README, "Reproducing the
            papers"); the paper does not state its initialisation.
        block_size:
          type: [integer, "null"]
          minimum: 2
          default: null
          description: >
            null: each image is one input vector (all images must share one size). B: images are
            cut into BxB blocks after edge-replication padding to a multiple of B, and cropped
            back after decoding, so any image size works.
    """)

    def check(self, params: dict[str, Any], preprocessing: dict[str, Any], source) -> list[str]:
        problems = []
        if params.get("block_size") is None and source.fixed_size is False:
            problems.append(
                f"block_size: null makes each whole image one input vector, but source "
                f"'{source.name}' has images of different sizes; set block_size (e.g. 8)"
            )
        for key in ("padding", "patches"):
            if preprocessing.get(key) is not None:
                problems.append(
                    f"preprocessing.{key}: not used by the dense family, which codes whole images or "
                    "block_size blocks (edge-padded to a multiple of the block)"
                )
        return problems

    def latent_shape(self, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """Latent units per vector (per block when block_size is set)."""
        return (params["latent_units"],)

    def nominal_ratio(self, params: dict[str, Any], image_shape: tuple[int, int, int]) -> float:
        """Input values per vector / latent units: the papers' 'compression ratio' (float latent)."""
        return float(np.prod(vector_shape(params, image_shape))) / params["latent_units"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        """(h, w, c) pixels, normalized -> flatten -> h sigmoid units -> (h, w, c), same scale."""
        import tensorflow as tf

        shape = vector_shape(params, image_shape)
        inputs = int(np.prod(shape))
        use_bias = params["use_bias"]
        initializer = params.get("initializer", "glorot_uniform")
        encoder = tf.keras.Sequential(
            [
                tf.keras.Input(shape=shape),
                tf.keras.layers.Flatten(),
                tf.keras.layers.Dense(
                    params["latent_units"],
                    activation="sigmoid",
                    use_bias=use_bias,
                    kernel_initializer=initializer,
                ),
            ],
            name="encoder",
        )
        decoder = tf.keras.Sequential(
            [
                tf.keras.Input(shape=(params["latent_units"],)),
                tf.keras.layers.Dense(
                    inputs,
                    activation=normalization.output_activation,
                    use_bias=use_bias,
                    kernel_initializer=initializer,
                ),
                tf.keras.layers.Reshape(shape),
            ],
            name="decoder",
        )
        return tf.keras.Sequential([tf.keras.Input(shape=shape), encoder, decoder], name="dense_autoencoder")

    def training_pixels(self, images: ImageSet, params: dict[str, Any]) -> np.ndarray:
        """uint8 (N, h, w, c): one entry per image, or per block of every image.

        Whole images come straight from the (memory-mapped) prepared split without a copy; the
        training pipeline normalizes each batch as it is drawn.
        """
        block = params.get("block_size")
        if block is None:
            return images.stacked()
        return np.concatenate([image_to_blocks(im, block) for im in images.images])

    def reconstruct(self, model, images: ImageSet, params, normalization, batch_size: int = 4096):
        """Decoded uint8 images, each cropped back to its original size."""
        block = params.get("block_size")
        if block is None:
            return list(_decode(model, images.stacked(), normalization, batch_size))
        out = []
        for image in images.images:
            decoded = _decode(model, image_to_blocks(image, block), normalization, batch_size)
            out.append(blocks_to_image(decoded, *image.shape[:2]))
        return out

    def encode_latents(self, model, images: np.ndarray, params, normalization) -> np.ndarray:
        """uint8 (N, H, W, C) of one size -> sigmoid latents (N, units), or (N, blocks, units).

        Direct calls, not `predict`: a codec codes one image at a time, and predict's per-call
        overhead would dominate.
        """
        encoder = model.get_layer("encoder")
        block = params.get("block_size")
        if block is None:
            return encoder(normalization.forward(images), training=False).numpy()
        vectors = np.concatenate([image_to_blocks(image, block) for image in images])
        latents = encoder(normalization.forward(vectors), training=False).numpy()
        return latents.reshape(len(images), -1, latents.shape[-1])

    def decode_latents(self, model, latents: np.ndarray, image_shape, params, normalization) -> np.ndarray:
        """Latents from encode_latents -> uint8 images (N, H, W, C)."""
        decoder = model.get_layer("decoder")
        block = params.get("block_size")
        if block is None:
            return normalization.inverse(decoder(latents, training=False).numpy())
        decoded = decoder(latents.reshape(-1, latents.shape[-1]), training=False).numpy()
        blocks = normalization.inverse(decoded).reshape(len(latents), -1, *decoded.shape[1:])
        return np.stack([blocks_to_image(b, *image_shape[:2]) for b in blocks])

    def coded_shape(self, model, params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple:
        """(units,) for a whole-image model, (blocks, units) for a block model."""
        vector = tuple(model.input_shape[1:])
        block = params.get("block_size")
        expected = tuple(image_shape) if block is None else (block, block, image_shape[2])
        if vector != expected:
            raise ValueError(
                f"this model codes {vector} inputs, not {expected} (from an image of {image_shape})"
            )
        if block is None:
            return (params["latent_units"],)
        blocks = -(-image_shape[0] // block) * -(-image_shape[1] // block)
        return blocks, params["latent_units"]


FAMILY = Dense()
