"""Speed benchmarks (not tests): `python -m benchmarks [name ...]`; see benchmarks/README.md."""
