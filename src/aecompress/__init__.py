"""aecompress: train, evaluate and compare autoencoders for lossy image compression.

Importing the package is cheap on purpose: Snakemake imports `aecompress.config` and
`aecompress.plan` while it builds the DAG, and TensorFlow must not be loaded then.
"""

__version__ = "0.1.0"
