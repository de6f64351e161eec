"""HistoryManager: the status summaries of one memory row over time."""

from keras_engram.src.memoria.engram_history import EngramHistory
from keras_engram.src.memoria.firing import Firing


class HistoryManager:
    """Keeps one row's `EngramsInfo` after every adjustment and tracks each engram's life.

    `Memoria(keep_history=True).history` holds one per row. Summary `t`
    (counting from 0) creates the engrams it holds that were not alive in
    summary `t - 1`, deletes those alive in `t - 1` that it lacks, and records
    a `Firing` for an engram whose fire count grew.

    Attributes:
        summaries: list of `EngramsInfo`.
        engram_creation_times, engram_deletion_times, engram_durations: dict
            id -> int.
        engram_firing_times: dict id -> list of int.
        engram_firings: dict id -> list of `Firing`.
        alive_engram_ids, deleted_engram_ids: list of int.

    Example:

    >>> from keras_engram.memoria import EngramsInfo, HistoryManager
    >>> history = HistoryManager()
    >>> history.add_summary(EngramsInfo({}, {}, (), (), ()))
    >>> history.timestep
    1
    """

    def __init__(self):
        self.summaries = []
        self.engram_creation_times = {}
        self.engram_deletion_times = {}
        self.engram_durations = {}
        self.engram_firing_times = {}
        self.engram_firings = {}
        self.alive_engram_ids = []
        self.deleted_engram_ids = []

    def __len__(self):
        return len(self.summaries)

    def __getitem__(self, index):
        return self.summaries[index]

    @property
    def timestep(self):
        """The number of summaries."""
        return len(self.summaries)

    @property
    def engram_ids(self):
        """Every id seen, in creation order."""
        return list(self.engram_creation_times)

    @property
    def engram_fire_counts(self):
        """dict id -> number of recorded firings (ids that fired at least once)."""
        return {key: len(value) for key, value in self.engram_firings.items() if value}

    @property
    def engram_lastest_alive_timestep(self):
        """dict id -> the last summary that holds it (memoria-pytorch's spelling)."""
        return {
            key: self.engram_creation_times[key] + self.engram_durations[key] - 1
            for key in self.engram_creation_times
        }

    @property
    def latest_engram_infos(self):
        """dict id -> its `EngramInfo` in the last summary that holds it."""
        latest = {}
        for summary in self.summaries:
            latest.update(summary.engrams)
        return latest

    def add_summary(self, summary):
        """Appends `summary` (an `EngramsInfo`) as the next timestep."""
        t = self.timestep
        previous = self.summaries[-1].engrams if self.summaries else {}
        alive = set(self.alive_engram_ids)
        for engram_id, info in summary.engrams.items():
            if engram_id not in alive:
                self.engram_creation_times[engram_id] = t
            elif engram_id in previous and info.fire_count > previous[engram_id].fire_count:
                gain = info.lifespan - previous[engram_id].lifespan + 1.0
                self.engram_firing_times.setdefault(engram_id, []).append(t)
                self.engram_firings.setdefault(engram_id, []).append(Firing(t, engram_id, gain))
        for engram_id in self.alive_engram_ids:
            if engram_id not in summary.engrams:
                self.engram_deletion_times[engram_id] = t
                self.deleted_engram_ids.append(engram_id)
        self.alive_engram_ids = list(summary.engrams)
        for engram_id in self.alive_engram_ids:
            self.engram_durations[engram_id] = t - self.engram_creation_times[engram_id] + 1
        self.summaries.append(summary)

    def inspect(self, engram_id):
        """The `EngramHistory` of `engram_id`."""
        created = self.engram_creation_times[engram_id]
        deleted = self.engram_deletion_times.get(engram_id)
        return EngramHistory(
            engram_id, created, deleted, self.engram_durations.get(engram_id),
            list(self.engram_firing_times.get(engram_id, [])),
            list(self.engram_firings.get(engram_id, [])),
            self.summaries[created:deleted],
        )
