"""A plain NumPy Memoria for one batch row, written from the specification's per-row rules.

Engrams are Python lists in creation order (oldest first), so position `p`
is the reference's position `p` at batch size 1. Float arithmetic is
float32, as in memoria-pytorch. Ties among long-term memories are broken by
`tie_break`: "newest" (the highest position wins) or a NumPy Generator
(uniform). `coverage` counts the rare branches a randomized test should hit.
"""

import numpy as np

WORKING, SHORTTERM, LONGTERM = 1, 2, 3


class RowMemoria:
    def __init__(self, K, S, D, L0, F, similarity="neg_sq_l2", tie_break="newest"):
        self.K, self.S, self.D, self.L0, self.F = K, S, D, L0, F
        self.similarity = similarity
        self.tie_break = tie_break
        self.data, self.types, self.life, self.age, self.ids = [], [], [], [], []
        self.counts = np.zeros((0, 0), np.int64)
        self.next_id = 0
        self.coverage = dict.fromkeys(
            ["rule_e", "exhausted", "null_kept", "ltm_reminded", "promoted", "deleted", "stm_unselected"], 0
        )

    def __len__(self):
        return len(self.types)

    def _s(self, x, y):
        d = np.sum((np.float32(x) - np.float32(y)) ** 2, dtype=np.float32)
        return np.float32(np.exp(-d)) if self.similarity == "exp_neg_sq_l2" else np.float32(-d)

    def _choose(self, candidates):
        if self.tie_break == "newest":
            return max(candidates)
        return int(self.tie_break.choice(sorted(candidates)))

    def add(self, x):
        for vector in np.asarray(x, np.float32):
            self.data.append(vector.copy())
            self.types.append(WORKING)
            self.life.append(np.float32(self.L0))
            self.age.append(0)
            self.ids.append(self.next_id)
            self.next_id += 1
        m = len(self.types)
        grown = np.zeros((m, m), np.int64)
        k = self.counts.shape[0]
        grown[:k, :k] = self.counts
        self.counts = grown

    def remind(self):
        """Returns (sorted reminded positions, reference width R)."""
        wm = [p for p, t in enumerate(self.types) if t == WORKING]
        stm = [p for p, t in enumerate(self.types) if t == SHORTTERM]
        ltm = [p for p, t in enumerate(self.types) if t == LONGTERM]
        xs = [self.data[p] for p in wm]
        reminded, neg = set(), False
        if stm:
            sigma = {j: np.float32(np.mean([self._s(x, self.data[j]) for x in xs], dtype=np.float32)) for j in stm}
            order = sorted(stm, key=lambda j: -sigma[j])
            selected = order[: min(self.K, len(stm))]
            unselected = len(stm) - len(selected)
            neg = unselected > 0
            self.coverage["stm_unselected"] += neg
            reminded |= set(selected)
            if not ltm:
                if self.F > 0:
                    reminded.add(0)
                    self.coverage["rule_e"] += 1
            else:
                seeds = set()
                for j in selected:
                    best = max(self.counts[j, l] for l in ltm)
                    seeds.add(self._choose([l for l in ltm if self.counts[j, l] == best]))
                for _ in range(unselected):
                    seeds.add(self._choose(ltm))
                visited, walkers, exhausted = set(seeds), set(seeds), False
                for _ in range(self.D):
                    open_ = [l for l in ltm if l not in visited]
                    if not open_:
                        exhausted = True
                        break
                    moved = set()
                    for c in walkers:
                        best = max(self.counts[c, l] for l in open_)
                        moved.add(min(l for l in open_ if self.counts[c, l] == best))
                    visited |= moved
                    walkers = moved
                self.coverage["exhausted"] += exhausted
                tau = {l: np.float32(np.sum([self._s(x, self.data[l]) for x in xs], dtype=np.float32))
                       for l in visited}
                if exhausted:
                    tau[-1] = np.float32(np.sum([self._s(x, np.zeros_like(x)) for x in xs], dtype=np.float32))
                kept = sorted(tau, key=lambda l: -tau[l])[: min(self.F, len(tau))]
                if -1 in kept:
                    neg = True
                    self.coverage["null_kept"] += 1
                final = [l for l in kept if l >= 0]
                self.coverage["ltm_reminded"] += bool(final)
                reminded |= set(final)
        fire = sorted(set(wm) | reminded)
        for p in fire:
            for q in fire:
                self.counts[p, q] += 1
        return sorted(reminded), len(reminded) + int(neg)

    def adjust(self, gains):
        """`gains`: dict position -> lifespan delta (float32-exact values)."""
        for p, g in gains.items():
            self.life[p] = np.float32(self.life[p] + np.float32(g))
        self.life = [np.float32(v - np.float32(1)) for v in self.life]
        self.age = [a + 1 for a in self.age]
        self.types = [SHORTTERM if t == WORKING else t for t in self.types]
        stm = [p for p, t in enumerate(self.types) if t == SHORTTERM]
        excess = max(0, len(stm) - self.S)
        for p in stm[:excess]:
            self.types[p] = LONGTERM
        self.coverage["promoted"] += excess
        keep = [p for p in range(len(self.types)) if self.life[p] > 0]
        self.coverage["deleted"] += len(self.types) - len(keep)
        for name in ("data", "types", "life", "age", "ids"):
            setattr(self, name, [getattr(self, name)[p] for p in keep])
        self.counts = self.counts[np.ix_(keep, keep)]

    def slots(self, capacity, hidden):
        """This row as the port's slot buffers (free slots zero)."""
        n = len(self.types)
        out = {
            "data": np.zeros((capacity, hidden), np.float32),
            "counts": np.zeros((capacity, capacity), np.int64),
            "type": np.zeros(capacity, np.int64),
            "life": np.zeros(capacity, np.float32),
            "age": np.zeros(capacity, np.int64),
            "ids": np.zeros(capacity, np.int64),
            "n": n,
        }
        if n:
            out["data"][:n] = np.stack(self.data)
            out["counts"][:n, :n] = self.counts
            out["type"][:n] = self.types
            out["life"][:n] = self.life
            out["age"][:n] = self.age
            out["ids"][:n] = self.ids
        return out


def dyadic_delta(position, step):
    """A lifespan delta that float32 adds exactly: an integer 0-4 from position and step."""
    return float((3 * position + step) % 5)
