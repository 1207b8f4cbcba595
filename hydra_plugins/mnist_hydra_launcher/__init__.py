"""The project's submitit launchers (a Hydra plugin: Hydra instantiates launchers only from
the hydra_plugins namespace). What they change is in mnist_hydra/launchers.py."""
try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # the `cluster` extra is not installed: no submitit launchers at all
    submitit_launcher = None

if submitit_launcher is not None:
    from mnist_hydra.launchers import RecordingLaunch

    class SlurmLauncher(RecordingLaunch, submitit_launcher.SlurmLauncher):
        """hydra/launcher=submitit_slurm, but a job killed without warning fails alone."""

    class LocalLauncher(RecordingLaunch, submitit_launcher.LocalLauncher):
        """hydra/launcher=submitit_local, but a job killed without warning fails alone."""
