"""The project's sweepers (Hydra finds sweeper plugins only in the hydra_plugins namespace):
config.py (their configs, registered in Hydra's ConfigStore), halving_sweeper.py
(`hydra/sweeper=halving`) and search_sweeper.py (`hydra/sweeper=search`, which
`+hparams_search=optuna` selects). The studies themselves are plain functions in
mnist_hydra/halving.py (the rung engine) and mnist_hydra/search.py."""
