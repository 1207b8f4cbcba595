"""A search that learns and stops early (`+hparams_search=optuna`): Optuna's sampler picks each
trial's configuration, the rung engine of halving.py stops the hopeless ones. The plain
functions behind the search sweeper in hydra_plugins/mnist_hydra_sweeper/.

Hyperband's brackets (Li et al. 2018) over the rungs `min_epochs, min_epochs * eta, ...,
epochs`: bracket k starts its trials at the k-th rung and halves them from there, so the
first bracket stops the most trials after the fewest epochs and the last trains every trial
to `epochs` (a slow starter is still trained in full there). The n_trials trials are split
between the brackets in Hyperband's proportions and asked bracket by bracket, the most
aggressive first, so the trials trained in full are sampled with the most knowledge.

Work goes out in waves (one launch each): every rung whose jobs can run now (the survivors
of any bracket's complete rung) plus new trials, at least n_jobs and enough that no worker
idles while another trains the wave's longest job. Promotion is decided on complete rungs
only, never by the order in which jobs end. After each wave every trial's new epochs are
reported to the Optuna study as intermediate values (read from its metrics.csv), a trial a
rung stopped is told PRUNED, one that reached `epochs` COMPLETE with its best value, one
without a result FAIL: the sampler learns from the cheap results too.

The state (brackets, rungs, waves) is search.json in the sweep folder, the Optuna study a
journal file beside it (optuna-dashboard opens it); `resume=true` with the same sweep folder
relaunches the interrupted wave and every trial whose job failed (their runs continue from
last.pt) and goes on.

Torch-free, as halving.py: the progress callback reads the state in every job process.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from hydra.core.utils import JobReturn

from mnist_hydra import rundir
from mnist_hydra.rundir.files import atomic_write
from mnist_hydra.halving import (
    METRICS, Launch, Position, Rung, Study, close_rung, job_overrides, load_state, next_epochs, open_rung,
    rung_epochs, rung_score, save_state, study_from,
)

log = logging.getLogger(__name__)

STATE_JSON = "search.json"
SWEEP_DIR_ATTR = "sweep_dir"  # a trial's user attribute: its job folder is <sweep_dir>/<trial number>
JOURNAL = "optuna-journal.log"  # the study's default storage: `optuna-dashboard <sweep dir>/optuna-journal.log`
# The sampler with its random state, as Optuna resumes a seeded study: a new sampler of the
# same seed would draw the first trials' values again.
SAMPLER_PICKLE = "sampler.pkl"


# What a resumed search must share with the stored one.
SETTINGS = ("n_trials", "eta", "min_epochs", "epochs", "metric", "pruning", "sampler")


@dataclass
class Wave:
    """One launch: jobs of several brackets' rungs and new trials, run together."""

    jobs: list[list[int]]  # [job, the epoch it trains to], longest first
    started: float
    seconds: Optional[float] = None  # its launch's wall time; None while it runs
    busy: Optional[float] = None  # the seconds its jobs ran, added up (for the workers' idle share)


@dataclass
class Search:
    """search.json: the settings, the brackets (each a halving study over its trials, whose
    job numbers are the trials' numbers and folders) and the waves so far."""

    n_trials: int
    n_jobs: int
    workers: int  # jobs the launcher runs at once
    eta: int
    min_epochs: int
    epochs: int
    metric: str
    pruning: bool
    sampler: dict[str, Any]  # hydra.sweeper.sampler: its target and settings
    brackets: list[Study] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)
    reruns: list[list[int]] = field(default_factory=list)  # [job, Optuna trial]: a failed job run again on resume


def bracket_sizes(n_trials: int, schedule: list[int], eta: int) -> list[int]:
    """Trials per bracket, bracket k starting at schedule[k]: Hyperband's proportions
    ceil((s_max + 1) / (s + 1) * eta**s), s = s_max - k, scaled to n_trials by largest remainder."""
    s_max = len(schedule) - 1
    weights = [math.ceil((s_max + 1) / (s + 1) * eta**s) for s in range(s_max, -1, -1)]
    shares = [n_trials * weight / sum(weights) for weight in weights]
    sizes = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda k: (sizes[k] - shares[k], k))
    for k in by_remainder[: n_trials - sum(sizes)]:
        sizes[k] += 1
    return sizes


def plan_brackets(n_trials: int, eta: int, min_epochs: int, epochs: int, metric: str, pruning: bool) -> list[Study]:
    """The brackets of a search (empty ones left out); without pruning one bracket that
    trains every trial to `epochs`."""
    if not pruning:
        return [Study(eta, epochs, metric, epochs, n_trials)]
    schedule = rung_epochs(min_epochs, eta, epochs)
    return [Study(eta, start, metric, epochs, size)
            for start, size in zip(schedule, bracket_sizes(n_trials, schedule, eta), strict=True) if size]


def schedule_text(brackets: list[Study]) -> str:
    """`bracket 1: 9 x 1 -> 3 x 3 -> 1 x 9; bracket 2: ...` (trials x epochs, when none fails)."""
    return "; ".join(f"bracket {k}: " + " -> ".join(f"{n} x {e}" for e, n in bracket.plan)
                     for k, bracket in enumerate(brackets, 1))


def write_state(sweep_dir: Path, search: Search) -> None:
    save_state(sweep_dir / STATE_JSON, search)


def read_state(sweep_dir: Path) -> Optional[Search]:
    """The sweep folder's search.json, or None (absent or unreadable)."""
    return load_state(sweep_dir / STATE_JSON, lambda data: Search(**{
        **data, "brackets": [study_from(b) for b in data["brackets"]], "waves": [Wave(**w) for w in data["waves"]]}))


def save_sampler(sweep_dir: Path, sampler: Any) -> None:
    data = pickle.dumps(sampler)
    atomic_write(sweep_dir / SAMPLER_PICKLE, lambda tmp: tmp.write_bytes(data))


def load_sampler(sweep_dir: Path) -> Optional[Any]:
    """The sampler a search stored as it last asked, or None (absent or unreadable)."""
    try:
        return pickle.loads((sweep_dir / SAMPLER_PICKLE).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def position(sweep_dir: Path) -> Optional[Position]:
    """The running wave of the search in sweep_dir, for a job's progress line and threads."""
    search = read_state(sweep_dir)
    if search is None or not search.waves:
        return None
    wave = search.waves[-1]
    epochs = sorted({epoch for _, epoch in wave.jobs})
    return Position(f"wave {len(search.waves)} (to epoch {', '.join(map(str, epochs))})",
                    [sweep_dir / str(job) for job, _ in wave.jobs], sum(len(w.jobs) for w in search.waves[:-1]),
                    sum(n for bracket in search.brackets for _, n in bracket.plan), int(wave.started * 1e9))


def idle_share(search: Search) -> Optional[float]:
    """The share of the workers' time in the finished waves that no job used."""
    waves = [w for w in search.waves if w.seconds and w.busy is not None]
    capacity = sum(min(search.workers, len(w.jobs)) * (w.seconds or 0.0) for w in waves)
    return None if not capacity else max(0.0, 1.0 - sum(w.busy or 0.0 for w in waves) / capacity)


# ------------------------------------------------------------------------------ the study


class Sampler:
    """What the search needs of Optuna: new trials' overrides, and telling what happened."""

    def __init__(self, study: Any, space: dict[str, Any], fixed: list[str], metric: str) -> None:
        self.study, self.space, self.fixed, self.metric = study, space, fixed, metric
        self.trial_of: dict[int, int] = {}  # job -> its Optuna trial, where that is not the job's own number

    def ask(self, sweep_dir: Path) -> int:
        """A new trial; its number is its job folder's name in sweep_dir."""
        trial = self.study.ask(fixed_distributions=self.space)
        trial.set_user_attr(SWEEP_DIR_ATTR, str(sweep_dir))
        return int(trial.number)

    def retry(self, job: int, sweep_dir: Path) -> int:
        """A new Optuna trial with the values of the job's failed one, for the job run again in
        its own folder (a failed trial cannot be told anything else); returns its number."""
        self.study.enqueue_trial(self._params(job), skip_if_exists=False)
        self.trial_of[job] = self.ask(sweep_dir)
        return self.trial_of[job]

    def failed(self, job: int) -> bool:
        state = next(t.state for t in self.study.get_trials(deepcopy=False) if t.number == self._number(job))
        return bool(state.name == "FAIL")

    def _number(self, job: int) -> int:
        return self.trial_of.get(job, job)

    def forget_strays(self, search: Search, sweep_dir: Path) -> list[int]:
        """Tell FAIL to this sweep's trials that were asked but never launched (interrupted
        between the two): the search asks others in their place."""
        import optuna

        known = {self._number(job) for job, _, _ in trials(search)}
        strays = [t.number for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                  if t.user_attrs.get(SWEEP_DIR_ATTR) == str(sweep_dir) and t.number not in known]
        for number in strays:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        return strays

    def overrides(self, number: int) -> list[str]:
        """The trial's job: the fixed overrides, then each sampled value as key=value."""
        return [*self.fixed, *self.sampled(number)]

    def sampled(self, number: int) -> list[str]:
        """The trial's sampled values as key=value, exact, in the order of the space."""
        return [f"{key}={_text(value)}" for key, value in self._params(number).items()]

    def shown(self, number: int) -> str:
        """The trial's sampled values for a person: floats to 4 significant digits."""
        return " ".join(f"{key}={short_value(value)}" for key, value in self._params(number).items())

    def _params(self, job: int) -> dict[str, Any]:
        return dict(next(t.params for t in self.study.get_trials(deepcopy=False) if t.number == self._number(job)))

    def settle(self, search: Search, sweep_dir: Path) -> list[str]:
        """Report every running trial's new epochs and tell the finished ones what the rungs
        decided; returns a line per trial told."""
        import optuna

        states = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        lines = []
        for number, bracket, rung in trials(search):
            trial = states.get(self._number(number))
            if trial is None or trial.state.is_finished():
                continue
            job_dir = sweep_dir / str(number)
            history = rundir.read_history(job_dir)
            live = optuna.trial.Trial(self.study, trial._trial_id)
            for row in history:
                step = int(row.get("epoch", 0))
                if step and step not in trial.intermediate_values and math.isfinite(row.get(self.metric, math.nan)):
                    live.report(row[self.metric], step)
            verdict = _verdict(number, bracket, rung, job_dir, self.metric)
            if verdict is None:
                continue
            state, value, reason = verdict
            self.study.tell(trial.number, value, state=getattr(optuna.trial.TrialState, state), skip_if_finished=True)
            lines.append(f"trial {number} {reason}: {self.shown(number)}")
        return lines


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def short_value(value: Any) -> str:
    """A sampled value as tables and progress lines show it: a float to 4 significant digits
    (metrics.json and .hydra/ keep the exact value); text that reads as a float too."""
    if isinstance(value, str):
        try:
            int(value)
            return value
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return value
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trials(search: Search) -> list[tuple[int, Study, Rung]]:
    """Every trial of the search with its bracket and the last rung it is in."""
    last: dict[int, tuple[Study, Rung]] = {}
    for bracket in search.brackets:
        for rung in bracket.rungs:
            for job in rung.jobs:
                last[job] = (bracket, rung)
    return [(number, bracket, rung) for number, (bracket, rung) in last.items()]


def _verdict(number: int, bracket: Study, rung: Rung, job_dir: Path,
             metric: str) -> Optional[tuple[str, Optional[float], str]]:
    """(Optuna state, value, what happened) of a trial whose fate is decided; None while it goes on."""
    result = rundir.recorded_result(job_dir)
    if result is None or not rundir.reached(result, rung.epochs) and result["status"] != rundir.DIVERGED:
        return "FAIL", None, "failed"
    if rung.promoted is None:
        return None
    score = rung_score(job_dir, rung.epochs, metric)
    if rung.epochs == bracket.epochs and score is not None:
        return "COMPLETE", score, f"completed ({metric} {score:.4g})"
    if number in rung.promoted:
        return None
    shown = "diverged" if score is None else f"{metric} {score:.4g}"
    return "PRUNED", None, f"stopped at epoch {rung.epochs} ({shown})"


# ------------------------------------------------------------------------------ the waves


def failed_count(search: Search, sweep_dir: Path) -> int:
    return sum(1 for number, _, _ in trials(search) if rundir.recorded_result(sweep_dir / str(number)) is None)


def close_complete_rungs(search: Search, sweep_dir: Path, stop_asking: bool) -> None:
    """Decide promotion in every bracket whose open rung has ended: all its jobs ran (and, for
    a first rung, all its trials were asked, or no more will be)."""
    for k, bracket in enumerate(search.brackets, 1):
        if not bracket.rungs or bracket.rungs[-1].promoted is not None:
            continue
        rung = bracket.rungs[-1]
        if len(bracket.rungs) == 1 and len(rung.jobs) < bracket.configurations and not stop_asking:
            continue
        scores = close_rung(bracket, sweep_dir)
        if scores:
            log.info("bracket %d rung %d done: %d of %d go on to epoch %s (their best %s up to epoch %d: %s)",
                     k, len(bracket.rungs), len(rung.promoted or []), len(rung.jobs), next_epochs(bracket),
                     search.metric, rung.epochs,
                     ", ".join(f"trial {j} {scores[j]:.4g}" for j in rung.promoted or [] if scores[j] is not None)
                     or "none")


def continuations(search: Search) -> list[tuple[int, int]]:
    """(job, epoch) of the rungs that can start now: the survivors of complete rungs."""
    jobs = []
    for bracket in search.brackets:
        if bracket.rungs and next_epochs(bracket) is not None:
            rung = open_rung(bracket, list(bracket.rungs[-1].promoted or []))
            jobs += [(job, rung.epochs) for job in rung.jobs]
    return jobs


def open_slots(search: Search) -> list[Study]:
    """The bracket of each trial still to be asked, in the order they are asked."""
    return [b for b in search.brackets for _ in range(b.configurations - (len(b.rungs[0].jobs) if b.rungs else 0))]


def new_trial_count(ready: list[int], slots: list[Study], search: Search) -> int:
    """How many new trials join the wave whose other jobs have `ready` epochs to train: n_jobs,
    and more while a worker would otherwise idle beside the wave's longest job."""
    def work(jobs: int) -> tuple[int, int]:
        epochs = ready + [slot.min_epochs for slot in slots[:jobs]]
        return sum(epochs), max(epochs, default=0)

    take = min(search.n_jobs, len(slots))
    while take < len(slots) and search.workers * work(take)[1] > work(take)[0]:
        take += 1
    return take


def run_search(search: Search, sampler: Sampler, sweep_dir: Path, launch: Launch,
               max_failures: float) -> list[Sequence[JobReturn]]:
    """Launch waves until every bracket is over; resumes an interrupted search (its last wave
    had not ended) from search.json. Returns the launches' results."""
    returns = []
    sampler.trial_of.update((job, number) for job, number in search.reruns)
    for number in sampler.forget_strays(search, sweep_dir):
        log.warning("trial %d was asked but never launched (interrupted): told failed", number)
    wave = resumed_wave(search, sampler, sweep_dir)
    if wave is not None:
        log.info("resuming: wave %d, %d job(s)", len(search.waves), len(wave.jobs))
        returns.append(_run_wave(search, wave, sampler, sweep_dir, launch))
    stop_asking = False
    while True:
        failed = failed_count(search, sweep_dir)
        if not stop_asking and failed > max_failures and open_slots(search):
            log.error("%d trial(s) failed, more than max_failure_rate allows: no new trials", failed)
        stop_asking = failed > max_failures
        close_complete_rungs(search, sweep_dir, stop_asking)
        for line in sampler.settle(search, sweep_dir):  # the new epochs, and what the closed rungs decided
            log.info(line)
        work = {job: _remaining(job, sweep_dir) for job in continuations(search)}  # epochs each job trains
        slots = [] if stop_asking else open_slots(search)
        for bracket in slots[: new_trial_count(list(work.values()), slots, search)]:
            number = sampler.ask(sweep_dir)
            if not bracket.rungs:
                open_rung(bracket, [])
            bracket.rungs[0].jobs.append(number)
            work[(number, bracket.min_epochs)] = bracket.min_epochs  # a new trial trains from the start
        jobs = sorted(work, key=lambda job: -work[job])
        if not jobs:
            break
        search.waves.append(Wave([list(job) for job in jobs], time.time()))
        returns.append(_run_wave(search, search.waves[-1], sampler, sweep_dir, launch))
    write_state(sweep_dir, search)
    return returns


def resumed_wave(search: Search, sampler: Sampler, sweep_dir: Path) -> Optional[Wave]:
    """What a resumed search runs first: its interrupted wave (the last, unfinished) and every
    trial whose job failed, run again in its own folder as a new Optuna trial with its values
    (a failed trial cannot be told anything else); None when there is neither."""
    again = [[job, rung.epochs] for job, _, rung in trials(search)
             if rundir.recorded_result(sweep_dir / str(job)) is None and sampler.failed(job)]
    for job, _ in again:
        search.reruns.append([job, sampler.retry(job, sweep_dir)])
        log.info("trial %d failed: run again from its folder, as Optuna trial %d", job, search.reruns[-1][1])
    interrupted = bool(search.waves) and search.waves[-1].seconds is None
    if not (interrupted or again):
        return None
    if not interrupted:
        search.waves.append(Wave([], time.time()))
    wave = search.waves[-1]
    wave.jobs += [job for job in again if job not in wave.jobs]
    return wave


def _remaining(job: tuple[int, int], sweep_dir: Path) -> int:
    """Epochs a job still has to train to reach its rung."""
    result = rundir.recorded_result(sweep_dir / str(job[0]))
    return job[1] - int((result or {}).get("epochs_run") or 0)


def _run_wave(search: Search, wave: Wave, sampler: Sampler, sweep_dir: Path, launch: Launch) -> Sequence[JobReturn]:
    write_state(sweep_dir, search)  # the wave, before it runs: a resume relaunches it
    save_sampler(sweep_dir, sampler.study.sampler)  # as it is after asking the wave's trials
    log.info("wave %d: %s", len(search.waves), ", ".join(f"trial {job} to epoch {epoch}" for job, epoch in wave.jobs))
    started = time.time()
    launched = sum(len(earlier.jobs) for earlier in search.waves[:-1])  # Hydra numbers jobs across launches
    returns = launch([job_overrides(sampler.overrides(job), job, epoch) for job, epoch in wave.jobs], launched)
    wave.seconds = round(time.time() - started, 3)
    wave.busy = round(sum(_job_seconds(sweep_dir / str(job), started) for job, _ in wave.jobs), 3)
    write_state(sweep_dir, search)
    return returns


def _job_seconds(job_dir: Path, since: float) -> float:
    """How long the job ran in this wave: from its .hydra/ (written as it starts) to its
    metrics.json (written as it ends)."""
    try:
        start = (job_dir / ".hydra" / "overrides.yaml").stat().st_mtime
        end = (job_dir / rundir.METRICS_JSON).stat().st_mtime
    except OSError:
        return 0.0
    return max(0.0, end - max(start, since))


def journal_storage(sweep_dir: Path) -> Any:
    """The study's default storage: a journal file in the sweep folder (no database server)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))


def write_results(study: Any, sweep_dir: Path) -> None:
    """optimization_results.yaml, as Hydra's Optuna sweeper writes it: the study's best trial."""
    import yaml

    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return
    best = study.best_trial
    text = yaml.safe_dump({"name": study.study_name, "best_trial": best.number, "best_params": best.params,
                           "best_value": best.value}, sort_keys=False)
    atomic_write(sweep_dir / "optimization_results.yaml", lambda tmp: tmp.write_text(text))


def best_direction(metric: str) -> Literal["maximize", "minimize"]:
    return "maximize" if METRICS[metric] is max else "minimize"


