"""MNIST CNN experiments as Hydra sweeps."""
