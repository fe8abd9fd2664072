"""Dense autoencoder: x -> sigmoid(W_e x + b_e) -> sigmoid(W_d z + b_d).

The MNIST paper's family (784 -> h -> 784). With `block_size` set, the same network codes
an image of any size block by block (like a learned block transform), so it also runs on
photos; with `block_size: null` the whole image is one vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from aecompress.images import ImageSet, blocks_to_image, image_to_blocks, to_uint8, to_unit_float


def vector_shape(params: dict[str, Any], image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Shape (h, w, c) of the pixels that form one input vector."""
    block = params.get("block_size")
    height, width, channels = image_shape
    return (height, width, channels) if block is None else (block, block, channels)


def nominal_ratio(params: dict[str, Any], image_shape: tuple[int, int, int]) -> float:
    """Input values per vector / latent units: the papers' 'compression ratio' (float latent)."""
    return float(np.prod(vector_shape(params, image_shape))) / params["latent_units"]


def build_model(params: dict[str, Any], image_shape: tuple[int, int, int]) -> tf.keras.Model:
    inputs = int(np.prod(vector_shape(params, image_shape)))
    use_bias = params["use_bias"]
    encoder = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(inputs,)),
            tf.keras.layers.Dense(params["latent_units"], activation="sigmoid", use_bias=use_bias),
        ],
        name="encoder",
    )
    decoder = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(params["latent_units"],)),
            tf.keras.layers.Dense(inputs, activation="sigmoid", use_bias=use_bias),
        ],
        name="decoder",
    )
    return tf.keras.Sequential([tf.keras.Input(shape=(inputs,)), encoder, decoder], name="dense_autoencoder")


def training_vectors(images: ImageSet, params: dict[str, Any]) -> np.ndarray:
    """uint8 vectors (N, inputs), one per image or per block of every image.

    Whole images come straight from the (memory-mapped) prepared split without a copy; the
    training pipeline converts each batch to [0, 1] floats as it is drawn.
    """
    block = params.get("block_size")
    if block is None:
        stacked = images.stacked()
        return stacked.reshape(len(stacked), -1)
    vectors = [image_to_blocks(im, block).reshape(-1, block * block * im.shape[2]) for im in images.images]
    return np.concatenate(vectors)


def _decode(model: tf.keras.Model, vectors: np.ndarray, batch_size: int) -> np.ndarray:
    """uint8 input vectors -> uint8 reconstructions of the same shape."""
    decoded = model.predict(to_unit_float(vectors), batch_size=batch_size, verbose=0)
    return to_uint8(decoded)


def reconstruct(model: tf.keras.Model, images: ImageSet, params: dict[str, Any], batch_size: int = 4096):
    """Decoded uint8 images, each cropped back to its original size."""
    block = params.get("block_size")
    if block is None:
        stacked = images.stacked()
        return list(_decode(model, stacked.reshape(len(stacked), -1), batch_size).reshape(stacked.shape))
    out = []
    for image in images.images:
        blocks = image_to_blocks(image, block)
        decoded = _decode(model, blocks.reshape(len(blocks), -1), batch_size).reshape(blocks.shape)
        out.append(blocks_to_image(decoded, *image.shape[:2]))
    return out
